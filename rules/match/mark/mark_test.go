package mark_test

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

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		keys string
		mark uint32
		want bool
	}{
		{"exact", `mark = 5`, 5, true},
		{"exact miss", `mark = 5`, 4, false},
		{"exact needs every bit", `mark = 5`, 0x105, false},
		{"zero", `mark = 0`, 0, true},
		{"zero miss", `mark = 0`, 1, false},
		{"mask", `mark = "0x1/0xff"`, 0x701, true},
		{"mask miss", `mark = "0x1/0xff"`, 0x702, false},
		{"one bit", `mark = "0x4/0x4"`, 0xffff, true},
		{"one bit clear", `mark = "0x0/0x4"`, 0xfffb, true},
		{"one bit clear miss", `mark = "0x0/0x4"`, 0x4, false},
		{"negated", `mark = "!0x1"`, 1, false},
		{"negated miss", `mark = "!0x1"`, 0, true},
		{"negated mask", `mark = "!0x0/0xf0"`, 0x10, true},
		{"all ones", `mark = 4294967295`, 0xffffffff, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
			pkt.Mark = tc.mark
			if got := matched(rs, c, pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating a mark rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	for _, keys := range []string{`mark = "0x1/0xff"`, `mark = "!7"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			pkt.Mark = 1
			matched(rs, c, pkt)
			pkt.Mark = 7
			matched(rs, c, pkt)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `mark = "0x1/0xff"`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	pkt.Mark = 0x101
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
