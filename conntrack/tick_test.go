package conntrack

import (
	"testing"
	"time"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// An idle table empties by the timer alone: no packet passes to reap.
func TestTickReapsIdleTable(t *testing.T) {
	clock := pipeline.NewVirtual(time.Unix(1000, 0))
	env := &pipeline.Env{Config: config.Default(), Clock: clock, Pool: packet.NewPool()}
	pre, out := new(Stage), new(Stage)
	if err := pre.Provision(&pipeline.Context{Env: env, Hook: packet.Prerouting}); err != nil {
		t.Fatal(err)
	}
	if err := out.Provision(&pipeline.Context{Env: env, Hook: packet.Output}); err != nil {
		t.Fatal(err)
	}
	tb := pre.Table()
	for i := 0; i < 100; i++ {
		run(tb, decode(t, buildUDP([4]byte{10, 0, 0, 1}, srvAddr, uint16(1000+i), 53, 8)))
	}
	if tb.Count() != 100 {
		t.Fatalf("count %d", tb.Count())
	}
	clock.Advance(time.Hour)
	out.Tick(clock.Now(), nil) // the output instance does not reap
	if tb.Count() != 100 {
		t.Fatalf("the output instance reaped: count %d", tb.Count())
	}
	for i := 0; i < 100 && tb.Count() > 0; i++ {
		pre.Tick(clock.Now(), nil)
	}
	if tb.Count() != 0 {
		t.Fatalf("after ticks, %d expired entries remain", tb.Count())
	}
}
