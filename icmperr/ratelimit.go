package icmperr

import "sync"

// Limiter is a token bucket per destination address, as Linux's
// icmp_ratelimit keeps one per peer (inetpeer): each destination may
// receive burst errors at once and rate a second after that. The table is
// bounded: a direct-mapped array of slots indexed by a seeded hash of the
// address; a destination that lands on a taken slot replaces its owner
// (whose bucket is forgotten, so it starts full again next time — the
// cost of a bounded table, and why the slot count is generous).
type Limiter struct {
	cost  int64 // nanoseconds of credit one message costs (1e9/rate)
	limit int64 // the most credit a bucket holds (burst*cost)
	seed  uint32

	mu    sync.Mutex // mu protects slots
	slots []bucket
}

type bucket struct {
	dst    [4]byte
	used   bool
	last   int64 // clock time of the last refill
	credit int64 // nanoseconds of credit
}

// DefaultSlots is the table size NewLimiter uses when given 0.
const DefaultSlots = 4096

// NewLimiter returns a limiter allowing rate messages a second to each
// destination, with bursts of burst (at least 1). A rate of 0 or less
// means unlimited: NewLimiter returns nil, and a nil *Limiter allows
// everything. slots is the table size (DefaultSlots when 0); seed varies
// the hash.
func NewLimiter(rate float64, burst, slots int, seed uint32) *Limiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if slots <= 0 {
		slots = DefaultSlots
	}
	cost := int64(1e9 / rate)
	if cost < 1 {
		cost = 1
	}
	return &Limiter{cost: cost, limit: cost * int64(burst), seed: seed, slots: make([]bucket, slots)}
}

func (l *Limiter) index(a [4]byte) int {
	// FNV-1a over the seeded address: cheap and good enough to spread
	// neighbouring addresses.
	h := uint32(2166136261) ^ l.seed
	for _, b := range a {
		h ^= uint32(b)
		h *= 16777619
	}
	return int(h % uint32(len(l.slots)))
}

// Allow reports whether one more message to dst may go at time now
// (nanoseconds), taking a token if so.
func (l *Limiter) Allow(dst [4]byte, now int64) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.slots[l.index(dst)]
	if !b.used || b.dst != dst {
		*b = bucket{dst: dst, used: true, last: now, credit: l.limit}
	}
	if d := now - b.last; d > 0 {
		b.credit += d
		if b.credit > l.limit {
			b.credit = l.limit
		}
	}
	b.last = now
	if b.credit < l.cost {
		return false
	}
	b.credit -= l.cost
	return true
}
