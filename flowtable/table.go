package flowtable

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"fwd/conntrack"
	"fwd/internal/prefetch"
	"fwd/nat"
	"fwd/packet"
)

// Table holds the offloaded connections, one entry per direction, keyed
// by the packet's tuple and its input interface: Linux's flow table
// (nf_flowtable), which the fast path reads without a lock.
//
// Entries live in chunks that are never freed and are chained from a
// fixed array of buckets. Writers (add and Evict, a connection at a time)
// hold mu; readers take none. Each entry carries a sequence number that
// is odd while the entry is written and changes whenever it is reused, so
// a reader that raced a writer sees the change and walks the chain again;
// one that keeps missing sends the packet the slow path. Every field is
// read and written atomically, so the race detector agrees.
type Table struct {
	mu      sync.Mutex
	buckets []atomic.Uint32 // entry index+1 of the chain's first entry
	mask    uint64
	seed    [2]uint64
	chunks  []atomic.Pointer[chunk]
	stripes uint32 // stats kept per worker stripe, a power of two
	n       uint32 // entries ever made
	free    uint32 // FIFO free list head, index+1 (reused last)
	tail    uint32
	live    int
	max     int
}

const (
	chunkShift = 10
	chunkSize  = 1 << chunkShift
)

// chunk is a run of entries, with their stats for each worker stripe.
type chunk struct {
	e  [chunkSize]entry
	st []stat // stripe w's stat of entry j at w<<chunkShift | j
}

// entry is one direction of an offloaded connection: what a lookup reads,
// one cache line, written only when the entry is made or freed.
type entry struct {
	seq  atomic.Uint32 // even when stable; bumped around every write
	next atomic.Uint32 // chain link, index+1
	key0 atomic.Uint64 // source and destination address
	key1 atomic.Uint64 // ports, protocol, input interface, keyValid
	to0  atomic.Uint64 // addresses after NAT
	to1  atomic.Uint64 // ports after NAT, output interface, flags
	hop  atomic.Uint64 // next hop, MTU, direction
	ref  atomic.Uint64 // the connection (conntrack.Conn.Ref)
	meta atomic.Uint64 // the connection's generation, the checksum deltas
}

// stat is what one worker stripe counted on an entry since it last
// handed its counts to conntrack (Refresh). Each worker writes its own,
// away from the entry and from the other workers' (with two workers
// sharing a flow, one line written by both would move between the cores
// on every packet).
type stat struct {
	used    atomic.Int64 // clock time of the stripe's last Refresh
	packets atomic.Uint64
	bytes   atomic.Uint64
	_       [8]byte
}

const keyValid = 1 << 63

// to1 flags.
const (
	toNAT = 1 << 56 // the addresses or ports change
)

// hit is what a lookup read from an entry, consistently.
type hit struct {
	ch       *chunk
	i        uint32 // the entry's index in ch
	to0, to1 uint64
	hop      uint64
	ref      uint64
	meta     uint64
}

// entry returns the entry the lookup read.
func (h *hit) entry() *entry { return &h.ch.e[h.i] }

// stat returns the entry's stat for worker w.
func (h *hit) stat(w uint8, t *Table) *stat {
	return &h.ch.st[(uint32(w)&(t.stripes-1))<<chunkShift|h.i]
}

func (h *hit) outIf() int16 { return int16(uint16(h.to1 >> 32)) }
func (h *hit) nat() bool    { return h.to1&toNAT != 0 }
func (h *hit) mtu() int     { return int(uint16(h.hop >> 32)) }
func (h *hit) gen() uint32  { return uint32(h.meta) }
func (h *hit) dir() int     { return int(h.hop>>48) & 1 }

// deltas are the checksum updates nat.RewriteWith applies: the flow's
// addresses, ports and TTL change the same way on every packet.
func (h *hit) deltas() (ip, l4 uint16) { return uint16(h.meta >> 32), uint16(h.meta >> 48) }
func (h *hit) nextHop() (a [4]byte) {
	binary.LittleEndian.PutUint32(a[:], uint32(h.hop))
	return
}

// newTable makes a table for up to max connections (2*max entries).
func newTable(max int) *Table {
	nb := 1024
	for nb < 2*max && nb < 1<<24 {
		nb <<= 1
	}
	stripes := uint32(1)
	for stripes < uint32(runtime.GOMAXPROCS(0)) && stripes < 16 {
		stripes <<= 1
	}
	t := &Table{
		stripes: stripes,
		buckets: make([]atomic.Uint32, nb),
		mask:    uint64(nb - 1),
		seed:    [2]uint64{rand.Uint64(), rand.Uint64()},
		max:     max,
	}
	t.chunks = make([]atomic.Pointer[chunk], (2*max+chunkSize-1)/chunkSize)
	return t
}

func addrWord(a [4]byte) uint64 { return uint64(binary.LittleEndian.Uint32(a[:])) }

// keys returns the key of a direction's tuple arriving on in.
func keys(tu *conntrack.Tuple, in int16) (k0, k1 uint64) {
	k0 = addrWord(tu.Src) | addrWord(tu.Dst)<<32
	k1 = uint64(tu.SrcPort) | uint64(tu.DstPort)<<16 | uint64(tu.Proto)<<32 | uint64(uint16(in))<<40 | keyValid
	return
}

// pktKeys returns the key of a TCP or UDP packet.
func pktKeys(pkt *packet.Packet) (k0, k1 uint64) {
	p := &pkt.Parsed
	k0 = addrWord(p.Src) | addrWord(p.Dst)<<32
	k1 = uint64(p.SrcPort) | uint64(p.DstPort)<<16 | uint64(p.IPProto)<<32 | uint64(uint16(pkt.InIf))<<40 | keyValid
	return
}

// hash spreads a key over the buckets; the input interface is left out,
// so Evict finds a connection's entries from its tuples alone. Never 0.
func (t *Table) hash(k0, k1 uint64) uint64 {
	x := (k0 ^ t.seed[0]) * 0x9e3779b97f4a7c15
	y := (k1&0xffffffffff ^ t.seed[1]) * 0xc2b2ae3d27d4eb4f
	h := x ^ y>>29 ^ y<<35
	h ^= h >> 32
	return h | 1<<63
}

func (t *Table) at(i uint32) *entry {
	return &t.chunks[i>>chunkShift].Load().e[i&(chunkSize-1)]
}

// stats calls fn with each worker stripe's stat of entry i.
func (t *Table) stats(i uint32, fn func(st *stat)) {
	ch := t.chunks[i>>chunkShift].Load()
	for w := range t.stripes {
		fn(&ch.st[w<<chunkShift|i&(chunkSize-1)])
	}
}

// prefetchBucket starts loading the bucket of hash h.
func (t *Table) prefetchBucket(h uint64) {
	prefetch.Line(unsafe.Pointer(&t.buckets[h&t.mask]))
}

// prefetchEntry starts loading the first entry of h's chain, and worker
// w's stat of it, which a hit writes.
func (t *Table) prefetchEntry(h uint64, w uint8) {
	i := t.buckets[h&t.mask].Load()
	if i == 0 {
		return
	}
	k := (i - 1) >> chunkShift
	if int(k) >= len(t.chunks) {
		return
	}
	if ch := t.chunks[k].Load(); ch != nil {
		j := (i - 1) & (chunkSize - 1)
		prefetch.Line(unsafe.Pointer(&ch.e[j]))
		prefetch.Line(unsafe.Pointer(&ch.st[(uint32(w)&(t.stripes-1))<<chunkShift|j]))
	}
}

// lookup finds the entry of key (k0, k1), hashed to h, without a lock.
// A chain that changes under it (an entry removed or reused on the way)
// is walked again from its bucket, a few times; a lookup that still
// fails sends the packet to the slow path, which is always correct.
func (t *Table) lookup(k0, k1, h uint64, out *hit) bool {
	for range 4 {
		if found, stable := t.walk(k0, k1, h, out); stable {
			return found
		}
	}
	return false
}

// walk is one lookup; stable is false when a writer got in its way.
func (t *Table) walk(k0, k1, h uint64, out *hit) (found, stable bool) {
	i := t.buckets[h&t.mask].Load()
	for n := 0; i != 0 && n < 64; n++ {
		ch := t.chunks[(i-1)>>chunkShift].Load()
		e := &ch.e[(i-1)&(chunkSize-1)]
		s := e.seq.Load()
		if s&1 != 0 {
			return false, false // being written
		}
		nx := e.next.Load()
		if e.key0.Load() == k0 && e.key1.Load() == k1 {
			out.ch, out.i = ch, (i-1)&(chunkSize-1)
			out.to0, out.to1, out.hop = e.to0.Load(), e.to1.Load(), e.hop.Load()
			out.ref, out.meta = e.ref.Load(), e.meta.Load()
			ok := e.seq.Load() == s
			return ok, ok
		}
		if e.seq.Load() != s {
			return false, false // rewritten under us: the chain may have changed
		}
		i = nx
	}
	return false, true
}

// flow is what Add puts in one direction's entry.
type flow struct {
	key     conntrack.Tuple // the packets' tuple
	in, out int16
	to      conntrack.Tuple // the tuple after NAT, as sent
	nextHop [4]byte
	mtu     int
	ref     uint64
	gen     uint32
	dir     int
	now     int64
}

// add inserts both directions of a connection, or neither when the table
// is full. The caller holds the connection's lock.
func (t *Table) add(fs *[2]flow) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live+2 > 2*t.max {
		return false
	}
	for d := range fs {
		f := &fs[d]
		i, ok := t.alloc()
		if !ok {
			if d == 1 {
				t.removeLocked(&fs[0])
			}
			return false
		}
		e := t.at(i)
		k0, k1 := keys(&f.key, f.in)
		h := t.hash(k0, k1)
		e.seq.Add(1) // odd: being written
		e.key0.Store(k0)
		e.key1.Store(k1)
		e.to0.Store(addrWord(f.to.Src) | addrWord(f.to.Dst)<<32)
		to1 := uint64(f.to.SrcPort) | uint64(f.to.DstPort)<<16 | uint64(uint16(f.out))<<32
		if f.to != f.key {
			to1 |= toNAT
		}
		e.to1.Store(to1)
		e.hop.Store(addrWord(f.nextHop) | uint64(uint16(min(f.mtu, 0xffff)))<<32 | uint64(f.dir&1)<<48)
		e.ref.Store(f.ref)
		ipd, l4d := nat.ForwardDeltas(&f.key, &f.to)
		e.meta.Store(uint64(f.gen) | uint64(ipd)<<32 | uint64(l4d)<<48)
		t.stats(i, func(st *stat) {
			st.used.Store(f.now)
			st.packets.Store(0)
			st.bytes.Store(0)
		})
		b := &t.buckets[h&t.mask]
		e.next.Store(b.Load())
		e.seq.Add(1)
		b.Store(i + 1)
		t.live++
	}
	return true
}

// alloc takes an entry off the free list, or makes one. mu is held.
func (t *Table) alloc() (uint32, bool) {
	if t.free != 0 {
		i := t.free - 1
		if t.free == t.tail {
			// The last one: its link is still its old chain's, not the
			// free list's (pushFree leaves it for readers on it).
			t.free, t.tail = 0, 0
		} else {
			t.free = t.at(i).next.Load()
		}
		return i, true
	}
	if int(t.n) >= len(t.chunks)*chunkSize {
		return 0, false
	}
	if k := t.n >> chunkShift; t.chunks[k].Load() == nil {
		t.chunks[k].Store(&chunk{st: make([]stat, t.stripes<<chunkShift)})
	}
	t.n++
	return t.n - 1, true
}

// findLocked returns the index of the entry of direction tuple key of
// connection (ref, gen), whatever its input interface, and the entry
// before it in its chain (nil at the head); ok is false when there is
// none. mu is held.
func (t *Table) findLocked(key *conntrack.Tuple, ref uint64, gen uint32) (i uint32, prev *entry, ok bool) {
	k0, k1 := keys(key, 0)
	i = t.buckets[t.hash(k0, k1)&t.mask].Load()
	for n := 0; i != 0 && n <= t.live; n++ {
		e := t.at(i - 1)
		if e.ref.Load() == ref && uint32(e.meta.Load()) == gen && e.key0.Load() == k0 &&
			(e.key1.Load()^k1)&0xffffffffff == 0 {
			return i - 1, prev, true
		}
		prev, i = e, e.next.Load()
	}
	return 0, nil, false
}

// counts sums entry i's stats over the worker stripes.
func (t *Table) counts(i uint32) (packets, bytes uint64) {
	t.stats(i, func(st *stat) {
		packets += st.packets.Load()
		bytes += st.bytes.Load()
	})
	return
}

// removeLocked unlinks the entry of f's key and connection, and returns
// it to the free list; its counters are returned. mu is held.
func (t *Table) removeLocked(f *flow) (packets, bytes uint64) {
	i, prev, ok := t.findLocked(&f.key, f.ref, f.gen)
	if !ok {
		return 0, 0
	}
	e := t.at(i)
	if nx := e.next.Load(); prev == nil {
		k0, k1 := keys(&f.key, 0)
		t.buckets[t.hash(k0, k1)&t.mask].Store(nx)
	} else {
		prev.next.Store(nx)
	}
	packets, bytes = t.counts(i)
	// A reader still on the entry follows its old link, which stays
	// good until the entry is reused; the sequence tells it when that
	// happened.
	e.seq.Add(1)
	e.key1.Store(0)
	e.seq.Add(1)
	t.pushFree(i)
	t.live--
	return packets, bytes
}

// pushFree puts entry i at the tail of the free list, to be reused last.
// Its next link is not touched until then: a reader on it still follows
// its old chain.
func (t *Table) pushFree(i uint32) {
	if t.tail == 0 {
		t.free, t.tail = i+1, i+1
		return
	}
	// The old tail's link now names i. It is free, so no chain uses the
	// link any more... except a reader that was on it when it was
	// removed; that reader checks the sequence, bumped since.
	tl := t.at(t.tail - 1)
	tl.seq.Add(1)
	tl.next.Store(i + 1)
	tl.seq.Add(1)
	t.tail = i + 1
}

// Evict implements conntrack.FlowTable: c's entries leave the table.
func (t *Table) Evict(c *conntrack.Conn) (packets, bytes [2]uint64) {
	ts := c.Tuples()
	t.mu.Lock()
	for d := range 2 {
		f := flow{key: ts[d], ref: c.Ref(), gen: c.Gen()}
		packets[d], bytes[d] = t.removeLocked(&f)
	}
	t.mu.Unlock()
	return
}

// Pending implements conntrack.FlowTable: what c's entries have counted
// since their last Refresh.
func (t *Table) Pending(c *conntrack.Conn) (packets, bytes [2]uint64) {
	ts := c.Tuples()
	t.mu.Lock()
	defer t.mu.Unlock()
	for d := range 2 {
		if i, _, ok := t.findLocked(&ts[d], c.Ref(), c.Gen()); ok {
			packets[d], bytes[d] = t.counts(i)
		}
	}
	return
}

// Len returns how many connections are offloaded.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live / 2
}
