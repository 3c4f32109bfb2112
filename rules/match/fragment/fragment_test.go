package fragment_test

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

// frag is a UDP datagram with the IP flags/offset word set to fo (the
// offset in 8-byte units, ORed with IPv4FlagMF or IPv4FlagDF).
func frag(fo uint16) *packet.Packet {
	p := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	header.IPv4(p.Data).Encode(&header.IPv4Fields{TotalLength: uint16(len(p.Data)), ID: 7, Flags: fo, TTL: 64,
		Protocol: header.ProtoUDP, Src: p.Parsed.Src, Dst: p.Parsed.Dst})
	p.Parsed.Decode(p.Data)
	return p
}

func TestMatch(t *testing.T) {
	whole := frag(0)
	df := frag(header.IPv4FlagDF)
	first := frag(header.IPv4FlagMF) // offset 0, more to come
	middle := frag(header.IPv4FlagMF | 185)
	last := frag(370)
	// A datagram whose TCP header says its data offset is 4 bytes:
	// malformed, matched by neither form.
	bad := datagram("10.1.1.1", "192.0.2.7", header.ProtoTCP, make([]byte, 20))
	if first.Parsed.Proto != packet.Fragment || last.Parsed.Proto != packet.Fragment || bad.Parsed.Proto != packet.Unknown {
		t.Fatalf("fixtures decode as %s, %s, %s", first.Parsed.Proto, last.Parsed.Proto, bad.Parsed.Proto)
	}
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"whole datagram", `fragment = true`, whole, false},
		{"don't fragment", `fragment = true`, df, false},
		{"first fragment", `fragment = true`, first, false},
		{"middle fragment", `fragment = true`, middle, true},
		{"last fragment", `fragment = true`, last, true},
		{"not: whole datagram", `fragment = false`, whole, true},
		{"not: first fragment", `fragment = false`, first, true},
		{"not: last fragment", `fragment = false`, last, false},
		{"malformed", `fragment = true`, bad, false},
		{"not: malformed", `fragment = false`, bad, false},
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

// TestNoAllocs: evaluating a fragment rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	whole, last := frag(0), frag(370)
	for _, keys := range []string{`fragment = true`, `fragment = false`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, whole)
			matched(rs, c, last)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `fragment = true`)
	pkt := frag(370)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
