package limit_test

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

// TestBucket follows one bucket on the clock: a burst at once, then one
// packet per interval, and never more than the burst saved up.
func TestBucket(t *testing.T) {
	rs, c, clock := limited(t, "limit = \"2/second\"\nlimit_burst = 3")
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	steps := []struct {
		advance time.Duration
		packets int
		want    int // how many match
	}{
		{0, 5, 3},                      // the burst
		{100 * time.Millisecond, 1, 0}, // nothing earned yet
		{400 * time.Millisecond, 2, 1}, // one token every 500ms
		{500 * time.Millisecond, 1, 1}, //
		{10 * time.Second, 10, 3},      // saved up, but at most the burst
		{499 * time.Millisecond, 1, 0}, //
		{1 * time.Millisecond, 1, 1},   // exactly one interval
		{time.Hour, 1, 1},              //
		{0, 2, 2},                      //
		{0, 1, 0},                      // the burst is spent again
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		got := 0
		for range s.packets {
			v, _ := rs.Eval(c, pkt, nil)
			if v == rules.Accept {
				got++
			}
		}
		if got != s.want {
			t.Errorf("step %d (+%v, %d packets): %d matched, want %d", i, s.advance, s.packets, got, s.want)
		}
	}
}

// TestStatelessFirst: a packet that fails the rule's other matches takes
// no token, wherever limit stands among the keys.
func TestStatelessFirst(t *testing.T) {
	rs, c, _ := limited(t, "limit = \"1/hour\"\nlimit_burst = 1\nsrc = \"10.0.0.0/8\"")
	other := udp("192.0.2.1", 40000, "192.0.2.7", 53)
	for range 10 {
		if v, _ := rs.Eval(c, other, nil); v != rules.Drop {
			t.Fatalf("a packet from outside 10/8 got %s", v)
		}
	}
	if v, _ := rs.Eval(c, udp("10.1.1.1", 40000, "192.0.2.7", 53), nil); v != rules.Accept {
		t.Errorf("the first packet from 10/8 got %s: the others took its token", v)
	}
}

// TestPerRule: every rule has its own bucket, and a recompile starts
// with a full one.
func TestPerRule(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[[filter.input.rule]]
proto = "udp"
limit = "1/hour"
limit_burst = 1
action = "accept"

[[filter.input.rule]]
proto = "udp"
limit = "1/hour"
limit_burst = 1
action = "reject"
`))
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Clock: pipeline.NewVirtual(time.Unix(1, 0))}
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	for round := range 2 {
		rs, err := rules.CompileWith(cfg, nil, rules.Options{Env: env})
		if err != nil {
			t.Fatal(err)
		}
		c := rs.Builtin(rules.TableFilter, packet.Input)
		var got []rules.Verdict
		for range 3 {
			v, _ := rs.Eval(c, pkt, nil)
			got = append(got, v)
		}
		if got[0] != rules.Accept || got[1] != rules.Reject || got[2] != rules.Accept {
			t.Errorf("round %d: verdicts %v, want accept (rule 1), reject (rule 2), accept (policy)", round, got)
		}
	}
}

// TestNoAllocs: taking or failing to take a token allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, c, clock := limited(t, "limit = \"1000/second\"\nlimit_burst = 10")
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	if n := testing.AllocsPerRun(1000, func() {
		clock.Advance(100 * time.Microsecond)
		rs.Eval(c, pkt, nil)
		rs.Eval(c, pkt, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c, _ := limited(b, "limit = \"1000000/second\"\nlimit_burst = 10000")
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
