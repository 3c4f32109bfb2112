package rules

import (
	"testing"

	"fwd/packet"
)

// Packets of different workers count in different stripes a cache line
// apart, whatever their flows; reads sum them.
func TestCountersStripedByWorker(t *testing.T) {
	c := newCounters(3) // two stripes at least, even with one proc
	var p0, p1 packet.Packet
	p0.Worker, p1.Worker = 0, 1
	p1.Parsed.Src = [4]byte{10, 0, 0, 1} // flows do not matter
	b0, b1 := c.stripe(&p0), c.stripe(&p1)
	if b0 == b1 {
		t.Fatal("two workers share a stripe")
	}
	if d := b1 - b0; d < 0 || d*8 < 64 {
		t.Fatalf("stripes %d uint64s apart: closer than a cache line", d)
	}
	c.add(b0, 2, 100)
	c.add(b1, 2, 50)
	c.add(b1, 2, 50)
	if pk, by := c.read(2); pk != 3 || by != 200 {
		t.Fatalf("read %d packets %d bytes, want 3 and 200", pk, by)
	}
}
