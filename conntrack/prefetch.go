package conntrack

import (
	"sync/atomic"
	"unsafe"

	"fwd/internal/prefetch"
	"fwd/packet"
)

// Prefetch implements pipeline.Prefetcher. A lookup in a table larger
// than the cache waits for two misses in a row: the index slot, then the
// connection it names. Prefetch starts them for the whole sub-batch before
// Process runs on its first packet, so the waits overlap: a first pass
// hashes each packet's tuple (kept in pkt.CTHash for Track) and starts
// loading its index slot; a second pass reads the slots, which have
// mostly arrived, and starts loading the connections whose tags match.
//
// It takes no lock: it reads the index through the atomics index.go
// publishes it with, and a prefetch is not a read, so a slot that changes
// meanwhile costs only a wasted load. What Process decides does not
// depend on it.
func (s *Stage) Prefetch(batch []*packet.Packet, sub []int32) {
	if len(sub) < 2 {
		return // nothing to overlap
	}
	t := s.t
	for _, i := range sub {
		pkt := batch[i]
		if pkt.CTState == packet.CTUntracked || pkt.CTState == packet.CTRelated && pkt.CT != nil {
			continue // Process leaves these alone
		}
		var tu Tuple
		if !packetTuple(&pkt.Parsed, &tu) {
			continue
		}
		h := hashTuple(&tu, t.seed)
		pkt.CTHash = h
		main := *t.shardOf(h).mainp.Load()
		prefetch.Line(unsafe.Pointer(&main[uint32(h)&uint32(len(main)-1)]))
	}
	for _, i := range sub {
		if pkt := batch[i]; pkt.CTHash != 0 {
			pkt.CTHint = unsafe.Pointer(t.prefetchConn(t.shardOf(pkt.CTHash), uint32(pkt.CTHash)))
		}
	}
}

// prefetchConn starts loading the connection s's indexes name for hash
// h - the first entry of main whose tag matches, else the first alias
// entry with the hash (a NATed reply tuple) - and returns it, or nil. Read
// without the lock, it is only a hint: lookup checks it.
func (t *Table) prefetchConn(s *shard, h uint32) *Conn {
	main := *s.mainp.Load()
	m := uint32(len(main) - 1)
	tag := h >> mainTagShift
	for n, j := 0, h&m; n < 4; n, j = n+1, (j+1)&m {
		v := atomic.LoadUint32(&main[j])
		if v == 0 {
			break
		}
		if v>>mainTagShift == tag {
			return s.prefetchSlot(mainIdx(v))
		}
	}
	alias := *s.aliasp.Load()
	m = uint32(len(alias) - 1)
	for n, j := 0, h&m; n < 4; n, j = n+1, (j+1)&m {
		v := atomic.LoadUint64(&alias[j])
		if v == 0 {
			return nil
		}
		if uint32(v>>32) == h {
			return t.shards[refHome(uint32(v))].prefetchSlot(refIdx(uint32(v)))
		}
	}
	return nil
}

// prefetchSlot starts loading slab slot idx of s and returns its Conn, or
// nil when the slot's chunk does not exist (a stale index read).
func (s *shard) prefetchSlot(idx uint32) *Conn {
	k := idx >> chunkShift
	if k >= uint32(len(s.chunks)) {
		return nil
	}
	ch := s.chunks[k].Load()
	if ch == nil {
		return nil
	}
	c := &ch[idx&(chunkSize-1)]
	prefetch.Span(unsafe.Pointer(c), sizeofConn)
	return c
}

// Owner returns which of n workers should run pkt (whose Parsed summary
// is decoded) so that every packet of a connection - both directions,
// before and after NAT, and the ICMP errors quoting it - runs on one
// worker: the worker of the connection's home shard, home mod n. It finds
// the connection as the prefetch pass does, in the indexes without a
// lock (a NATed reply tuple through the alias index; no connection is
// read), so a device can steer a packet before any worker takes it. A packet of no connection
// goes to the worker of its own tuple's shard, the home of the
// connection it may make; one conntrack does not look up by tuple (a
// fragment, a malformed packet) by a symmetric hash of its addresses.
//
// With packets steered so, each shard's lock and connections are used
// by one worker only, and the established path shares no written cache
// line between workers. Owner does not change pkt.
func (t *Table) Owner(pkt *packet.Packet, n int) int {
	if n <= 1 {
		return 0
	}
	h := t.ownerHash(pkt)
	return int(t.shardOf(h).homeOf(uint32(h))) % n
}

// Owners sets owner[i] to Owner(batch[i], n), for a batch: the alias
// index slots of all its packets are fetched together, so their misses
// overlap as the prefetch pass's do.
func (t *Table) Owners(batch []*packet.Packet, n int, owner []int) {
	if n <= 1 {
		clear(owner[:len(batch)])
		return
	}
	var hs [64]uint64
	for len(batch) > 0 {
		k := min(len(batch), len(hs))
		for i, pkt := range batch[:k] {
			h := t.ownerHash(pkt)
			hs[i] = h
			alias := *t.shardOf(h).aliasp.Load()
			prefetch.Line(unsafe.Pointer(&alias[uint32(h)&uint32(len(alias)-1)]))
		}
		for i, h := range hs[:k] {
			owner[i] = int(t.shardOf(h).homeOf(uint32(h))) % n
		}
		batch, owner = batch[k:], owner[k:]
	}
}

// ownerHash is the hash Owner steers pkt by: its tuple's, an ICMP
// error's quoted tuple's, or its addresses'.
func (t *Table) ownerHash(pkt *packet.Packet) uint64 {
	p := &pkt.Parsed
	var tu Tuple
	if packetTuple(p, &tu) {
		return hashTuple(&tu, t.seed)
	}
	if p.Proto == packet.ICMP && p.InnerOK {
		// An error: the quoted packet's tuple (the hash is symmetric, so
		// its reverse, the one conntrack looks up, hashes alike).
		if q, ok := quotedTuple(&p.Inner); ok {
			return hashTuple(&q, t.seed)
		}
	}
	a := Tuple{Src: p.Src, Dst: p.Dst}
	return hashTuple(&a, t.seed)
}

// homeOf returns the home shard of the connection whose tuple hashes to
// h in s, read without the lock: a connection of another shard if s's
// alias index holds h (a NATed reply tuple: the alias keeps all 32 bits
// of the hash, so a stranger matches once in four billion), else s
// itself - its main index holds only its own connections, and a tuple
// of no connection will make one here. It reads no Conn.
func (s *shard) homeOf(h uint32) uint8 {
	alias := *s.aliasp.Load()
	m := uint32(len(alias) - 1)
	for j := h & m; ; j = (j + 1) & m {
		v := atomic.LoadUint64(&alias[j])
		if v == 0 {
			return s.id
		}
		if uint32(v>>32) == h {
			return refHome(uint32(v))
		}
	}
}
