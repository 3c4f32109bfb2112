package hashlimit_test

import (
	"net/netip"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
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

// limited compiles a filter input chain (policy drop) with one rule
// (keys, action accept) on a virtual clock.
func limited(t testing.TB, keys string) (*rules.Ruleset, *rules.Chain, *pipeline.Virtual) {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte("[filter.input]\npolicy = \"drop\"\n\n[[filter.input.rule]]\n"+keys+"\naction = \"accept\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	clock := pipeline.NewVirtual(time.Unix(1700000000, 0))
	rs, err := rules.CompileWith(cfg, nil, rules.Options{Env: &pipeline.Env{Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	return rs, rs.Builtin(rules.TableFilter, packet.Input), clock
}

// count sends n packets from src to dst and returns how many matched.
func count(rs *rules.Ruleset, c *rules.Chain, src, dst string, n int) int {
	pkt := udp(src, 40000, dst, 53)
	got := 0
	for range n {
		if v, _ := rs.Eval(c, pkt, nil); v == rules.Accept {
			got++
		}
	}
	return got
}

// TestPerSource: each source has its own bucket.
func TestPerSource(t *testing.T) {
	rs, c, clock := limited(t, `hashlimit = { rate = "1/second", burst = 2 }`)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 5); got != 2 {
		t.Errorf("10.0.0.1: %d of 5 matched, want the burst of 2", got)
	}
	if got := count(rs, c, "10.0.0.2", "192.0.2.1", 5); got != 2 {
		t.Errorf("10.0.0.2: %d of 5 matched, want its own burst of 2", got)
	}
	if got := count(rs, c, "10.0.0.1", "192.0.2.2", 1); got != 0 {
		t.Errorf("10.0.0.1 to another destination: %d matched, want 0 (one bucket per source)", got)
	}
	clock.Advance(time.Second)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 5); got != 1 {
		t.Errorf("10.0.0.1 a second later: %d matched, want 1", got)
	}
	clock.Advance(time.Minute)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 5); got != 2 {
		t.Errorf("10.0.0.1 a minute later: %d matched, want the burst of 2", got)
	}
}

// TestModes: buckets keyed by destination, or by a prefix of the address.
func TestModes(t *testing.T) {
	rs, c, _ := limited(t, `hashlimit = { rate = "1/hour", burst = 1, mode = "dst" }`)
	if count(rs, c, "10.0.0.1", "192.0.2.1", 1) != 1 || count(rs, c, "10.0.0.2", "192.0.2.1", 1) != 0 {
		t.Error("mode dst: a second source to the same destination got a token")
	}
	if count(rs, c, "10.0.0.1", "192.0.2.2", 1) != 1 {
		t.Error("mode dst: another destination has no token")
	}

	rs, c, _ = limited(t, `hashlimit = { rate = "1/hour", burst = 2, prefix = 24 }`)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 1) + count(rs, c, "10.0.0.200", "192.0.2.1", 5); got != 2 {
		t.Errorf("prefix 24: a /24 got %d tokens, want 2 shared", got)
	}
	if count(rs, c, "10.0.1.1", "192.0.2.1", 1) != 1 {
		t.Error("prefix 24: the next /24 has no token")
	}

	rs, c, _ = limited(t, `hashlimit = { rate = "1/hour", burst = 3, prefix = 0 }`)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 2) + count(rs, c, "172.16.0.1", "192.0.2.1", 2); got != 3 {
		t.Errorf("prefix 0: %d tokens, want 3 shared by everyone", got)
	}
}

// TestAbove: above = true matches the packets over the rate, for a drop
// rule.
func TestAbove(t *testing.T) {
	rs, c, _ := limited(t, `hashlimit = { rate = "1/hour", burst = 3, above = true }`)
	if got := count(rs, c, "10.0.0.1", "192.0.2.1", 10); got != 7 {
		t.Errorf("%d of 10 matched above a burst of 3, want 7", got)
	}
}

// TestCollision: with one slot, a new key takes the slot over with a full
// bucket (the table never grows); the key it displaced starts afresh too.
func TestCollision(t *testing.T) {
	rs, c, _ := limited(t, `hashlimit = { rate = "1/hour", burst = 1, size = 1 }`)
	if count(rs, c, "10.0.0.1", "192.0.2.1", 2) != 1 {
		t.Fatal("first source: not one token")
	}
	if count(rs, c, "10.0.0.2", "192.0.2.1", 2) != 1 {
		t.Error("second source did not take the slot over with a full bucket")
	}
	if count(rs, c, "10.0.0.1", "192.0.2.1", 2) != 1 {
		t.Error("first source coming back did not start afresh")
	}
}

// TestStatelessFirst: a packet that fails the rule's other matches takes
// no token from its bucket.
func TestStatelessFirst(t *testing.T) {
	rs, c, _ := limited(t, "hashlimit = { rate = \"1/hour\", burst = 1 }\ndst = \"192.0.2.1\"")
	if count(rs, c, "10.0.0.1", "192.0.2.99", 5) != 0 {
		t.Fatal("packets to another destination matched")
	}
	if count(rs, c, "10.0.0.1", "192.0.2.1", 1) != 1 {
		t.Error("the first packet to 192.0.2.1 found its bucket empty")
	}
}

// TestNoAllocs: taking a token, switching slots included, allocates
// nothing.
func TestNoAllocs(t *testing.T) {
	rs, c, clock := limited(t, `hashlimit = { rate = "1000/second", burst = 10, size = 16 }`)
	a, b := udp("10.0.0.1", 40000, "192.0.2.1", 53), udp("10.0.0.2", 40000, "192.0.2.1", 53)
	if n := testing.AllocsPerRun(1000, func() {
		clock.Advance(100 * time.Microsecond)
		rs.Eval(c, a, nil)
		rs.Eval(c, b, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c, _ := limited(b, `hashlimit = { rate = "1000000/second", burst = 10000 }`)
	pkt := udp("10.0.0.1", 40000, "192.0.2.1", 53)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
