package packet

import (
	"bytes"
	"testing"
)

func TestPool(t *testing.T) {
	pl := NewPool()
	p := pl.Get()
	if len(p.Data) != 0 || p.InIf != NoIf || p.OutIf != NoIf || len(p.Buffer()) != Headroom+MaxSize {
		t.Fatalf("fresh packet: len(Data) %d InIf %d OutIf %d buffer %d", len(p.Data), p.InIf, p.OutIf, len(p.Buffer()))
	}
	p.Load(pktSYN)
	p.Parsed.Decode(p.Data)
	p.CT = &struct{ x int }{1}
	p.Mark, p.Hook, p.Drop, p.Note, p.Trace = 7, Forward, DropPolicy, "note", true
	p.InIf, p.OutIf = 1, 2
	pl.Put(p)
	if p.CT != nil || p.Data != nil {
		t.Fatal("Put kept pointers")
	}
	q := pl.Get()
	if q.CT != nil || q.Mark != 0 || q.Hook != HookNone || q.Drop != DropNone || q.Note != "" || q.Trace ||
		q.InIf != NoIf || q.OutIf != NoIf || len(q.Data) != 0 || q.Parsed != (Parsed{}) {
		t.Fatalf("Get returned a dirty packet: %+v", q)
	}
	if len(q.Buffer()) != Headroom+MaxSize {
		t.Fatal("buffer lost")
	}
}

func TestPoolNoAllocs(t *testing.T) {
	pl := NewPool()
	pl.Put(pl.Get()) // warm up
	n := testing.AllocsPerRun(1000, func() {
		p := pl.Get()
		p.Load(pktUDP)
		p.Parsed.Decode(p.Data)
		pl.Put(p)
	})
	if n != 0 {
		t.Fatalf("%v allocs per Get/Load/Decode/Put, want 0", n)
	}
}

func TestPacketData(t *testing.T) {
	p := New(pktUDP)
	if !bytes.Equal(p.Data, pktUDP) || &p.Data[0] != &p.Buffer()[Headroom] {
		t.Fatal("New/Load: Data is not the datagram at Headroom")
	}
	n := p.Parsed.Decode(p.Data)
	if n != len(pktUDP) {
		t.Fatalf("Decode = %d", n)
	}
	if !bytes.Equal(p.L4(), pktUDP[20:]) {
		t.Fatal("L4")
	}
	if p.Src().String() != "192.168.1.10" || p.Dst().String() != "198.51.100.20" {
		t.Fatalf("Src %v Dst %v", p.Src(), p.Dst())
	}
	if p.IP().TotalLength() != uint16(len(pktUDP)) {
		t.Fatal("IP view")
	}
	// A device writes at Headroom and calls SetData.
	copy(p.Buffer()[Headroom:], pktEcho)
	p.SetData(len(pktEcho))
	if !bytes.Equal(p.Data, pktEcho) {
		t.Fatal("SetData")
	}
	p.Reset()
	if p.Data != nil || p.InIf != NoIf || len(p.Buffer()) != Headroom+MaxSize {
		t.Fatal("Reset")
	}
}

func TestNames(t *testing.T) {
	for h := HookNone + 1; h < Hook(NumHooks); h++ {
		got, ok := ParseHook(h.String())
		if !ok || got != h {
			t.Errorf("ParseHook(%q) = %v, %v", h.String(), got, ok)
		}
		if !h.Mask().Has(h) || h.Mask().Has(h%Hook(NumHooks-1)+1) {
			t.Errorf("Mask of %v", h)
		}
	}
	if _, ok := ParseHook("none"); ok {
		t.Error(`ParseHook("none") ok`)
	}
	for s := CTNone + 1; s <= CTUntracked; s++ {
		got, ok := ParseCTState(s.String())
		if !ok || got != s {
			t.Errorf("ParseCTState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	for _, tt := range []struct {
		p    Proto
		want string
	}{{Unknown, "unknown"}, {TCP, "tcp"}, {UDP, "udp"}, {ICMP, "icmp"}, {OtherProto, "other"}, {Fragment, "fragment"}} {
		if tt.p.String() != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.p, tt.p.String(), tt.want)
		}
	}
}

// TestCache: a cache hands out reset packets, takes them back, refills
// from and spills to its pool in batches, and returns everything on Flush;
// in steady state it allocates nothing and touches the pool not at all.
func TestCache(t *testing.T) {
	pl := NewPool()
	c := pl.NewCache()
	p := c.Get()
	if len(c.stock) != cacheBatch-1 {
		t.Fatalf("first Get left %d in stock, want %d", len(c.stock), cacheBatch-1)
	}
	p.Load(pktSYN)
	p.Parsed.Decode(p.Data)
	p.CT, p.Note, p.Mark, p.InIf, p.Hook = &struct{ x int }{1}, "note", 9, 1, Forward
	c.Put(p)
	if p.CT != nil || p.Data != nil || p.Note != "" {
		t.Fatal("Put kept pointers")
	}
	q := c.Get()
	if q != p {
		t.Fatal("the cache is not last-in first-out")
	}
	if q.Mark != 0 || q.InIf != NoIf || q.Hook != HookNone || q.Parsed != (Parsed{}) || len(q.Buffer()) != Headroom+MaxSize {
		t.Fatalf("Get returned a dirty packet: %+v", q)
	}
	// Fill past the cache's room: it spills a batch to the pool.
	var held []*Packet
	for range 3 * cacheBatch {
		held = append(held, c.Get())
	}
	for _, h := range held {
		c.Put(h)
	}
	if n := len(c.stock); n > 2*cacheBatch || n < cacheBatch {
		t.Fatalf("stock %d after the spill, want between %d and %d", n, cacheBatch, 2*cacheBatch)
	}
	seen := map[*Packet]bool{}
	for _, s := range c.stock {
		if seen[s] {
			t.Fatal("a packet is in the stock twice")
		}
		seen[s] = true
	}
	c.Flush()
	if len(c.stock) != 0 {
		t.Fatal("Flush kept packets")
	}
	c.Put(q)
	n := testing.AllocsPerRun(1000, func() {
		var b [32]*Packet
		for i := range b {
			b[i] = c.Get()
		}
		for _, x := range b {
			c.Put(x)
		}
	})
	if n != 0 && !raceEnabled {
		t.Fatalf("%v allocs per 32 Gets and Puts", n)
	}
}
