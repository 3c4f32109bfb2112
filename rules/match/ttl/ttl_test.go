package ttl_test

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

// hops is a UDP datagram with TTL ttl.
func hops(ttl uint8) *packet.Packet {
	b := make([]byte, header.IPv4MinSize+header.UDPSize)
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: ttl, Protocol: header.ProtoUDP,
		Src: [4]byte{10, 1, 1, 1}, Dst: [4]byte{192, 0, 2, 7}})
	header.UDP(b[header.IPv4MinSize:]).Encode(40000, 33434, header.UDPSize)
	p := packet.New(b)
	p.Parsed.Decode(p.Data)
	return p
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		keys string
		ttl  uint8
		want bool
	}{
		{"eq", `ttl = { eq = 1 }`, 1, true},
		{"eq miss", `ttl = { eq = 1 }`, 2, false},
		{"ne", `ttl = { ne = 64 }`, 63, true},
		{"ne miss", `ttl = { ne = 64 }`, 64, false},
		{"lt", `ttl = { lt = 10 }`, 9, true},
		{"lt edge", `ttl = { lt = 10 }`, 10, false},
		{"gt", `ttl = { gt = 128 }`, 129, true},
		{"gt edge", `ttl = { gt = 128 }`, 128, false},
		{"zero", `ttl = { eq = 0 }`, 0, true},
		{"largest", `ttl = { gt = 254 }`, 255, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			if got := matched(rs, c, hops(tc.ttl)); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating a ttl rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	low, high := hops(1), hops(64)
	for _, keys := range []string{`ttl = { lt = 2 }`, `ttl = { ne = 64 }`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, low)
			matched(rs, c, high)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `ttl = { lt = 2 }`)
	pkt := hops(1)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
