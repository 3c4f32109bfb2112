package conntrack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

const (
	shardBits   = 6
	numShards   = 1 << shardBits // 64 shards, each with its own mutex
	chunkShift  = 8
	chunkSize   = 1 << chunkShift // connections per slab chunk
	maxPerShard = 1<<24 - 1       // slot numbers fit 24 bits of an index ref

	// reapEvery/reapVisits: every reapEvery-th insert in a shard walks
	// reapVisits slab slots looking for expired connections; the ticker
	// visits reapVisits slots for every reapEvery lookups (ReapTick).
	reapEvery  = 16
	reapVisits = 8

	// earlyDropShards is how many shards early drop looks at before
	// searching them all (Linux scans NF_CT_EVICTION_RANGE = 8 buckets).
	earlyDropShards = 8

	// chainTooLong counts an insert whose probe ran this far (Linux
	// counts chains over 50 + random 0..29 as chaintoolong).
	chainTooLong = 64
)

// Config is what a Table is made with. NewConfig fills it from fwd's
// configuration.
type Config struct {
	MaxEntries    int
	TCPLoose      bool
	TCPMaxRetrans int
	Timeouts      config.Timeouts
	// BeLiberal turns window-check failures into accepts (only RST checks
	// stay), as nf_conntrack_tcp_be_liberal=1.
	BeLiberal bool
	// IgnoreInvalidRST skips the RST sequence check
	// (nf_conntrack_tcp_ignore_invalid_rst).
	IgnoreInvalidRST bool
	// Seed for the tuple hash; 0 draws a random one.
	Seed uint64
}

// NewConfig returns the table configuration for cfg; nil gives defaults.
// Zero timeouts are replaced by Linux's defaults.
func NewConfig(cfg *config.Config) Config {
	if cfg == nil {
		cfg = config.Default()
	}
	ct := cfg.Conntrack
	c := Config{MaxEntries: ct.MaxEntries, TCPLoose: ct.TCPLoose, TCPMaxRetrans: ct.TCPMaxRetrans, Timeouts: ct.Timeouts}
	def := config.DefaultTimeouts()
	fill := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	to := &c.Timeouts
	fill(&to.TCPSynSent, def.TCPSynSent)
	fill(&to.TCPSynRecv, def.TCPSynRecv)
	fill(&to.TCPEstablished, def.TCPEstablished)
	fill(&to.TCPFinWait, def.TCPFinWait)
	fill(&to.TCPCloseWait, def.TCPCloseWait)
	fill(&to.TCPLastAck, def.TCPLastAck)
	fill(&to.TCPTimeWait, def.TCPTimeWait)
	fill(&to.TCPClose, def.TCPClose)
	fill(&to.TCPUnacknowledged, def.TCPUnacknowledged)
	fill(&to.TCPRetrans, def.TCPRetrans)
	fill(&to.UDP, def.UDP)
	fill(&to.UDPStream, def.UDPStream)
	fill(&to.ICMP, def.ICMP)
	fill(&to.Generic, def.Generic)
	return c
}

// Index into Table.tcpTimeout beyond the states.
const (
	toRetrans = int(numTCPStates)
	toUnack   = int(numTCPStates) + 1
)

// Table is the connection table: every confirmed connection, indexed by
// both of its tuples.
//
// Layout: 64 shards, chosen by the top bits of the tuple hash. Each shard
// has a mutex, the indexes of index.go and a slab of Conns in chunks. The
// hash is symmetric, so without NAT both tuples of a connection land in
// the same shard (and the same index slot) and one lock covers a packet
// in either direction. A NATed reply tuple may land in another shard; its
// alias entry there names the owning shard, and the lookup moves to that
// shard's lock.
//
// Lock order: shards in ascending index order; never two shards otherwise,
// except with TryLock.
type Table struct {
	cfg     Config
	clock   pipeline.Clock
	seed    [2]uint64
	max     int64
	count   atomic.Int64 // confirmed connections (and reservations being inserted)
	shards  [numShards]shard
	pool    sync.Pool // unconfirmed connections
	timeout struct {
		tcp                                [numTCPStates + 2]int64
		udp, udpStream, icmp, generic, ns2 int64
	}
	maxRetrans uint8
	// slowTCP turns tcpEstablished off: tests compare the two paths.
	slowTCP bool

	// Counters kept outside the shard locks.
	invalid, drop, errs atomic.Uint64

	subMu sync.Mutex                      // subMu serialises Subscribe/Close
	subs  atomic.Pointer[[]*Subscription] // copy on write
	ft    FlowTable                       // the fast path's, if any (SetFlowTable)

	reapShard atomic.Uint32
}

type shard struct {
	mu sync.Mutex
	// mu protects everything below, and the fields of every Conn in
	// this shard's slab.
	id         uint8
	main       []uint32                          // the index of this shard's connections (see index.go)
	mainp      atomic.Pointer[[]uint32]          // main, for the prefetcher, which reads it without the lock
	used       int                               // entries in main
	alias      []uint64                          // NATed reply tuples of other shards' connections
	aliasp     atomic.Pointer[[]uint64]          // alias, for the prefetcher
	aliasN     int                               // entries in alias
	chunks     []atomic.Pointer[[chunkSize]Conn] // len fixed at creation, so other shards and the prefetcher may read it
	n          uint32                            // slab high-water mark
	freeHead   uint32                            // FIFO free list (slot+1)
	freeTail   uint32
	unHead     uint32 // unassured (early-drop) list, oldest first (slot+1)
	unTail     uint32
	live       int
	cursor     uint32 // reaper position in the slab
	dropCursor uint32 // early drop's position in the slab (closingLocked)
	ops        uint32 // lookups and inserts
	reapOps    uint32 // ops when ReapTick last visited the shard
	st         shardStats
	_          [64]byte
}

type shardStats struct {
	found, ignore, insert, insertFailed, earlyDrop, searchRestart, clashResolve, chainTooLong, deleted uint64
}

// NewTable returns an empty table.
func NewTable(cfg Config, clock pipeline.Clock) *Table {
	if clock == nil {
		clock = pipeline.WallClock{}
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 262144
	}
	if cfg.MaxEntries > maxPerShard {
		cfg.MaxEntries = maxPerShard
	}
	if cfg.TCPMaxRetrans <= 0 {
		cfg.TCPMaxRetrans = 3
	}
	if cfg.TCPMaxRetrans > 255 {
		cfg.TCPMaxRetrans = 255
	}
	t := &Table{cfg: cfg, clock: clock, max: int64(cfg.MaxEntries), maxRetrans: uint8(cfg.TCPMaxRetrans)}
	if cfg.Seed != 0 {
		t.seed = [2]uint64{mix(cfg.Seed), mix(cfg.Seed ^ 0x9e3779b97f4a7c15)}
	} else {
		t.seed = [2]uint64{rand.Uint64(), rand.Uint64()}
	}
	to := cfg.Timeouts
	ns := func(d time.Duration) int64 { return int64(d) }
	t.timeout.tcp = [numTCPStates + 2]int64{
		TCPNone:        ns(to.TCPSynSent),
		TCPSynSent:     ns(to.TCPSynSent),
		TCPSynRecv:     ns(to.TCPSynRecv),
		TCPEstablished: ns(to.TCPEstablished),
		TCPFinWait:     ns(to.TCPFinWait),
		TCPCloseWait:   ns(to.TCPCloseWait),
		TCPLastAck:     ns(to.TCPLastAck),
		TCPTimeWait:    ns(to.TCPTimeWait),
		TCPClose:       ns(to.TCPClose),
		TCPSynSent2:    ns(to.TCPSynSent),
		toRetrans:      ns(to.TCPRetrans),
		toUnack:        ns(to.TCPUnacknowledged),
	}
	t.timeout.udp, t.timeout.udpStream = ns(to.UDP), ns(to.UDPStream)
	t.timeout.icmp, t.timeout.generic = ns(to.ICMP), ns(to.Generic)
	nChunks := (cfg.MaxEntries + chunkSize - 1) / chunkSize
	// The main index is sized for the table's share of max_entries at
	// a load of 0.6, so it does not grow in steady state; at 1M entries
	// it is 128 KB a shard, 8 MB in all, which mostly stays in cache.
	slots := 64
	for slots*3 < cfg.MaxEntries/numShards*5 {
		slots *= 2
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.id = uint8(i)
		s.chunks = make([]atomic.Pointer[[chunkSize]Conn], nChunks)
		s.setMainLocked(make([]uint32, slots))
		s.setAliasLocked(make([]uint64, 64))
	}
	t.pool.New = func() any { return new(Conn) }
	empty := []*Subscription{}
	t.subs.Store(&empty)
	return t
}

// FromEnv returns the pipeline's table, making it on first use from the
// environment's configuration and clock. Every conntrack stage, the
// confirm stage, NAT and the control socket share it.
func FromEnv(env *pipeline.Env) (*Table, error) {
	v, err := env.Shared("conntrack.table", func() (any, error) {
		return NewTable(NewConfig(env.Config), env.Clock), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Table), nil
}

// Clock returns the clock the table reads.
func (t *Table) Clock() pipeline.Clock { return t.clock }

// Max returns the configured maximum number of entries.
func (t *Table) Max() int { return int(t.max) }

// Count returns the number of entries (conntrack -C).
func (t *Table) Count() int { return int(t.count.Load()) }

// ---- references and slabs ----

// A ref names a connection in an alias entry (or anywhere): bit 31 the
// direction, bits 24-29 the owning shard, bits 0-23 the slab slot plus
// one (so a ref is never 0).
func makeRef(home uint8, idx uint32, dir int) uint32 {
	return uint32(dir)<<31 | uint32(home)<<24 | (idx + 1)
}

func refDir(r uint32) int    { return int(r >> 31) }
func refHome(r uint32) uint8 { return uint8(r>>24) & (numShards - 1) }
func refIdx(r uint32) uint32 { return r&0xffffff - 1 }

func (s *shard) at(idx uint32) *Conn { return &s.chunks[idx>>chunkShift].Load()[idx&(chunkSize-1)] }

func (t *Table) connOf(ref uint32) *Conn { return t.shards[refHome(ref)].at(refIdx(ref)) }

func (t *Table) shardOf(h uint64) *shard { return &t.shards[h>>(64-shardBits)] }

// allocLocked takes a slab slot: the oldest freed one, else a new one.
func (s *shard) allocLocked() *Conn {
	if s.freeHead != 0 {
		c := s.at(s.freeHead - 1)
		s.freeHead = c.next
		if s.freeHead == 0 {
			s.freeTail = 0
		}
		return c
	}
	idx := s.n
	if s.chunks[idx>>chunkShift].Load() == nil {
		ch := new([chunkSize]Conn)
		for k := range ch {
			ch[k].home, ch[k].slab, ch[k].idx = s.id, true, idx+uint32(k)
		}
		s.chunks[idx>>chunkShift].Store(ch)
	}
	s.n++
	return s.at(idx)
}

func (s *shard) pushFreeLocked(c *Conn) {
	c.next = 0
	if s.freeTail == 0 {
		s.freeHead = c.idx + 1
	} else {
		s.at(s.freeTail - 1).next = c.idx + 1
	}
	s.freeTail = c.idx + 1
}

func (s *shard) linkUnassuredLocked(c *Conn) {
	c.flags |= cfUnassured
	c.next = 0
	c.prev = s.unTail
	if s.unTail == 0 {
		s.unHead = c.idx + 1
	} else {
		s.at(s.unTail - 1).next = c.idx + 1
	}
	s.unTail = c.idx + 1
}

func (s *shard) unlinkUnassuredLocked(c *Conn) {
	if c.flags&cfUnassured == 0 {
		return
	}
	c.flags &^= cfUnassured
	if c.prev == 0 {
		s.unHead = c.next
	} else {
		s.at(c.prev - 1).next = c.next
	}
	if c.next == 0 {
		s.unTail = c.prev
	} else {
		s.at(c.next - 1).prev = c.prev
	}
	c.prev, c.next = 0, 0
}

// ---- lookups ----

// findLocked probes s (locked) for tu (hash h). It returns the first live
// connection with that tuple, its owning shard and the direction tu
// matched. Expired connections met on the way whose locks are at hand are
// freed. A NATed reply tuple of another shard's connection is returned
// without an expiry check: the caller checks it under the owner's lock.
func (t *Table) findLocked(s *shard, tu *Tuple, h uint32, now int64) (*Conn, uint8, int) {
restart:
	m := uint32(len(s.main) - 1)
	tag := h >> mainTagShift
	for i := h & m; ; i = (i + 1) & m {
		v := s.main[i]
		if v == 0 {
			break
		}
		if v>>mainTagShift != tag {
			continue
		}
		c := s.at(mainIdx(v))
		dir, ok := matchMain(c, v, tu)
		if !ok {
			continue
		}
		if c.expires <= now {
			if t.tryFreeLocked(s, c, now) {
				goto restart
			}
			continue
		}
		return c, s.id, dir
	}
	if s.aliasN == 0 {
		return nil, 0, 0
	}
	m = uint32(len(s.alias) - 1)
	for i := h & m; ; i = (i + 1) & m {
		v := s.alias[i]
		if v == 0 {
			return nil, 0, 0
		}
		if uint32(v>>32) != h {
			continue
		}
		ref := uint32(v)
		c := t.connOf(ref)
		if c.tuple[Reply] == *tu {
			return c, refHome(ref), Reply
		}
	}
}

// tryFreeLocked frees expired c whose home shard s is locked, taking the
// reply shard's lock only if it is free at once.
func (t *Table) tryFreeLocked(s *shard, c *Conn, now int64) bool {
	if c.rshard == s.id {
		t.freeLocked(c, now)
		return true
	}
	o := &t.shards[c.rshard]
	if o.mu.TryLock() {
		t.freeLocked(c, now)
		o.mu.Unlock()
		return true
	}
	return false
}

// freeLocked removes c from the table. Both its shards are locked.
func (t *Table) freeLocked(c *Conn, now int64) {
	hs, rs := &t.shards[c.home], &t.shards[c.rshard]
	switch {
	case c.flags&cfSym != 0:
		hs.removeMainLocked(c.hash[0], mainVal(c.hash[0], c.idx, mainSym))
	case hs == rs:
		hs.removeMainLocked(c.hash[0], mainVal(c.hash[0], c.idx, 0))
		hs.removeMainLocked(c.hash[1], mainVal(c.hash[1], c.idx, mainReply))
	default:
		hs.removeMainLocked(c.hash[0], mainVal(c.hash[0], c.idx, 0))
		rs.removeAliasLocked(c.hash[1], makeRef(c.home, c.idx, Reply))
	}
	hs.unlinkUnassuredLocked(c)
	t.unoffloadLocked(c)
	t.emitLocked(EventDestroy, c, now)
	c.gen++
	c.flags = 0
	c.status |= packet.CTStatusDying
	hs.pushFreeLocked(c)
	hs.live--
	hs.st.deleted++
	t.count.Add(-1)
}

// reapLocked walks up to visits slab slots of s from its cursor and frees
// the expired connections it meets: the incremental reaper.
func (t *Table) reapLocked(s *shard, now int64, visits int) (freed int) {
	for ; visits > 0 && s.n > 0; visits-- {
		if s.cursor >= s.n {
			s.cursor = 0
		}
		c := s.at(s.cursor)
		s.cursor++
		if c.flags&cfLive != 0 && c.expires <= now && t.tryFreeLocked(s, c, now) {
			freed++
		}
	}
	return freed
}

// closingScan is how many slab slots of a shard early drop looks through
// for a closing TCP connection when nothing unassured is left.
const closingScan = 64

// closingLocked walks up to visits slab slots of s from its drop cursor
// and returns the live TCP connection in a closing state (FIN_WAIT,
// CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE) that expires first, or nil.
func (s *shard) closingLocked(visits int) *Conn {
	var best *Conn
	for ; visits > 0 && s.n > 0; visits-- {
		if s.dropCursor >= s.n {
			s.dropCursor = 0
		}
		c := s.at(s.dropCursor)
		s.dropCursor++
		if c.flags&cfLive != 0 && c.tuple[Original].Proto == header.ProtoTCP && tcpCanEarlyDrop(c.tcp.state) &&
			(best == nil || c.expires < best.expires) {
			best = c
		}
	}
	return best
}

// ReapTick is the ticker's reaping: in every shard it walks base slab
// slots, and as many more as the shard's traffic since the last tick
// asks for (reapVisits for every reapEvery lookups, up to a cap that
// keeps a lock hold short). Lookups do not reap: this sweep, in runs of
// slots under one lock, costs less than a few slots at a time on the
// packet path, and an expired connection is invisible to lookups
// anyway. It returns how many connections it freed.
func (t *Table) ReapTick(base int) int {
	now := t.clock.Now()
	freed := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		visits := base + int(s.ops-s.reapOps)/reapEvery*reapVisits
		s.reapOps = s.ops
		freed += t.reapLocked(s, now, min(visits, maxReapVisits))
		s.mu.Unlock()
	}
	return freed
}

// maxReapVisits caps the slots one shard's ReapTick visits under its
// lock (some tens of microseconds).
const maxReapVisits = 8192

// Reap walks the shards in turn for up to budget slab slots and frees
// expired connections; it returns how many it freed.
func (t *Table) Reap(budget int) int {
	now := t.clock.Now()
	freed := 0
	per := budget / numShards
	if per < 16 {
		per = 16
	}
	for budget > 0 {
		s := &t.shards[t.reapShard.Add(1)%numShards]
		s.mu.Lock()
		freed += t.reapLocked(s, now, per)
		s.mu.Unlock()
		budget -= per
	}
	return freed
}

// lookup finds the live connection with tuple tu. On success the
// connection's home shard is locked and returned; the caller unlocks it.
func (t *Table) lookup(tu *Tuple, now int64) (*Conn, int, *shard) {
	return t.lookupHashed(tu, hashTuple(tu, t.seed), nil, now)
}

// lookupHashed is lookup with tu's hash h already at hand, and perhaps
// a hint: the connection the prefetch pass found for it without the lock.
func (t *Table) lookupHashed(tu *Tuple, h uint64, hint *Conn, now int64) (*Conn, int, *shard) {
	s := t.shardOf(h)
	if hint != nil && hint.home != s.id {
		// The hint came from s's alias index: tu is the NATed reply
		// tuple of a connection of another shard. Go straight to the
		// owner's lock; if tu is still that connection's reply tuple,
		// indexed in s, it is the one the alias entry names.
		hs := &t.shards[hint.home]
		hs.mu.Lock()
		if hint.flags&cfLive != 0 && hint.expires > now && hint.rshard == s.id && hint.tuple[Reply] == *tu {
			hs.st.found++
			return hint, Reply, hs
		}
		hs.mu.Unlock()
		hint = nil
	}
	for attempt := 0; attempt < 4; attempt++ {
		s.mu.Lock()
		s.ops++ // the ticker reaps in proportion (ReapTick)
		if hint != nil && hint.home == s.id && hint.flags&cfLive != 0 && hint.expires > now {
			// A live connection of this shard with tu as one of its
			// tuples is the one the index would find: tuples are
			// unique among live connections.
			dir := -1
			if hint.tuple[Original] == *tu {
				dir = Original
			} else if hint.tuple[Reply] == *tu {
				dir = Reply
			}
			if dir >= 0 {
				s.st.found++
				return hint, dir, s
			}
		}
		c, home, dir := t.findLocked(s, tu, uint32(h), now)
		if c == nil {
			s.mu.Unlock()
			return nil, 0, nil
		}
		if home == s.id {
			s.st.found++
			return c, dir, s
		}
		// The entry belongs to another shard (a NATed reply tuple): move
		// to the owner's lock and check the slot was not reused meanwhile.
		gen := c.gen
		s.mu.Unlock()
		hs := &t.shards[home]
		hs.mu.Lock()
		if c.gen == gen && c.flags&cfLive != 0 {
			if c.expires > now {
				hs.st.found++
				return c, dir, hs
			}
			hs.mu.Unlock()
			t.kill(home, c.idx, gen, now)
		} else {
			hs.st.searchRestart++
			hs.mu.Unlock()
		}
	}
	return nil, 0, nil
}

// Lookup returns a copy of the live connection with tuple tu in either
// direction, and the direction tu matched.
func (t *Table) Lookup(tu Tuple) (e Entry, dir int, ok bool) {
	c, dir, hs := t.lookup(&tu, t.clock.Now())
	if c == nil {
		return Entry{}, 0, false
	}
	t.snapshotLocked(c, &e)
	hs.mu.Unlock()
	return e, dir, true
}

// TupleTaken reports whether a live connection other than ignore uses tu
// in either direction; NAT asks it of candidate reply tuples
// (nf_conntrack_tuple_taken).
func (t *Table) TupleTaken(tu Tuple, ignore *Conn) bool {
	c, _, hs := t.lookup(&tu, t.clock.Now())
	if c == nil {
		return false
	}
	hs.mu.Unlock()
	return c != ignore
}

func lockPair(a, b *shard) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.id < b.id:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

func unlockPair(a, b *shard) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}

// kill frees the connection in slot idx of shard home if its generation
// is still gen. No shard lock may be held.
func (t *Table) kill(home uint8, idx uint32, gen uint32, now int64) bool {
	hs := &t.shards[home]
	for {
		hs.mu.Lock()
		if idx >= hs.n {
			hs.mu.Unlock()
			return false
		}
		c := hs.at(idx)
		if c.gen != gen || c.flags&cfLive == 0 {
			hs.mu.Unlock()
			return false
		}
		r := c.rshard
		if r == home {
			t.freeLocked(c, now)
			hs.mu.Unlock()
			return true
		}
		rs := &t.shards[r]
		if r > home || rs.mu.TryLock() {
			if r > home {
				rs.mu.Lock()
			}
			t.freeLocked(c, now)
			rs.mu.Unlock()
			hs.mu.Unlock()
			return true
		}
		hs.mu.Unlock()
		lockPair(hs, rs)
		ok := c.gen == gen && c.flags&cfLive != 0 && c.rshard == r
		if ok {
			t.freeLocked(c, now)
		}
		unlockPair(hs, rs)
		if ok || c.gen != gen || c.flags&cfLive == 0 {
			return ok
		}
	}
}

// Kill removes c if it is still the connection it was (same generation).
func (t *Table) Kill(c *Conn, gen uint32) bool {
	return t.kill(c.home, c.idx, gen, t.clock.Now())
}

// earlyDrop frees the oldest connection that is not ASSURED, looking
// first at earlyDropShards shards from start, then at all of them
// (Linux's early_drop). It reports whether one was freed.
func (t *Table) earlyDrop(start uint8, now int64) bool {
	type cand struct {
		home      uint8
		idx, gen  uint32
		startTime int64
		ok        bool
	}
	var best cand
	reaped := 0
	look := func(i int) {
		s := &t.shards[(int(start)+i)%numShards]
		s.mu.Lock()
		reaped += t.reapLocked(s, now, reapVisits)
		if s.unHead != 0 {
			c := s.at(s.unHead - 1)
			if !best.ok || c.start < best.startTime {
				best = cand{s.id, c.idx, c.gen, c.start, true}
			}
		}
		s.mu.Unlock()
	}
	// A small table has a handful of entries a shard: search them all,
	// so the oldest goes whichever shard holds it.
	n := earlyDropShards
	if t.max <= numShards*earlyDropShards {
		n = numShards
	}
	for i := 0; i < n; i++ {
		look(i)
	}
	for i := n; i < numShards && !best.ok && reaped == 0; i++ {
		look(i)
	}
	if reaped > 0 {
		return true // expired entries made room
	}
	if !best.ok {
		// Every connection is ASSURED. Linux still lets TCP connections
		// that are closing go (tcp_can_early_drop): a table full of
		// TIME_WAIT must not refuse new connections for two minutes.
		// The one nearest its end among a window of slots of the shards
		// searched above goes.
		for i := 0; i < n; i++ {
			s := &t.shards[(int(start)+i)%numShards]
			s.mu.Lock()
			if c := s.closingLocked(closingScan); c != nil && (!best.ok || c.expires < best.startTime) {
				best = cand{s.id, c.idx, c.gen, c.expires, true}
			}
			s.mu.Unlock()
		}
	}
	if !best.ok {
		return false
	}
	if t.kill(best.home, best.idx, best.gen, now) {
		s := &t.shards[best.home]
		s.mu.Lock()
		s.st.earlyDrop++
		s.mu.Unlock()
		return true
	}
	return false
}

// reserve takes room for one more entry, evicting if the table is full.
func (t *Table) reserve(start uint8, now int64) bool {
	for i := 0; i < 3; i++ {
		if t.count.Add(1) <= t.max {
			return true
		}
		t.count.Add(-1)
		if !t.earlyDrop(start, now) {
			return false
		}
	}
	return false
}

// newConn returns a blank unconfirmed connection from the pool.
func (t *Table) newConn() *Conn {
	c := t.pool.Get().(*Conn)
	*c = Conn{}
	c.flags = cfPooled
	return c
}

// Confirm inserts the unconfirmed connection the packet carries, as
// __nf_conntrack_confirm does when a packet leaves the last hook. Packets
// without an unconfirmed connection pass untouched. A clash with an entry
// made meanwhile for the same flow (two first packets in one batch) is
// resolved by attaching the packet to that entry when both tuples agree
// (clash_resolve); otherwise the packet is dropped (insert_failed). A full
// table that cannot early-drop anything drops the packet as table-full.
func (t *Table) Confirm(pkt *packet.Packet) pipeline.Verdict {
	u, ok := pkt.CT.(*Conn)
	if !ok || u == nil || u.slab || pkt.CTState == packet.CTRelated {
		return pipeline.Continue
	}
	now := t.clock.Now()
	h0 := hashTuple(&u.tuple[0], t.seed)
	h1 := hashTuple(&u.tuple[1], t.seed)
	s0, s1 := t.shardOf(h0), t.shardOf(h1)
	if !t.reserve(s0.id, now) {
		t.drop.Add(1)
		t.release(pkt, u)
		pkt.Drop = packet.DropTableFull
		return pipeline.Drop
	}
	lockPair(s0, s1)
	s0.ops++
	if s0.ops%reapEvery == 0 {
		t.reapLocked(s0, now, reapVisits)
	}
	if w := t.clashLocked(s0, s1, u, uint32(h0), uint32(h1), now); w != nil {
		t.count.Add(-1)
		if w.tuple == u.tuple {
			// The same flow, confirmed by an earlier packet of this
			// batch: carry on with the winner.
			s0.st.clashResolve++
			w.packets[Original]++
			w.bytes[Original] += uint64(pkt.Parsed.Length)
			pkt.CT = w
			pkt.CTStatus = w.status
			pkt.CTMark = w.mark
			unlockPair(s0, s1)
			t.putConn(u)
			return pipeline.Continue
		}
		s0.st.insertFailed++
		unlockPair(s0, s1)
		t.drop.Add(1)
		t.release(pkt, u)
		pkt.Drop = packet.DropCTInvalid
		return pipeline.Drop
	}
	c := s0.allocLocked()
	idx, gen := c.idx, c.gen
	c.connData = u.connData
	c.gen = gen
	c.rshard = s1.id
	c.hash = [2]uint32{uint32(h0), uint32(h1)}
	c.flags = cfConfirmed | cfLive
	c.status |= packet.CTStatusConfirmed
	c.status &^= packet.CTStatusDying
	switch {
	case h0 == h1:
		// Mirror-image tuples: one index entry serves both.
		c.flags |= cfSym
		s0.insertMainLocked(uint32(h0), mainVal(uint32(h0), idx, mainSym))
	case s0 == s1:
		s0.insertMainLocked(uint32(h0), mainVal(uint32(h0), idx, 0))
		s0.insertMainLocked(uint32(h1), mainVal(uint32(h1), idx, mainReply))
	default:
		s0.insertMainLocked(uint32(h0), mainVal(uint32(h0), idx, 0))
		s1.insertAliasLocked(uint32(h1), makeRef(s0.id, idx, Reply))
	}
	if c.status&packet.CTStatusAssured == 0 {
		s0.linkUnassuredLocked(c)
	}
	s0.live++
	s0.st.insert++
	t.emitLocked(EventNew, c, now)
	pkt.CT = c
	pkt.CTStatus = c.status
	unlockPair(s0, s1)
	t.putConn(u)
	return pipeline.Continue
}

// clashLocked returns a live entry that already uses one of u's tuples.
// s0 and s1 are locked.
func (t *Table) clashLocked(s0, s1 *shard, u *Conn, h0, h1 uint32, now int64) *Conn {
	locked := func(x uint8) bool { return x == s0.id || x == s1.id }
	for d, s := range [2]*shard{s0, s1} {
		h := h0
		if d == 1 {
			h = h1
		}
	again:
		for _, c := range t.candidatesLocked(s, &u.tuple[d], h) {
			if c == nil {
				break
			}
			if locked(c.home) && c.expires <= now {
				if locked(c.rshard) {
					t.freeLocked(c, now)
					goto again
				}
				continue
			}
			return c
		}
	}
	return nil
}

// candidatesLocked returns up to four connections of s's indexes that use
// tu (more than one only when expired ones linger); the rest are nil.
func (t *Table) candidatesLocked(s *shard, tu *Tuple, h uint32) (out [4]*Conn) {
	n := 0
	m := uint32(len(s.main) - 1)
	tag := h >> mainTagShift
	for i := h & m; s.main[i] != 0 && n < len(out); i = (i + 1) & m {
		v := s.main[i]
		if v>>mainTagShift != tag {
			continue
		}
		c := s.at(mainIdx(v))
		if _, ok := matchMain(c, v, tu); ok {
			out[n] = c
			n++
		}
	}
	m = uint32(len(s.alias) - 1)
	for i := h & m; s.alias[i] != 0 && n < len(out); i = (i + 1) & m {
		v := s.alias[i]
		if uint32(v>>32) != h {
			continue
		}
		if c := t.connOf(uint32(v)); c.tuple[Reply] == *tu {
			out[n] = c
			n++
		}
	}
	return out
}

func (t *Table) putConn(u *Conn) {
	u.flags = 0
	t.pool.Put(u)
}

// release detaches and recycles an unconfirmed connection from a packet
// that will not be confirmed.
func (t *Table) release(pkt *packet.Packet, u *Conn) {
	pkt.CT = nil
	t.putConn(u)
}

// SetMark sets a connection's mark (CONNMARK).
func (t *Table) SetMark(c *Conn, mark uint32) {
	if !c.slab {
		c.mark = mark
		return
	}
	s := &t.shards[c.home]
	s.mu.Lock()
	c.mark = mark
	s.mu.Unlock()
}

// SetStatus ORs status bits into a connection.
func (t *Table) SetStatus(c *Conn, bits packet.CTStatus) {
	if !c.slab {
		c.status |= bits
		return
	}
	s := &t.shards[c.home]
	s.mu.Lock()
	c.status |= bits
	s.mu.Unlock()
}

// Snapshot copies c under its lock.
func (t *Table) Snapshot(c *Conn) Entry {
	var e Entry
	if !c.slab {
		c.snapshot(&e)
		return e
	}
	s := &t.shards[c.home]
	s.mu.Lock()
	t.snapshotLocked(c, &e)
	s.mu.Unlock()
	return e
}

// ---- listing, deleting, flushing ----

// Filter selects entries for Delete and listing; nil fields match all.
type Filter func(e *Entry) bool

// scanWindow is how many slab slots a listing or a deletion looks at
// under one hold of a shard's lock. At a few tens of nanoseconds a slot,
// a packet of that shard waits for the CLI a few microseconds at most,
// however large the table.
const scanWindow = 256

// scanLocked copies the live entries of s's slab slots [lo,
// lo+scanWindow) into buf, with their slots and generations; expired ones
// that are not freed yet too when withExpired.
func (t *Table) scanLocked(s *shard, lo uint32, now int64, withExpired bool, buf []scanned) []scanned {
	hi := min(lo+scanWindow, s.n)
	for idx := lo; idx < hi; idx++ {
		c := s.at(idx)
		if c.flags&cfLive == 0 || c.expires <= now && !withExpired {
			continue
		}
		buf = append(buf, scanned{idx: idx, gen: c.gen})
		t.snapshotLocked(c, &buf[len(buf)-1].e)
	}
	return buf
}

type scanned struct {
	e        Entry
	idx, gen uint32
}

// scan calls fn with every live entry, a window of slab slots at a
// time: each window is copied under its shard's lock and handed to fn
// after the lock is released. fn returns false to stop.
func (t *Table) scan(withExpired bool, fn func(home uint8, v []scanned) bool) {
	now := t.clock.Now()
	var buf []scanned
	t.windows(func(s *shard, lo uint32) {
		buf = t.scanLocked(s, lo, now, withExpired, buf[:0])
	}, func(s *shard) bool { return fn(s.id, buf) })
}

// windows walks every shard's slab a window of slots (scanWindow) at a
// time: locked calls locked with the shard's lock held and the window's
// first slot, then unlocked (if not nil) runs without the lock and may
// stop the walk by returning false.
func (t *Table) windows(locked func(s *shard, lo uint32), unlocked func(s *shard) bool) {
	for i := range t.shards {
		s := &t.shards[i]
		for lo := uint32(0); ; lo += scanWindow {
			s.mu.Lock()
			if lo >= s.n {
				s.mu.Unlock()
				break
			}
			locked(s, lo)
			s.mu.Unlock()
			if unlocked != nil && !unlocked(s) {
				return
			}
		}
	}
}

// Range calls fn with a copy of every live entry. fn runs with no lock
// held and may stop the walk by returning false. The datapath is never
// held up for more than a window of slots (scanWindow).
func (t *Table) Range(fn func(e *Entry) bool) {
	t.scan(false, func(_ uint8, v []scanned) bool {
		for j := range v {
			if !fn(&v[j].e) {
				return false
			}
		}
		return true
	})
}

// Delete removes every entry f selects (nil: all) and returns how many
// (conntrack -D), expired entries not yet reaped included. f runs with
// no lock held; each entry it selects is killed only if its slot still
// holds the connection f saw.
func (t *Table) Delete(f Filter) int {
	now := t.clock.Now()
	n := 0
	t.scan(true, func(home uint8, v []scanned) bool {
		for j := range v {
			if (f == nil || f(&v[j].e)) && t.kill(home, v[j].idx, v[j].gen, now) {
				n++
			}
		}
		return true
	})
	return n
}

// Flush removes every entry (conntrack -F).
func (t *Table) Flush() int { return t.Delete(nil) }

// ---- statistics ----

// Stats are the table's counters under conntrack -S's names.
type Stats struct {
	Found, Invalid, Ignore, Insert, InsertFailed, Drop, EarlyDrop, Error,
	SearchRestart, ClashResolve, ChainTooLong uint64
	Entries, Max int
}

// Stats sums the counters of every shard.
func (t *Table) Stats() Stats {
	st := Stats{Invalid: t.invalid.Load(), Drop: t.drop.Load(), Error: t.errs.Load(),
		Entries: t.Count(), Max: int(t.max)}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		x := s.st
		s.mu.Unlock()
		st.Found += x.found
		st.Ignore += x.ignore
		st.Insert += x.insert
		st.InsertFailed += x.insertFailed
		st.EarlyDrop += x.earlyDrop
		st.SearchRestart += x.searchRestart
		st.ClashResolve += x.clashResolve
		st.ChainTooLong += x.chainTooLong
	}
	return st
}

// Counters lists the statistics in conntrack -S order.
func (s Stats) Counters() []pipeline.Counter {
	return []pipeline.Counter{
		{Name: "found", Value: s.Found},
		{Name: "invalid", Value: s.Invalid},
		{Name: "ignore", Value: s.Ignore},
		{Name: "insert", Value: s.Insert},
		{Name: "insert_failed", Value: s.InsertFailed},
		{Name: "drop", Value: s.Drop},
		{Name: "early_drop", Value: s.EarlyDrop},
		{Name: "error", Value: s.Error},
		{Name: "search_restart", Value: s.SearchRestart},
		{Name: "clash_resolve", Value: s.ClashResolve},
		{Name: "chaintoolong", Value: s.ChainTooLong},
	}
}
