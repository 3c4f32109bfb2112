package proto_test

import (
	"net/netip"
	"testing"

	"fwd/header"
	"fwd/packet"
	"fwd/rules"
)

// datagram builds and decodes an IPv4 datagram from src to dst carrying
// the transport header l4 as protocol proto.
func datagram(src, dst string, proto uint8, l4 []byte) *packet.Packet {
	b := make([]byte, header.IPv4MinSize+len(l4))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: proto,
		Src: netip.MustParseAddr(src).As4(), Dst: netip.MustParseAddr(dst).As4(),
	})
	copy(b[header.IPv4MinSize:], l4)
	p := packet.New(b)
	p.Parsed.Decode(p.Data)
	return p
}

// tcp is a TCP segment with flags from src:sport to dst:dport.
func tcp(src string, sport uint16, dst string, dport uint16, flags uint8) *packet.Packet {
	l4 := make([]byte, header.TCPMinSize)
	header.TCP(l4).Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Flags: flags, Window: 64240})
	return datagram(src, dst, header.ProtoTCP, l4)
}

// udp is an empty UDP datagram from src:sport to dst:dport.
func udp(src string, sport uint16, dst string, dport uint16) *packet.Packet {
	l4 := make([]byte, header.UDPSize)
	header.UDP(l4).Encode(sport, dport, header.UDPSize)
	return datagram(src, dst, header.ProtoUDP, l4)
}

// icmp is an ICMP message of type and code from src to dst.
func icmp(src, dst string, typ, code uint8) *packet.Packet {
	l4 := make([]byte, header.ICMPv4Size)
	header.ICMPv4(l4).Encode(typ, code, 0x12340001)
	return datagram(src, dst, header.ProtoICMP, l4)
}

// chain compiles a filter forward chain with policy drop holding one rule
// (keys, action accept): the verdict Accept means the rule matched.
func chain(t testing.TB, keys string) (*rules.Ruleset, *rules.Chain) {
	t.Helper()
	rs, err := compile("[filter.forward]\npolicy = \"drop\"\n\n[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail)
	if err != nil {
		t.Fatal(err)
	}
	return rs, rs.Builtin(rules.TableFilter, packet.Forward)
}

// matched evaluates pkt through the one-rule chain of chain.
func matched(rs *rules.Ruleset, c *rules.Chain, pkt *packet.Packet) bool {
	v, _ := rs.Eval(c, pkt, nil)
	return v == rules.Accept
}

func TestMatch(t *testing.T) {
	syn := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	dns := udp("10.1.1.1", 5353, "192.0.2.7", 53)
	ping := icmp("10.1.1.1", "192.0.2.7", header.ICMPEcho, 0)
	gre := datagram("10.1.1.1", "192.0.2.7", 47, make([]byte, 8))
	// A non-first fragment of a TCP datagram: no transport header, but
	// the protocol field is there.
	frag := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	header.IPv4(frag.Data).Encode(&header.IPv4Fields{TotalLength: uint16(len(frag.Data)), Flags: 185, TTL: 64,
		Protocol: header.ProtoTCP, Src: frag.Parsed.Src, Dst: frag.Parsed.Dst})
	frag.Parsed.Decode(frag.Data)
	// A TCP header with a data offset of 4 bytes: malformed, Proto Unknown.
	bad := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	bad.Data[header.IPv4MinSize+12] = 0x10
	bad.Parsed.Decode(bad.Data)
	if frag.Parsed.Proto != packet.Fragment || bad.Parsed.Proto != packet.Unknown {
		t.Fatalf("fixtures: fragment decodes as %s, bad as %s", frag.Parsed.Proto, bad.Parsed.Proto)
	}
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"tcp", `proto = "tcp"`, syn, true},
		{"tcp on udp", `proto = "tcp"`, dns, false},
		{"udp number", `proto = 17`, dns, true},
		{"icmp", `proto = "icmp"`, ping, true},
		{"icmp on tcp", `proto = "icmp"`, syn, false},
		{"gre", `proto = "gre"`, gre, true},
		{"list", `proto = ["tcp", "udp"]`, dns, true},
		{"list miss", `proto = ["tcp", "udp"]`, ping, false},
		{"negated", `proto = "!tcp"`, syn, false},
		{"negated other", `proto = "!tcp"`, gre, true},
		{"negated list", `proto = "!tcp,udp"`, ping, true},
		{"all", `proto = "all"`, gre, true},
		{"zero is all", `proto = 0`, ping, true},
		{"zero is all, tcp too", `proto = "0"`, syn, true},
		{"negated zero is nothing", `proto = "!0"`, gre, false},
		{"fragment has a protocol", `proto = "tcp"`, frag, true},
		{"fragment not udp", `proto = "udp"`, frag, false},
		{"malformed matches no protocol", `proto = "all"`, bad, false},
		{"malformed matches a negation", `proto = "!udp"`, bad, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			if got := matched(rs, c, tc.pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating a proto rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	hit := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	miss := udp("10.1.1.1", 5353, "192.0.2.7", 53)
	for _, keys := range []string{`proto = "tcp"`, `proto = "!tcp,icmp"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, hit)
			matched(rs, c, miss)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `proto = ["udp", "tcp"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
