package packet

import (
	"sync"
	"sync/atomic"
)

// Pool hands out Packets with buffers of Headroom+MaxSize bytes. Get returns
// a reset packet; Put returns it. A Pool is safe for concurrent use.
//
// The pool is a sync.Pool of *Packet: in steady state Get and Put allocate
// nothing.
type Pool struct {
	p     sync.Pool
	color atomic.Uint32
}

// colors is how many cache-set offsets buffers start at. A buffer of
// Headroom+MaxSize bytes is a large allocation, aligned to the
// allocator's 8 KiB pages: without an offset every packet's headers would
// lie at the same address modulo 4 KiB, in one set of the first-level
// cache, and a batch of 32 packets would compete for that set's 8 ways
// on each stage's pass. Each new buffer starts colorStep bytes further,
// modulo 4 KiB. The allocation rounds up to the same 9 pages either way.
const (
	colors    = 64
	colorStep = 64
)

// NewPool returns an empty pool.
func NewPool() *Pool {
	pl := &Pool{}
	pl.p.New = func() any {
		off := int(pl.color.Add(1)%colors) * colorStep
		raw := make([]byte, off+Headroom+MaxSize)
		return &Packet{buf: raw[off : off+Headroom+MaxSize : off+Headroom+MaxSize], InIf: NoIf, OutIf: NoIf}
	}
	return pl
}

// Get returns a reset packet with an empty Data.
func (pl *Pool) Get() *Packet {
	p := pl.p.Get().(*Packet)
	p.Reset()
	return p
}

// Put returns p to the pool. The caller must not use p afterwards. Pointers
// are cleared so the pool keeps no connection alive.
func (pl *Pool) Put(p *Packet) {
	p.dropRefs()
	pl.p.Put(p)
}

// dropRefs clears the packet's pointers, so a pooled packet keeps no
// connection, NAT binding or trace note alive.
func (p *Packet) dropRefs() {
	p.CT = nil
	p.CTHint = nil
	p.NAT = nil
	p.Note = "" // a trace note may hold a large string
	p.Data = nil
}

// New returns a packet with its own buffer (not pooled), for tests and
// packets built outside the datapath.
func New(datagram []byte) *Packet {
	p := &Packet{buf: make([]byte, Headroom+MaxSize), InIf: NoIf, OutIf: NoIf}
	p.Load(datagram)
	return p
}

// Cache is one goroutine's stock of packets in front of a Pool: Get and
// Put take from and add to a plain slice, and only a refill or a spill,
// once per cacheBatch packets, goes to the Pool. A device worker that
// reads into packets and frees them after writing (or dropping) them
// does both on its own goroutine and saves the Pool's synchronisation
// on every packet. A Cache must not be used by two goroutines at once;
// packets may still go back through Pool.Put from anywhere.
type Cache struct {
	pool  *Pool
	stock []*Packet
}

const cacheBatch = 64 // packets moved per refill or spill

// NewCache returns an empty cache in front of pl.
func (pl *Pool) NewCache() *Cache {
	return &Cache{pool: pl, stock: make([]*Packet, 0, 2*cacheBatch)}
}

// Get returns a reset packet with an empty Data.
func (c *Cache) Get() *Packet {
	n := len(c.stock)
	if n == 0 {
		for range cacheBatch {
			c.stock = append(c.stock, c.pool.p.Get().(*Packet))
		}
		n = cacheBatch
	}
	p := c.stock[n-1]
	c.stock[n-1] = nil
	c.stock = c.stock[:n-1]
	p.Reset()
	return p
}

// Put returns p to the cache (Pool.Put's contract).
func (c *Cache) Put(p *Packet) {
	p.dropRefs()
	if len(c.stock) == cap(c.stock) {
		for _, q := range c.stock[cacheBatch:] {
			c.pool.p.Put(q)
		}
		clear(c.stock[cacheBatch:])
		c.stock = c.stock[:cacheBatch]
	}
	c.stock = append(c.stock, p)
}

// Flush returns every packet the cache holds to the pool (when its
// goroutine stops).
func (c *Cache) Flush() {
	for _, q := range c.stock {
		c.pool.p.Put(q)
	}
	clear(c.stock)
	c.stock = c.stock[:0]
}
