package conntrack

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"fwd/packet"
)

// external returns the path of a capture in ../../shared/testdata-external
// (beside the repository). It fails the test when the file is missing.
func external(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "testdata-external", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("capture %s missing: %v", rel, err)
	}
	return p
}

// replayed is one packet of a replayed capture and what conntrack said.
type replayed struct {
	pkt   *packet.Packet
	state packet.CTState
	entry Entry // the connection after the packet (zero when none)
	ok    bool
	line  string
}

// replay runs a capture through conntrack and confirm, the clock set from
// the capture timestamps.
func replay(t *testing.T, tab *Table, path string) []replayed {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	clk := tab.clock.(interface{ Set(int64) })
	var out []replayed
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch r.LinkType() {
		case layers.LinkTypeEthernet:
			if len(data) < 14 {
				continue
			}
			et := uint16(data[12])<<8 | uint16(data[13])
			data = data[14:]
			if et == 0x8100 && len(data) >= 4 {
				et = uint16(data[2])<<8 | uint16(data[3])
				data = data[4:]
			}
			if et != 0x0800 {
				continue
			}
		case layers.LinkTypeRaw, layers.LinkType(228):
		default:
			t.Fatalf("link type %v", r.LinkType())
		}
		clk.Set(ci.Timestamp.UnixNano())
		pkt := packet.New(data)
		n := pkt.Parsed.Decode(pkt.Data)
		if n == 0 {
			out = append(out, replayed{pkt: pkt, line: "undecodable"})
			continue
		}
		pkt.Data = pkt.Data[:n]
		pkt.Trace = true
		run(tab, pkt)
		rp := replayed{pkt: pkt, state: pkt.CTState}
		if tu, ok := TupleOf(&pkt.Parsed); ok {
			rp.entry, _, rp.ok = tab.Lookup(tu)
		}
		p := &pkt.Parsed
		rp.line = fmt.Sprintf("%v:%d > %v:%d %s seq=%d ack=%d len=%d -> %v %s [%s] %s",
			pkt.Src(), p.SrcPort, pkt.Dst(), p.DstPort, flagString(p.TCPFlags), p.Seq, p.Ack, p.PayloadN,
			pkt.CTState, rp.entry.State, strings.Join(StatusNames(rp.entry.Status), ","), pkt.Note)
		out = append(out, rp)
	}
	if testing.Verbose() {
		for i, rp := range out {
			t.Logf("%2d %s", i+1, rp.line)
		}
	}
	return out
}

func flagString(f uint8) string {
	var b []byte
	for i, c := range "FSRPAUEC" {
		if f&(1<<i) != 0 {
			b = append(b, byte(c))
		}
	}
	return string(b)
}

func newReplayTable(t *testing.T, mod func(*Config)) *Table {
	tab, _ := newTestTable(t, mod)
	tab.clock.(interface{ Set(int64) }).Set(0)
	return tab
}

// TestCaptures replays other projects' captures and checks what
// conntrack said of every packet (N new, E established, R related, I
// invalid) and the final entry.
func TestCaptures(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		noLoose bool
		states  string
		final   TCPState // of the first packet's connection; NONE: no entry
		status  packet.CTStatus
		entries int
	}{
		// A forged RST-ACK and FIN-ACK with timestamps echoing nothing
		// the client sent; the client answers the FIN with a RST and
		// stays in SYN-SENT; the real SYN-ACK follows. The forged RST
		// must not kill the entry (Linux's conntrack does), and the HTTP
		// exchange must be tracked from its SYN.
		{"suricata bug-3286 linux evasion", "suricata-verify/bug-3286-02-linux-evasion/with_evasion_linux.pcap", true,
			"N I I N E E E E E E", TCPEstablished, packet.CTStatusAssured, 1},
		{"suricata split handshake 4-way", "suricata-verify/tcp-split-handshake-01-4whs/split-handshake-4whs.pcap", false,
			"N E E E E E E", TCPClose, packet.CTStatusAssured, 1},
		{"suricata split handshake 5-way", "suricata-verify/tcp-split-handshake-02-5whs/split-handshake-5whs.pcap", false,
			"N E E E E E E E", TCPClose, packet.CTStatusAssured, 1},
		{"suricata rst with data", "suricata-verify/bug-6244-tcp-rst-with-data/tcp-rst-with-data.pcap", false,
			"N E E E E E E E", TCPClose, packet.CTStatusAssured, 1},
		{"suricata single syn", "suricata-verify/bug-6733-syn-packet-flow-output/input.pcap", false,
			"N", TCPSynSent, 0, 1},
		// An injected RST-ACK whose ack is the ISN, not ISN+1: the client
		// drops it, so must we.
		{"zeek rst injected after syn", "zeek/traces/tcp/rst-inject-rae.pcap", false,
			"N I E E E E E E E", TCPClose, packet.CTStatusAssured, 1},
		{"zeek fin without ack", "zeek/traces/tcp/fin_retransmission.pcap", false,
			"N I E E E", TCPClose, packet.CTStatusSeenReply, 1},
		{"zeek syn then stuff then rst", "zeek/traces/tcp/syn-then-stuff-then-rst.pcap", false,
			"N E I E", TCPClose, packet.CTStatusSeenReply, 1},
		{"zeek mid-stream pickup", "zeek/traces/tcp/no-handshake.pcap", false,
			"N", TCPEstablished, 0, 1},
		{"zeek mid-stream with tcp_loose off", "zeek/traces/tcp/no-handshake.pcap", true,
			"I", TCPNone, 0, 0},
		// SYN-ACK captured before the SYN: the SYN-ACK cannot create an
		// entry, and the client's ACKs in SYN_SENT are invalid while the
		// server's are ignored (Linux's table does the same).
		{"zeek handshake reordered", "zeek/traces/tcp/handshake-reorder.pcap", true,
			"I N I I E E E E E I I I I I", TCPSynSent, packet.CTStatusSeenReply, 1},
		{"zeek window scale 255", "zeek/traces/tcp/window-scale-range.pcap", false,
			"N E E E E", TCPEstablished, packet.CTStatusAssured, 1},
		{"zeek ping", "zeek/traces/icmp/icmp-ping.pcap", false, "N E E E", TCPNone, packet.CTStatusSeenReply, 1},
		{"zeek orphan port unreachable", "zeek/traces/icmp/icmp-destunreach-udp.pcap", false, "I", TCPNone, 0, 0},
		{"zeek orphan time exceeded", "zeek/traces/icmp/icmp-timeexceeded.pcap", false, "I", TCPNone, 0, 0},
		{"tcpdump rst with data first", "tcpdump/tcp_rst_data.pcap", false, "I", TCPNone, 0, 0},
	}
	letter := map[packet.CTState]string{packet.CTNew: "N", packet.CTEstablished: "E", packet.CTRelated: "R", packet.CTInvalid: "I"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newReplayTable(t, func(c *Config) { c.TCPLoose = !tc.noLoose })
			out := replay(t, tab, external(t, tc.file))
			var got []string
			for _, rp := range out {
				got = append(got, letter[rp.state])
			}
			if g := strings.Join(got, " "); g != tc.states {
				for i, rp := range out {
					t.Logf("%2d %s", i+1, rp.line)
				}
				t.Fatalf("states %q, want %q", g, tc.states)
			}
			if n := tab.Count(); n != tc.entries {
				t.Fatalf("%d entries, want %d", n, tc.entries)
			}
			if tc.entries == 0 {
				return
			}
			first := out[0].pkt
			if first.CTState == packet.CTInvalid {
				first = out[1].pkt
			}
			tu, _ := TupleOf(&first.Parsed)
			e, _, ok := tab.Lookup(tu)
			if !ok {
				t.Fatal("no entry for the first packet")
			}
			if e.State != tc.final || e.Status&tc.status != tc.status {
				t.Fatalf("final %v %v, want %v %v", e.State, StatusNames(e.Status), tc.final, StatusNames(tc.status))
			}
		})
	}
}

// TestCaptureDump prints the captures named in $CT_DUMP packet by packet
// (with -v): a tool for writing the table above.
func TestCaptureDump(t *testing.T) {
	for _, f := range strings.Fields(os.Getenv("CT_DUMP")) {
		replay(t, newReplayTable(t, nil), external(t, f))
	}
}
