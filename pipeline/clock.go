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
