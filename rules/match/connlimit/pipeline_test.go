package connlimit_test

import (
	"testing"
	"time"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	_ "fwd/plugins"
)

// passed counts the TCP segments a pipeline delivers (not the ICMP
// errors it makes) and what it drops.
type passed struct{ delivered, dropped int }

func (s *passed) Deliver(p *packet.Packet) {
	if p.Parsed.Proto == packet.TCP {
		s.delivered++
	}
}
func (s *passed) Discard(_ *packet.Packet, v pipeline.Verdict) {
	if v != pipeline.Stolen {
		s.dropped++
	}
}

// With conntrack in the pipeline, connlimit counts what conntrack holds,
// as Linux does: attempts the rule refused are never confirmed and stop
// counting after a moment, and a connection that ended is not counted,
// so a client that went over the limit is let in again once it is under
// (before, its refused attempts kept it over for the whole timeout).
func TestCountsWhatConntrackHolds(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"
[[interface]]
name = "wan0"
addr = "203.0.113.2/24"
[[route]]
to = "0.0.0.0/0"
via = "203.0.113.1"
[[filter.forward.rule]]
proto = "tcp"
connlimit = 1
action = "drop"
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool()}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Cleanup)
	out := &passed{}
	r := pl.NewRunner(out)
	send := func(in int16, p *packet.Packet) bool {
		p.InIf = in
		before := out.delivered
		r.Run([]*packet.Packet{p})
		return out.delivered > before
	}
	const client, server = "192.168.1.10", "198.51.100.9"
	open := func(port uint16) bool { return send(0, tcp(client, port, server, 80, syn)) }

	if !open(40001) {
		t.Fatal("the first connection was dropped under connlimit = 1")
	}
	if !send(1, tcp(server, 80, client, 40001, synack)) {
		t.Fatal("the server's answer was dropped")
	}
	// Two refused attempts, a second apart.
	if open(40002) {
		t.Fatal("a second connection passed connlimit = 1")
	}
	clock.Advance(time.Second)
	if open(40003) {
		t.Fatal("a third connection passed connlimit = 1")
	}
	// The first connection ends with a RST from the server.
	send(1, tcp(server, 80, client, 40001, rst|ack))
	clock.Advance(3 * time.Second)
	if !open(40004) {
		t.Fatal("the refused attempts still count after the only live connection ended")
	}
	// And the new one counts: the next is over the limit.
	if !send(1, tcp(server, 80, client, 40004, synack)) || open(40005) {
		t.Fatal("the connection let in does not count")
	}
}
