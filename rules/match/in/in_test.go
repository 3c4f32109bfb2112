package in_test

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

// Interface indexes of tail.
const (
	lan0 = 0
	wan0 = 1
	wan1 = 2
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		keys string
		in   int16
		want bool
	}{
		{"name", `in = "lan0"`, lan0, true},
		{"other", `in = "lan0"`, wan0, false},
		{"no input interface", `in = "lan0"`, packet.NoIf, false},
		{"wildcard first", `in = "wan+"`, wan0, true},
		{"wildcard second", `in = "wan+"`, wan1, true},
		{"wildcard miss", `in = "wan+"`, lan0, false},
		{"list", `in = ["lan0", "wan1"]`, wan1, true},
		{"list miss", `in = ["lan0", "wan1"]`, wan0, false},
		{"negated", `in = "!wan0"`, wan0, false},
		{"negated miss", `in = "!wan0"`, lan0, true},
		{"negated no input interface", `in = "!wan+"`, packet.NoIf, true},
		{"index out of range", `in = "lan0"`, 64, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
			pkt.InIf = tc.in
			pkt.OutIf = wan0
			if got := matched(rs, c, pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating an in rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	for _, keys := range []string{`in = "lan0"`, `in = "!wan+"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			pkt.InIf = lan0
			matched(rs, c, pkt)
			pkt.InIf = wan1
			matched(rs, c, pkt)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `in = "wan+"`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	pkt.InIf = wan1
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
