package rules

import (
	"runtime"
	"sync/atomic"

	"fwd/packet"
)

// counters holds packets and bytes for every rule and policy slot, in
// stripes: a packet counts in the stripe of the worker running it
// (pkt.Worker), so two workers never write one cache line, whichever
// flows they run. Stripes are padded apart by a cache line at least.
// Reads sum the stripes; nothing locks.
type counters struct {
	c      []atomic.Uint64
	stride int // uint64s per stripe
	mask   uint32
}

func newCounters(slots int) *counters {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n <<= 1
	}
	stride := (2*slots+7)&^7 + 8 // a cache line between stripes
	return &counters{c: make([]atomic.Uint64, n*stride), stride: stride, mask: uint32(n - 1)}
}

func (c *counters) stripe(pkt *packet.Packet) int {
	return int(uint32(pkt.Worker)&c.mask) * c.stride
}

func (c *counters) add(base, slot int, bytes uint64) {
	i := base + 2*slot
	c.c[i].Add(1)
	c.c[i+1].Add(bytes)
}

func (c *counters) read(slot int) (pkts, bytes uint64) {
	for b := 0; b < len(c.c); b += c.stride {
		pkts += c.c[b+2*slot].Load()
		bytes += c.c[b+2*slot+1].Load()
	}
	return
}

func (c *counters) set(slot int, pkts, bytes uint64) {
	c.c[2*slot].Store(pkts)
	c.c[2*slot+1].Store(bytes)
}

func (c *counters) zero() {
	for i := range c.c {
		c.c[i].Store(0)
	}
}
