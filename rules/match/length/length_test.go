package length_test

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

// sized is a datagram of n bytes in all (IP header included): a UDP
// header and n-28 bytes of payload.
func sized(n int) *packet.Packet {
	l4 := make([]byte, n-header.IPv4MinSize)
	header.UDP(l4).Encode(40000, 53, uint16(len(l4)))
	return datagram("10.1.1.1", "192.0.2.7", header.ProtoUDP, l4)
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		keys string
		n    int
		want bool
	}{
		{"exact", `length = 40`, 40, true},
		{"exact miss", `length = 40`, 41, false},
		{"range low", `length = "0-100"`, 28, true},
		{"range high", `length = "0-100"`, 100, true},
		{"range above", `length = "0-100"`, 101, false},
		{"ip header counts", `length = "1400-65535"`, 1400, true},
		{"largest", `length = "1400-65535"`, 65535, true},
		{"negated inside", `length = "!0-100"`, 64, false},
		{"negated outside", `length = "!0-100"`, 1500, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			if got := matched(rs, c, sized(tc.n)); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTotalLength: the IP total length counts, not the bytes the device
// delivered (Ethernet pads short frames).
func TestTotalLength(t *testing.T) {
	rs, c := chain(t, `length = 28`)
	pkt := sized(28)
	pkt.Load(append(append([]byte{}, pkt.Data...), make([]byte, 18)...)) // 46 bytes: minimum Ethernet payload
	pkt.Parsed.Decode(pkt.Data)
	if len(pkt.Data) != 46 || pkt.Parsed.Length != 28 {
		t.Fatalf("fixture: %d bytes, total length %d", len(pkt.Data), pkt.Parsed.Length)
	}
	if !matched(rs, c, pkt) {
		t.Error("a padded 28-byte datagram did not match length = 28")
	}
}

// TestNoAllocs: evaluating a length rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	small, big := sized(60), sized(1500)
	for _, keys := range []string{`length = "0-100"`, `length = "!1400:1500"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, small)
			matched(rs, c, big)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `length = "0-100"`)
	pkt := sized(60)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
