package pipeline

import (
	"sync/atomic"
	"time"
)

// Clock is where every stage takes the time from: nanoseconds since the
// Unix epoch. `run` uses the wall clock; `replay` and tests use a Virtual
// clock set from capture timestamps, so timeouts are exact.
type Clock interface {
	Now() int64
}

// WallClock reads the system clock.
type WallClock struct{}

// Now returns the current time.
func (WallClock) Now() int64 { return time.Now().UnixNano() }

// Virtual is a clock that moves only when told. The zero value reads 0.
type Virtual struct {
	t atomic.Int64
}

// NewVirtual returns a virtual clock set to t.
func NewVirtual(t time.Time) *Virtual {
	v := &Virtual{}
	v.t.Store(t.UnixNano())
	return v
}

// Now returns the clock's time.
func (v *Virtual) Now() int64 { return v.t.Load() }

// Set moves the clock to ns; it never goes backwards (captures can be out
// of order by a little; timers must not run back).
func (v *Virtual) Set(ns int64) {
	for {
		cur := v.t.Load()
		if ns <= cur || v.t.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// Advance moves the clock on by d.
func (v *Virtual) Advance(d time.Duration) { v.t.Add(int64(d)) }

// Seconds converts a duration to clock units.
func Seconds(s int64) int64 { return s * int64(time.Second) }

// Coarse is a wall clock read from memory: a goroutine stores the time
// once a tick, and Now is an atomic load. Reading the system clock costs
// about 50 ns on a VM (clock_gettime through the vDSO, with a paravirtual
// clock source), a fifth of an established packet's whole pipeline, and
// conntrack alone reads it for every packet. With a tick of a millisecond
// the grain is Linux's jiffies at HZ=1000, which is what its conntrack
// timeouts and limit matches count in too. Now never goes backwards, even
// when the system clock is stepped back.
type Coarse struct {
	t    atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// NewCoarse starts a coarse clock ticking every tick. Close stops it.
func NewCoarse(tick time.Duration) *Coarse {
	c := &Coarse{stop: make(chan struct{}), done: make(chan struct{})}
	c.t.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tk.C:
				c.set(time.Now().UnixNano())
			}
		}
	}()
	return c
}

func (c *Coarse) set(ns int64) {
	for {
		cur := c.t.Load()
		if ns <= cur || c.t.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// Now returns the time of the last tick.
func (c *Coarse) Now() int64 { return c.t.Load() }

// Close stops the ticking; Now keeps returning the last time.
func (c *Coarse) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}
