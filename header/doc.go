// Package header provides wire-format views over byte slices for Ethernet
// (with 802.1Q/802.1ad VLAN tags), ARP, IPv4, TCP, UDP and ICMPv4 (gVisor's
// pkg/tcpip/header style), builders for the packets fwd makes (ARP requests,
// replies and announcements here; ICMP errors, echo replies and TCP resets
// in build.go), and checksums: full (RFC 1071) and incremental (RFC 1624).
//
// Place in the flow: devices and the parse stage validate with these views
// (Ethernet, ARP and IPv4 Validate, then packet.Parsed.Decode for the
// transport); conntrack, NAT and icmperr read and rewrite fields through
// them; the router answers ARP with the builders.
//
// Views do not copy and do not allocate; builders write into a buffer the
// caller owns and return the length written (0 when it is too short).
// Validate runs once in the parse stage; after it accessors do not
// bounds-check (each type says so in a "Precondition:" line). Setters named
// ...WithChecksumUpdate keep the checksums right by incremental update, as
// NAT needs. Nothing here starts goroutines or keeps state.
//
// Checksums are summed over little-endian 64-bit words with end-around
// carry (RFC 1071 §2 (B): byte order does not matter); an IPv4 header is
// verified by testing its 32-bit word sum for divisibility by 0xffff.
// Differential tests compare every view with gopacket and every incremental
// update with a full recomputation.
//
// RFCs: 791 (IPv4), 792 (ICMP), 768 (UDP), 9293 (TCP), 7323 (window scale,
// timestamps), 2018 (SACK), 826 (ARP), 5227 (ARP announcements), 1071 and
// 1624 (checksums), 1812 (router requirements); IEEE 802.1Q and 802.1ad.
package header
