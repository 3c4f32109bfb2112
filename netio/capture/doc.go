// Package capture is the offline device: it reads pcap and pcapng captures
// (Ethernet with 802.1Q tags, raw IPv4, Linux cooked, BSD loopback) into
// IPv4 datagrams with their timestamps and interface names, and writes
// pcapng with one interface block per configured interface, each packet as
// raw IPv4 on its egress interface. `fwd replay` drives it; capture
// timestamps become the pipeline clock. Reading uses gopacket's pcapgo (not
// the hot path: replay is for correctness, not speed).
package capture
