package pipeline_test

import (
	"testing"
	"time"

	"fwd/pipeline"
)

// The coarse clock follows the wall clock within a few ticks, never goes
// back, and stops ticking when closed.
func TestCoarseClock(t *testing.T) {
	c := pipeline.NewCoarse(time.Millisecond)
	start := c.Now()
	if d := time.Now().UnixNano() - start; d < 0 || d > int64(time.Second) {
		t.Fatalf("starts %v away from the wall clock", time.Duration(d))
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Now() <= start {
		if time.Now().After(deadline) {
			t.Fatal("the coarse clock did not tick in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	last := c.Now()
	for i := 0; i < 200; i++ {
		now := c.Now()
		if now < last {
			t.Fatalf("went back from %d to %d", last, now)
		}
		last = now
	}
	c.Close()
	c.Close() // twice is fine
	stopped := c.Now()
	time.Sleep(20 * time.Millisecond)
	if c.Now() != stopped {
		t.Fatal("ticks after Close")
	}
}

func BenchmarkClocks(b *testing.B) {
	c := pipeline.NewCoarse(time.Millisecond)
	defer c.Close()
	for _, tc := range []struct {
		name string
		c    pipeline.Clock
	}{{"wall", pipeline.WallClock{}}, {"coarse", c}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var s int64
			for i := 0; i < b.N; i++ {
				s += tc.c.Now()
			}
			_ = s
		})
	}
}
