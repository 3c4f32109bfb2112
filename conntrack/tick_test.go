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

// A connection mark a rule set (CONNMARK) is stored on the connection by
// the confirm stage, both on the first packet and on a later one, and the
// next packets carry it.
func TestConfirmStoresConnMark(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	cs := &ConfirmStage{t: tab}
	src := [4]byte{192, 168, 1, 10}
	first := decode(t, buildUDP(src, srvAddr, 1000, 53, 8))
	if v := tab.Track(first); v != pipeline.Continue {
		t.Fatal(v)
	}
	first.CTMark, first.CTMarkDirty = 7, true
	if v := cs.Process(first); v != pipeline.Continue {
		t.Fatal(v)
	}
	next := decode(t, buildUDP(src, srvAddr, 1000, 53, 8))
	tab.Track(next)
	if next.CTMark != 7 {
		t.Fatalf("second packet's ctmark %d, want 7 (set on the first, unconfirmed)", next.CTMark)
	}
	next.CTMark, next.CTMarkDirty = 9, true
	cs.Process(next)
	reply := decode(t, buildUDP(srvAddr, src, 53, 1000, 8))
	tab.Track(reply)
	if reply.CTMark != 9 {
		t.Fatalf("reply's ctmark %d, want 9 (set on a confirmed connection)", reply.CTMark)
	}
}
