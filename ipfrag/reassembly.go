package ipfrag

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"fwd/header"
	"fwd/packet"
)

// Config bounds a Reassembler.
type Config struct {
	// Timeout is how long a datagram may take to arrive whole, counted
	// from its first fragment to arrive (Linux's ipfrag_time: the timer
	// is not restarted by later fragments). 30 s when zero.
	Timeout time.Duration
	// HighThresh is the memory all queues may hold (buffers and
	// bookkeeping); a fragment that would take the total above it first
	// evicts the oldest queues until the total is at most LowThresh
	// (Linux's ipfrag_high_thresh / ipfrag_low_thresh). 4 MiB when zero.
	HighThresh int64
	// LowThresh is where eviction stops; 3/4 of HighThresh when zero.
	LowThresh int64
	// MaxFrags is the most fragments one datagram may have; one more
	// kills the datagram. 64 when zero.
	MaxFrags int
	// Policy resolves overlaps.
	Policy Policy
	// Local reports whether an address is one of fwd's own: a datagram
	// addressed there that times out with its first fragment in hand is
	// answered with ICMP time exceeded code 1. Nil: none is local.
	Local func(dst [4]byte) bool
}

// Status is the outcome of Add.
type Status uint8

const (
	// Dropped: the fragment was dropped under the returned reason (and
	// its datagram too when the reason says it could never complete).
	Dropped Status = iota
	// Held: the fragment was copied into its datagram's queue.
	Held
	// Duplicate: the fragment brought no new data (it lay wholly inside
	// held data under PolicyDrop, or every byte lost to held data under
	// a target-based policy) and was discarded; the datagram stays.
	Duplicate
	// Done: the datagram is whole and was written to out.
	Done
)

var statusNames = [...]string{"dropped", "held", "duplicate", "done"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// key identifies a datagram (RFC 791: "the identification ... together
// with the source, destination, and protocol").
type key struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

// piece is a run of held bytes [off, end) supplied by one fragment whose
// own extent was [fs, fe); target-based policies compare extents.
type piece struct{ off, end, fs, fe int32 }

// queue is one datagram being reassembled. Its payload bytes sit at their
// final offsets in buf.
type queue struct {
	key        key
	created    int64
	prev, next *queue // creation order; the oldest is first to expire and to be evicted

	buf    []byte  // a pooled buffer of one of the size classes
	pieces []piece // sorted by off, not overlapping

	hdr      [header.IPv4MaxSize]byte // the offset-0 fragment's header
	hdrLen   int
	firstLen int // payload bytes of the offset-0 fragment
	hasFirst bool
	total    int // payload length, -1 until the last fragment (MF=0) arrived
	held     int // bytes covered by pieces
	nfrags   int
	maxFrag  int // largest fragment (IP total length)
	inIf     int16
	mem      int64 // what this queue counts against the threshold
}

// Buffer size classes: a queue takes the smallest that holds the highest
// byte it has seen and moves up when a fragment lands further out, so
// memory accounting matches what is really held.
var classSizes = [...]int{2048, 8192, 32768, 65536}

const (
	queueOverhead = int64(unsafe.Sizeof(queue{}))
	pieceSize     = int64(unsafe.Sizeof(piece{}))
	// maxPending bounds the ICMP time exceeded messages waiting for Tick.
	maxPending = 16
	// quoteMax is the most of the first fragment an expiry quotes.
	quoteMax = header.ICMPErrorMaxSize - header.IPv4MinSize - header.ICMPv4Size
)

func classFor(n int) int {
	for i, s := range classSizes {
		if n <= s {
			return i
		}
	}
	return -1
}

// Expired is the start of a datagram whose reassembly timed out after its
// first fragment had arrived, addressed to fwd itself: the first
// fragment's header and payload, as much as an ICMP error quotes.
type Expired struct {
	Data [quoteMax]byte
	Len  int
	InIf int16
}

// Reassembler holds fragments until their datagrams are whole. It is safe
// for concurrent use; one mutex guards all of it (fragments are rare on
// the fast path, and a whole datagram costs two copies under the lock).
type Reassembler struct {
	cfg      Config
	timeout  int64
	maxFrags int

	mu       sync.Mutex // mu protects everything below it
	queues   map[key]*queue
	oldest   *queue
	newest   *queue
	mem      int64
	free     [len(classSizes)][][]byte // spare buffers by class
	freeMem  int64
	freeQ    []*queue
	pending  [maxPending]Expired
	npending int

	drops   [packet.NumDropReasons]atomic.Uint64
	Counter Counters
}

// Counters are the reassembler's totals beyond drops.
type Counters struct {
	Fragments   atomic.Uint64 // fragments given to Add
	Reassembled atomic.Uint64 // datagrams made whole
	Duplicates  atomic.Uint64 // fragments discarded as duplicates
	Overlaps    atomic.Uint64 // fragments a target-based policy trimmed
	Evicted     atomic.Uint64 // queues evicted for memory
	Expired     atomic.Uint64 // queues timed out
	ICMPLost    atomic.Uint64 // time exceeded messages lost to a full pending list
}

// New returns a Reassembler with cfg's zero fields defaulted.
func New(cfg Config) *Reassembler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HighThresh <= 0 {
		cfg.HighThresh = 4 << 20
	}
	if cfg.LowThresh <= 0 || cfg.LowThresh > cfg.HighThresh {
		cfg.LowThresh = cfg.HighThresh / 4 * 3
	}
	if cfg.MaxFrags <= 0 {
		cfg.MaxFrags = 64
	}
	hint := int(cfg.HighThresh / (int64(classSizes[0]) + queueOverhead))
	if hint > 1<<16 {
		hint = 1 << 16
	}
	return &Reassembler{
		cfg:      cfg,
		timeout:  int64(cfg.Timeout),
		maxFrags: cfg.MaxFrags,
		queues:   make(map[key]*queue, hint),
	}
}

// Config returns the configuration in force (defaults filled).
func (r *Reassembler) Config() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// SetConfig moves the reassembler to cfg (zero fields defaulted) keeping
// the queues it holds: a new timeout counts from each queue's creation, a
// lower threshold evicts on the next fragment, a new policy applies to
// fragments from now on.
func (r *Reassembler) SetConfig(cfg Config) {
	n := New(cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg, r.timeout, r.maxFrags = n.cfg, n.timeout, n.maxFrags
}

// Memory returns the bytes the queues hold now (never above HighThresh).
func (r *Reassembler) Memory() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mem
}

// Queues returns how many datagrams are being reassembled.
func (r *Reassembler) Queues() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queues)
}

// Drops returns how many held fragments were discarded, by reason: those
// of datagrams that timed out, were evicted or were killed by a later
// fragment. The fragment passed to Add when it fails is not counted here:
// its reason is returned (the pipeline counts it).
func (r *Reassembler) Drops() [packet.NumDropReasons]uint64 {
	var d [packet.NumDropReasons]uint64
	for i := range d {
		d[i] = r.drops[i].Load()
	}
	return d
}

// Add takes one fragment, frag (a valid IPv4 datagram with MF set or a
// non-zero offset), that arrived on inIf at time now. It copies what it
// needs from frag. When frag completes its datagram, Add writes the whole
// datagram at the start of out and returns its length and the largest
// fragment seen (IP total length) with status Done; out may be frag's own
// buffer. Otherwise the status says what happened and, for Dropped, why.
//
// Add also expires queues older than the timeout (see Expire).
func (r *Reassembler) Add(now int64, frag []byte, inIf int16, out []byte) (n, maxFrag int, st Status, reason packet.DropReason) {
	r.Counter.Fragments.Add(1)
	ip := header.IPv4(frag)
	if len(frag) < header.IPv4MinSize {
		return 0, 0, Dropped, packet.DropTruncated
	}
	hl := ip.HeaderLength()
	tl := int(ip.TotalLength())
	if hl < header.IPv4MinSize || tl < hl || tl > len(frag) {
		return 0, 0, Dropped, packet.DropBadTotalLength
	}
	off := ip.FragmentOffset()
	mf := ip.More()
	plen := tl - hl
	// Zero-length fragments carry nothing and only cost state; a
	// fragment that is not the last must end on an 8-byte boundary
	// (RFC 791: offsets count 8-octet units), or the next one could not
	// follow it.
	if plen == 0 || (mf && plen%8 != 0) {
		return 0, 0, Dropped, packet.DropFragBadLength
	}
	end := off + plen
	k := key{src: ip.SourceAddress(), dst: ip.DestinationAddress(), proto: ip.Protocol(), id: ip.ID()}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	q := r.queues[k]

	// The whole datagram must fit in 65 535 bytes with the smallest
	// header (Linux: ip_frag_reasm "oversized IP packet").
	if header.IPv4MinSize+end > header.IPv4MaxTotal {
		if q != nil {
			r.killLocked(q, packet.DropFragTooBig)
		}
		return 0, 0, Dropped, packet.DropFragTooBig
	}
	if q == nil {
		q = r.newQueueLocked(k, now, end)
		if q == nil {
			return 0, 0, Dropped, packet.DropFragMemory
		}
	} else if q.nfrags >= r.maxFrags {
		r.killLocked(q, packet.DropFragTooMany)
		return 0, 0, Dropped, packet.DropFragTooMany
	}

	// The last fragment fixes the length; nothing may lie beyond it and a
	// second last fragment must agree (Linux: ip_frag_queue).
	if !mf {
		if (q.total >= 0 && end != q.total) || end < q.maxEndLocked() {
			r.killLocked(q, packet.DropFragBadLength)
			return 0, 0, Dropped, packet.DropFragBadLength
		}
	} else if q.total >= 0 && end > q.total {
		r.killLocked(q, packet.DropFragBadLength)
		return 0, 0, Dropped, packet.DropFragBadLength
	}

	if end > len(q.buf) && !r.growLocked(q, end) {
		r.killLocked(q, packet.DropFragMemory)
		return 0, 0, Dropped, packet.DropFragMemory
	}

	data := frag[hl:tl]
	added, ok, why := r.placeLocked(q, int32(off), int32(end), data)
	if !ok {
		r.killLocked(q, why)
		return 0, 0, Dropped, why
	}
	if !mf {
		q.total = end
	}
	if !added {
		// Nothing new. Under PolicyDrop this is the duplicate rule; an
		// empty queue (a brand-new one) cannot get here.
		r.Counter.Duplicates.Add(1)
		return 0, 0, Duplicate, packet.DropNone
	}
	q.nfrags++
	if tl > q.maxFrag {
		q.maxFrag = tl
	}
	if off == 0 && (!q.hasFirst || r.cfg.Policy == PolicyLast) {
		copy(q.hdr[:], frag[:hl])
		q.hdrLen = hl
		q.hasFirst = true
		q.firstLen = plen
		q.inIf = inIf
	}
	if !q.hasFirst || q.total < 0 || q.held != q.total {
		return 0, 0, Held, packet.DropNone
	}

	// Whole: header of the first fragment with MF and offset cleared
	// (DF and the reserved bit kept), the new length, a fresh checksum.
	n = q.hdrLen + q.total
	if n > header.IPv4MaxTotal {
		r.killLocked(q, packet.DropFragTooBig)
		return 0, 0, Dropped, packet.DropFragTooBig
	}
	if n > len(out) {
		r.killLocked(q, packet.DropOther)
		return 0, 0, Dropped, packet.DropOther
	}
	copy(out, q.hdr[:q.hdrLen])
	copy(out[q.hdrLen:], q.buf[:q.total])
	w := header.IPv4(out[:n])
	w[2], w[3] = byte(n>>8), byte(n)
	ff := w.FlagsFragmentOffset() & (header.IPv4FlagDF | header.IPv4FlagEvil)
	w[6], w[7] = byte(ff>>8), byte(ff)
	w.UpdateChecksum()
	maxFrag = q.maxFrag
	r.Counter.Reassembled.Add(1)
	r.removeLocked(q)
	return n, maxFrag, Done, packet.DropNone
}

// maxEndLocked returns the end of the highest held byte.
func (q *queue) maxEndLocked() int {
	if len(q.pieces) == 0 {
		return 0
	}
	return int(q.pieces[len(q.pieces)-1].end)
}

// placeLocked resolves [ns, ne) against the held pieces under the policy,
// copies the bytes that win into q.buf and reports whether the fragment
// contributed anything (added) and, under PolicyDrop, whether it may stay
// (ok is false for a partial overlap). It fails (ok false, reason set)
// also when the piece list cannot grow within the memory bound.
func (r *Reassembler) placeLocked(q *queue, ns, ne int32, data []byte) (added, ok bool, reason packet.DropReason) {
	pol := r.cfg.Policy
	// Find the pieces that overlap [ns, ne): pieces[lo:hi].
	lo := 0
	for lo < len(q.pieces) && q.pieces[lo].end <= ns {
		lo++
	}
	hi := lo
	for hi < len(q.pieces) && q.pieces[hi].off < ne {
		hi++
	}
	if lo == hi {
		// No overlap: the common case.
		if !r.reservePiecesLocked(q, len(q.pieces)+1) {
			return false, false, packet.DropFragMemory
		}
		copy(q.buf[ns:ne], data)
		q.held += int(ne - ns)
		if pol == PolicyDrop {
			// Extents do not matter to PolicyDrop: merge with
			// neighbours so an in-order datagram stays one piece.
			left := lo > 0 && q.pieces[lo-1].end == ns
			right := lo < len(q.pieces) && q.pieces[lo].off == ne
			switch {
			case left && right:
				q.pieces[lo-1].end = q.pieces[lo].end
				q.pieces = append(q.pieces[:lo], q.pieces[lo+1:]...)
			case left:
				q.pieces[lo-1].end = ne
			case right:
				q.pieces[lo].off = ns
			default:
				q.insertPiece(lo, piece{ns, ne, ns, ne})
			}
		} else {
			q.insertPiece(lo, piece{ns, ne, ns, ne})
		}
		return true, true, packet.DropNone
	}
	if pol == PolicyDrop {
		// A duplicate lies wholly inside one contiguous run of held
		// bytes (Linux's inet_frag_queue_insert "fragment_within_run").
		if q.pieces[lo].off > ns || q.pieces[hi-1].end < ne {
			return false, false, packet.DropFragOverlap
		}
		for i := lo + 1; i < hi; i++ {
			if q.pieces[i].off != q.pieces[i-1].end {
				return false, false, packet.DropFragOverlap
			}
		}
		return false, true, packet.DropNone
	}
	r.Counter.Overlaps.Add(1)

	// Target-based: walk the overlapped pieces in order. Where the new
	// fragment wins, the piece gives up the overlap (keeping what lies
	// outside [ns, ne)); where the piece wins, the overlap is blocked for
	// the new fragment. The new fragment fills [ns, ne) minus the blocked
	// ranges. The result is built after the live pieces, then moved down.
	// The result has at most live+(hi-lo)+3 pieces (each overlapped
	// piece may be preceded by a new run; two remainders; a last run).
	live := len(q.pieces)
	if !r.reservePiecesLocked(q, 3*live+4) {
		return false, false, packet.DropFragMemory
	}
	cursor := ns // the new fragment's next unblocked byte
	won := false
	emitNew := func(a, b int32) {
		if a < b {
			q.pieces = append(q.pieces, piece{a, b, ns, ne})
			copy(q.buf[a:b], data[a-ns:b-ns])
			won = true
		}
	}
	q.pieces = append(q.pieces, q.pieces[:lo]...)
	for i := lo; i < hi; i++ {
		p := q.pieces[i]
		if pol.newWins(ns, ne, p.fs, p.fe) {
			if p.off < ns {
				q.pieces = append(q.pieces, piece{p.off, ns, p.fs, p.fe})
			}
			if p.end > ne {
				// The right remainder comes after the new bytes.
				emitNew(cursor, ne)
				cursor = ne
				q.pieces = append(q.pieces, piece{ne, p.end, p.fs, p.fe})
			}
			continue
		}
		// The held piece keeps its bytes: new bytes fill up to it.
		emitNew(cursor, max(p.off, ns))
		q.pieces = append(q.pieces, p)
		cursor = max(cursor, p.end)
	}
	emitNew(cursor, ne)
	q.pieces = append(q.pieces, q.pieces[hi:live]...)
	nn := copy(q.pieces, q.pieces[live:])
	q.pieces = q.pieces[:nn]
	held := 0
	for _, p := range q.pieces {
		held += int(p.end - p.off)
	}
	q.held = held
	r.accountPiecesLocked(q)
	return won, true, packet.DropNone
}

// insertPiece inserts p at index i.
func (q *queue) insertPiece(i int, p piece) {
	q.pieces = append(q.pieces, piece{})
	copy(q.pieces[i+1:], q.pieces[i:])
	q.pieces[i] = p
}

// reservePiecesLocked makes room for n pieces, within the memory bound.
func (r *Reassembler) reservePiecesLocked(q *queue, n int) bool {
	if n <= cap(q.pieces) {
		return true
	}
	c := 2 * cap(q.pieces)
	if c < n {
		c = n
	}
	if !r.makeRoomLocked(int64(c-cap(q.pieces))*pieceSize, q) {
		return false
	}
	np := make([]piece, len(q.pieces), c)
	copy(np, q.pieces)
	q.pieces = np
	r.accountPiecesLocked(q)
	return true
}

// accountPiecesLocked keeps q.mem in step with the pieces' capacity.
func (r *Reassembler) accountPiecesLocked(q *queue) {
	m := queueOverhead + int64(cap(q.pieces))*pieceSize + int64(len(q.buf))
	r.mem += m - q.mem
	q.mem = m
}

// newQueueLocked makes a queue for k whose buffer holds end bytes,
// evicting older queues when memory is short. It returns nil when even
// then the queue does not fit.
func (r *Reassembler) newQueueLocked(k key, now int64, end int) *queue {
	c := classFor(end)
	if c < 0 {
		return nil
	}
	var q *queue
	if n := len(r.freeQ); n > 0 {
		q = r.freeQ[n-1]
		r.freeQ[n-1] = nil
		r.freeQ = r.freeQ[:n-1]
	} else {
		q = &queue{pieces: make([]piece, 0, 8)}
	}
	need := queueOverhead + int64(cap(q.pieces))*pieceSize + int64(classSizes[c])
	if !r.makeRoomLocked(need, nil) {
		r.freeQ = append(r.freeQ, q)
		return nil
	}
	q.key = k
	q.created = now
	q.buf = r.getBufLocked(c)
	q.pieces = q.pieces[:0]
	q.hdrLen, q.firstLen, q.hasFirst = 0, 0, false
	q.total, q.held, q.nfrags, q.maxFrag = -1, 0, 0, 0
	q.inIf = packet.NoIf
	q.mem = 0
	r.accountPiecesLocked(q)
	r.queues[k] = q
	q.prev, q.next = r.newest, nil
	if r.newest != nil {
		r.newest.next = q
	} else {
		r.oldest = q
	}
	r.newest = q
	return q
}

// growLocked moves q to a buffer class that holds end bytes.
func (r *Reassembler) growLocked(q *queue, end int) bool {
	c := classFor(end)
	if c < 0 {
		return false
	}
	extra := int64(classSizes[c] - len(q.buf))
	if !r.makeRoomLocked(extra, q) {
		return false
	}
	nb := r.getBufLocked(c)
	for _, p := range q.pieces {
		copy(nb[p.off:p.end], q.buf[p.off:p.end])
	}
	r.putBufLocked(q.buf)
	q.buf = nb
	r.accountPiecesLocked(q)
	return true
}

// makeRoomLocked evicts the oldest queues (never keep) until need more
// bytes fit under the high threshold, going down to the low threshold
// once it has to evict at all.
func (r *Reassembler) makeRoomLocked(need int64, keep *queue) bool {
	if r.mem+need <= r.cfg.HighThresh {
		return true
	}
	for q := r.oldest; q != nil && r.mem+need > r.cfg.LowThresh; {
		next := q.next
		if q != keep {
			r.Counter.Evicted.Add(1)
			r.killLocked(q, packet.DropFragMemory)
		}
		q = next
	}
	return r.mem+need <= r.cfg.HighThresh
}

func (r *Reassembler) getBufLocked(c int) []byte {
	if n := len(r.free[c]); n > 0 {
		b := r.free[c][n-1]
		r.free[c][n-1] = nil
		r.free[c] = r.free[c][:n-1]
		r.freeMem -= int64(len(b))
		return b
	}
	return make([]byte, classSizes[c])
}

// putBufLocked keeps b for reuse while the spares stay under the low
// threshold; beyond that the garbage collector takes it.
func (r *Reassembler) putBufLocked(b []byte) {
	c := classFor(len(b))
	if c < 0 || r.freeMem+int64(len(b)) > r.cfg.LowThresh {
		return
	}
	r.free[c] = append(r.free[c], b)
	r.freeMem += int64(len(b))
}

// killLocked drops q and every fragment it holds under reason.
func (r *Reassembler) killLocked(q *queue, reason packet.DropReason) {
	r.drops[reason].Add(uint64(q.nfrags))
	r.removeLocked(q)
}

// removeLocked unlinks q and recycles its buffers.
func (r *Reassembler) removeLocked(q *queue) {
	delete(r.queues, q.key)
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		r.oldest = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		r.newest = q.prev
	}
	q.prev, q.next = nil, nil
	r.mem -= q.mem
	q.mem = 0
	r.putBufLocked(q.buf)
	q.buf = nil
	if cap(q.pieces) > 64 {
		// A pathological overlap history grew it: do not keep it.
		q.pieces = make([]piece, 0, 8)
	}
	if len(r.freeQ) < 1024 {
		r.freeQ = append(r.freeQ, q)
	}
}

// Expire drops the queues that timed out by now and returns how many.
// Add does the same on every fragment; devices call Expire (through the
// defrag stage's Tick) so that queues also expire when no fragment comes.
func (r *Reassembler) Expire(now int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expireLocked(now)
}

// expireLocked reaps from the oldest end: every queue has the same
// timeout, so creation order is expiry order.
func (r *Reassembler) expireLocked(now int64) int {
	n := 0
	for q := r.oldest; q != nil && now-q.created >= r.timeout; q = r.oldest {
		n++
		r.Counter.Expired.Add(1)
		// RFC 1122 §3.3.2: "If the reassembly timeout expires, the
		// partially-reassembled datagram MUST be discarded and an ICMP
		// Time Exceeded message sent to the source host (if fragment
		// zero has been received)." fwd does so only for datagrams
		// addressed to itself (see doc.go).
		if q.hasFirst && r.cfg.Local != nil && r.cfg.Local(q.key.dst) {
			r.queueExpiredLocked(q)
		}
		r.killLocked(q, packet.DropFragTimeout)
	}
	return n
}

func (r *Reassembler) queueExpiredLocked(q *queue) {
	if r.npending == maxPending {
		r.Counter.ICMPLost.Add(1)
		return
	}
	e := &r.pending[r.npending]
	r.npending++
	n := copy(e.Data[:], q.hdr[:q.hdrLen])
	fl := q.firstLen
	if fl > len(q.buf) {
		fl = len(q.buf)
	}
	n += copy(e.Data[n:], q.buf[:fl])
	e.Len = n
	e.InIf = q.inIf
}

// TakeExpired copies the pending time-exceeded quotes into dst, clears
// them, and returns how many it copied.
func (r *Reassembler) TakeExpired(dst []Expired) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := copy(dst, r.pending[:r.npending])
	rest := copy(r.pending[:], r.pending[n:r.npending])
	r.npending = rest
	return n
}
