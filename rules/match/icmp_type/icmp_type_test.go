package icmp_type_test

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
	msg := func(typ, code uint8) *packet.Packet { return icmp("10.1.1.1", "192.0.2.7", typ, code) }
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"name", `icmp_type = "echo-request"`, msg(8, 0), true},
		{"name other type", `icmp_type = "echo-request"`, msg(0, 0), false},
		{"any code", `icmp_type = "destination-unreachable"`, msg(3, 13), true},
		{"code", `icmp_type = "port-unreachable"`, msg(3, 3), true},
		{"code miss", `icmp_type = "port-unreachable"`, msg(3, 1), false},
		{"type/code", `icmp_type = "3/4"`, msg(3, 4), true},
		{"type/code miss", `icmp_type = "3/4"`, msg(3, 3), false},
		{"number", `icmp_type = 11`, msg(11, 1), true},
		{"any", `icmp_type = "any"`, msg(42, 7), true},
		{"list", `icmp_type = ["echo-reply", "time-exceeded"]`, msg(11, 0), true},
		{"list miss", `icmp_type = ["echo-reply", "time-exceeded"]`, msg(8, 0), false},
		{"negated", `icmp_type = "!redirect"`, msg(5, 1), false},
		{"negated miss", `icmp_type = "!redirect"`, msg(8, 0), true},
		{"not icmp", `icmp_type = "any"`, udp("10.1.1.1", 40000, "192.0.2.7", 53), false},
		{"negated not icmp", `icmp_type = "!redirect"`, udp("10.1.1.1", 40000, "192.0.2.7", 53), false},
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

// TestNoAllocs: evaluating an icmp_type rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	echo := icmp("10.1.1.1", "192.0.2.7", header.ICMPEcho, 0)
	unreach := icmp("10.1.1.1", "192.0.2.7", 3, 3)
	for _, keys := range []string{`icmp_type = ["echo-reply", "fragmentation-needed"]`, `icmp_type = "!8"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, echo)
			matched(rs, c, unreach)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `icmp_type = ["echo-reply", "destination-unreachable", "time-exceeded"]`)
	pkt := icmp("10.1.1.1", "192.0.2.7", 11, 0)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
