package packet

import "sync"

// Pool hands out Packets with buffers of Headroom+MaxSize bytes. Get returns
// a reset packet; Put returns it. A Pool is safe for concurrent use.
//
// The pool is a sync.Pool of *Packet: in steady state Get and Put allocate
// nothing.
type Pool struct {
	p sync.Pool
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	pl := &Pool{}
	pl.p.New = func() any {
		return &Packet{buf: make([]byte, Headroom+MaxSize), InIf: NoIf, OutIf: NoIf}
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
	p.CT = nil
	p.CTHint = nil
	p.NAT = nil
	p.Note = "" // a trace note may hold a large string
	p.Data = nil
	pl.p.Put(p)
}

// New returns a packet with its own buffer (not pooled), for tests and
// packets built outside the datapath.
func New(datagram []byte) *Packet {
	p := &Packet{buf: make([]byte, Headroom+MaxSize), InIf: NoIf, OutIf: NoIf}
	p.Load(datagram)
	return p
}
