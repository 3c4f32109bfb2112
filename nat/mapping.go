package nat

import (
	"sync"
	"sync/atomic"
	"time"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// Filtering is how inbound packets that match no connection are admitted
// to an endpoint-independent mapping (RFC 4787 §5, REQ-8; RFC 5382 REQ-3).
// The zero value is AddressAndPortDependent, Linux's behaviour.
type Filtering uint8

const (
	// AddressAndPortDependent: only a conntrack entry admits a packet,
	// i.e. only the exact remote address and port the inside host sent
	// to, while that connection lives. A packet to a live mapping from
	// anyone else is dropped silently (nat-filtered).
	AddressAndPortDependent Filtering = iota
	// AddressDependent: a packet from any port of an address the inside
	// endpoint has sent to while the mapping lives is admitted: it makes
	// a new connection DNATed to the inside endpoint.
	AddressDependent
	// EndpointIndependent: any packet to a live mapping is admitted that
	// way ("full cone").
	EndpointIndependent
)

var filteringNames = [...]string{"address-and-port-dependent", "address-dependent", "endpoint-independent"}

func (f Filtering) String() string {
	if int(f) < len(filteringNames) {
		return filteringNames[f]
	}
	return "unknown"
}

// ParseFiltering maps a name ("endpoint-independent", ...) to a Filtering.
func ParseFiltering(s string) (Filtering, bool) {
	for i, n := range filteringNames {
		if n == s {
			return Filtering(i), true
		}
	}
	return 0, false
}

// DefaultMappingTimeout is how long a mapping outlives its last connection
// (RFC 4787 REQ-5: at least 2 minutes, 5 recommended; RFC 5382 REQ-5 for
// TCP is met by conntrack's established timeout, which keeps the mapping).
const DefaultMappingTimeout = 5 * time.Minute

// Options are the NAT behaviour settings. The zero value is the default:
// address-and-port-dependent filtering, 5-minute mappings, hairpinning on,
// a random hash seed.
type Options struct {
	Filtering Filtering
	// MappingTimeout is how long a mapping lives after its last connection
	// ended; values under 2 minutes are raised to 2 minutes (REQ-5).
	MappingTimeout time.Duration
	// NoHairpin turns off the automatic source NAT of hairpinned
	// connections (REQ-9): a DNATed connection leaving by the interface it
	// came in on is then forwarded with its source untouched.
	NoHairpin bool
	// Seed keys the hashes that pick ports and addresses; 0 draws one.
	Seed uint64
}

// OptionsKey is the pipeline.Env.Shared key under which a *Options may be
// stored before the pipeline is built (tests, and the daemon once the
// configuration has a place for them).
const OptionsKey = "nat.options"

// mapKey names a mapping: an internal endpoint and the pool it is mapped
// into. remote is zero for endpoint-independent mappings and the remote
// endpoint for per-connection ones (fully_random).
type mapKey struct {
	intAddr    [4]byte
	lo, hi     [4]byte // external address range
	remote     [4]byte
	intPort    uint16
	plo, phi   uint16 // port range asked for (0,0: the default)
	remotePort uint16
	proto      uint8
}

// extKey names an external endpoint.
type extKey struct {
	addr  [4]byte
	port  uint16
	proto uint8
}

// mapping binds an internal endpoint to an external one (RFC 4787 §4.1).
// It lives while connections use it and MappingTimeout after the last one
// ended (refs counts them from conntrack's NEW and DESTROY events).
type mapping struct {
	key     mapKey
	ext     extKey
	refs    int32
	expires int64 // when refs == 0: the time it may be freed
	perConn bool  // keyed by the remote endpoint too
	// remotes are the addresses the internal endpoint sent to while the
	// mapping lived (address-dependent filtering).
	remotes []([4]byte)
}

const maxRemotes = 64

func (m *mapping) sentTo(a [4]byte) bool {
	for _, r := range m.remotes {
		if r == a {
			return true
		}
	}
	return false
}

func (m *mapping) addRemote(a [4]byte) {
	if m.sentTo(a) {
		return
	}
	if len(m.remotes) >= maxRemotes {
		copy(m.remotes, m.remotes[1:])
		m.remotes = m.remotes[:maxRemotes-1]
	}
	m.remotes = append(m.remotes, a)
}

type expiry struct {
	m  *mapping
	at int64
}

// poolKey names a portSet: one external address and protocol.
type poolKey struct {
	addr  [4]byte
	proto uint8
}

// State is the NAT state shared by the stage at every hook: the port
// sets, the mappings, and the conntrack subscription that counts their
// connections. Only new bindings take mu; translating an established
// packet reads the conntrack entry alone.
type State struct {
	ct        *conntrack.Table
	noHairpin atomic.Bool // opt.NoHairpin, read by packets without mu
	// ext lists the external addresses that have a port set (copy on
	// write), so inbound packets to other addresses skip the lock.
	ext  atomic.Pointer[[][4]byte]
	dnat atomic.Uint64 // destination bindings (made without mu)
	seed [2]uint64

	mu sync.Mutex
	// mu protects everything below.
	opt      Options
	timeout  int64 // opt.MappingTimeout in ns
	pools    map[poolKey]*portSet
	mappings map[mapKey]*mapping
	byExt    map[extKey]*mapping
	queue    []expiry // mappings whose refs fell to 0, by time (FIFO: times only grow)
	qhead    int
	sub      *conntrack.Subscription
	lost     uint64 // sub.Dropped() when last resynchronised
	rng      uint64
	stats    Stats
}

// Stats are the NAT counters.
type Stats struct {
	Mappings  int    // live mappings
	Bindings  uint64 // new connections given a source translation
	DNAT      uint64 // new connections given a destination translation
	Preserved uint64 // source NAT bindings that kept the source port
	Exhausted uint64 // new connections dropped: no free port
	Filtered  uint64 // inbound packets to a mapping dropped by the filter
	Admitted  uint64 // inbound connections admitted by a mapping's filter
	Resyncs   uint64 // refcount rebuilds after lost conntrack events
}

// NewState returns the NAT state for a conntrack table.
func NewState(ct *conntrack.Table, opt Options) *State {
	opt.MappingTimeout = clampMappingTimeout(opt.MappingTimeout)
	s := &State{
		ct:       ct,
		opt:      opt,
		timeout:  int64(opt.MappingTimeout),
		pools:    map[poolKey]*portSet{},
		mappings: map[mapKey]*mapping{},
		byExt:    map[extKey]*mapping{},
	}
	s.noHairpin.Store(opt.NoHairpin)
	seed := opt.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	s.seed = [2]uint64{mix(seed), mix(seed ^ 0x9e3779b97f4a7c15)}
	s.rng = seed | 1
	if ct != nil {
		s.sub = ct.Subscribe(8192, conntrack.EventNew|conntrack.EventDestroy)
	}
	return s
}

// isExt reports whether a is an address mappings are made on.
func (s *State) isExt(a [4]byte) bool {
	if p := s.ext.Load(); p != nil {
		for _, x := range *p {
			if x == a {
				return true
			}
		}
	}
	return false
}

// addExtLocked records a new external address; mu held.
func (s *State) addExtLocked(a [4]byte) {
	var old [][4]byte
	if p := s.ext.Load(); p != nil {
		old = *p
	}
	for _, x := range old {
		if x == a {
			return
		}
	}
	nw := append(append(make([][4]byte, 0, len(old)+1), old...), a)
	s.ext.Store(&nw)
}

// DropAddress forgets an external address: the connections source-NATed
// to it are deleted from the conntrack table and its mappings and ports
// freed. A reload calls it when an interface's address changes.
func (s *State) DropAddress(a [4]byte, now int64) {
	if s.ct != nil {
		s.ct.Delete(func(e *conntrack.Entry) bool {
			return e.Status&packet.CTStatusSNAT != 0 && e.Reply.Dst == a
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked(now)
	for k, m := range s.mappings {
		if m.ext.addr == a {
			delete(s.mappings, k)
			if s.byExt[m.ext] == m {
				delete(s.byExt, m.ext)
			}
		}
	}
	for k := range s.pools {
		if k.addr == a {
			delete(s.pools, k)
		}
	}
	var keep [][4]byte
	if p := s.ext.Load(); p != nil {
		for _, x := range *p {
			if x != a {
				keep = append(keep, x)
			}
		}
	}
	s.ext.Store(&keep)
}

// Close stops the conntrack subscription.
func (s *State) Close() {
	if s.sub != nil {
		s.sub.Close()
	}
}

// Options returns the options in effect.
func (s *State) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opt
}

// SetBehavior changes the filtering, the mapping timeout and hairpinning
// (a reload of [nat_behavior]); the seed stays. Mappings armed before keep
// their expiry.
func (s *State) SetBehavior(opt Options) {
	opt.MappingTimeout = clampMappingTimeout(opt.MappingTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opt.Filtering, s.opt.MappingTimeout, s.opt.NoHairpin = opt.Filtering, opt.MappingTimeout, opt.NoHairpin
	s.timeout = int64(opt.MappingTimeout)
	s.noHairpin.Store(opt.NoHairpin)
}

// OptionsFrom returns the options [nat_behavior] of cfg asks for (the
// defaults when cfg is nil).
func OptionsFrom(cfg *config.Config) Options {
	if cfg == nil {
		cfg = config.Default()
	}
	f, _ := ParseFiltering(cfg.NAT.Filtering) // the config checked the name
	return Options{Filtering: f, MappingTimeout: cfg.NAT.MappingTimeout, NoHairpin: !cfg.NAT.Hairpin}
}

func clampMappingTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultMappingTimeout
	}
	return max(d, 2*time.Minute)
}

// Stats returns a copy of the counters.
func (s *State) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Mappings = len(s.mappings)
	st.DNAT = s.dnat.Load()
	return st
}

// Housekeep applies pending conntrack events and frees expired mappings.
func (s *State) Housekeep(now int64) {
	s.mu.Lock()
	s.housekeepLocked(now)
	s.mu.Unlock()
}

func (s *State) housekeepLocked(now int64) {
	s.drainLocked(now)
	for s.qhead < len(s.queue) && s.queue[s.qhead].at <= now {
		e := s.queue[s.qhead]
		s.queue[s.qhead] = expiry{}
		s.qhead++
		m := e.m
		if m.refs == 0 && m.expires == e.at && s.mappings[m.key] == m {
			s.freeLocked(m)
		}
	}
	if s.qhead > 1024 && s.qhead*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.qhead = 0
	}
}

func (s *State) freeLocked(m *mapping) {
	delete(s.mappings, m.key)
	if s.byExt[m.ext] == m {
		delete(s.byExt, m.ext)
	}
	if m.ext.proto != header.ProtoTCP && m.ext.proto != header.ProtoUDP && m.ext.proto != header.ProtoICMP {
		return
	}
	if ps := s.pools[poolKey{m.ext.addr, m.ext.proto}]; ps != nil {
		ps.release(m.ext.port)
	}
}

// unrefLocked drops one connection's reference to m.
func (s *State) unrefLocked(m *mapping, now int64) {
	if m.refs > 0 {
		m.refs--
	}
	if m.refs == 0 {
		s.armLocked(m, now+s.timeout)
	}
}

// armLocked schedules m's expiry at t (never earlier than already set).
func (s *State) armLocked(m *mapping, t int64) {
	if t <= m.expires {
		t = m.expires
	}
	m.expires = t
	s.queue = append(s.queue, expiry{m, t})
}

// alive reports whether m may still be used at now.
func (m *mapping) alive(now int64) bool { return m.refs > 0 || m.expires > now }

// drainLocked applies the conntrack events waiting on the subscription;
// when events were lost it rebuilds every reference count from the table.
func (s *State) drainLocked(now int64) {
	if s.sub == nil {
		return
	}
	for {
		select {
		case ev := <-s.sub.C:
			switch ev.Type {
			case conntrack.EventNew:
				s.refEntryLocked(&ev.Entry, 1, ev.Time)
			case conntrack.EventDestroy:
				s.refEntryLocked(&ev.Entry, -1, ev.Time)
			}
			continue
		default:
		}
		break
	}
	if d := s.sub.Dropped(); d != s.lost {
		s.lost = d
		s.resyncLocked(now)
	}
}

// resyncLocked recounts every mapping's connections from the table.
func (s *State) resyncLocked(now int64) {
	s.stats.Resyncs++
	// Events that arrive later refer to connections counted here; drop
	// them first so none is counted twice.
	for {
		select {
		case <-s.sub.C:
			continue
		default:
		}
		break
	}
	for _, m := range s.mappings {
		m.refs = 0
	}
	s.ct.Range(func(e *conntrack.Entry) bool {
		s.refEntryLocked(e, 1, now)
		return true
	})
	for _, m := range s.mappings {
		if m.refs == 0 {
			s.armLocked(m, now+s.timeout)
		}
	}
}

// refEntryLocked adds delta to the references of the mappings a
// connection uses: the one its source was mapped to (SNAT: the reply
// tuple's destination) and the one that admitted it (DNAT to a mapping's
// internal endpoint: the original tuple's destination).
func (s *State) refEntryLocked(e *conntrack.Entry, delta int32, now int64) {
	if e.Status&packet.CTStatusSNAT != 0 {
		o, r := &e.Orig, &e.Reply
		k := extKey{addr: r.Dst, port: replyDstPort(r), proto: r.Proto}
		if m := s.byExt[k]; m != nil && m.key.intAddr == o.Src && m.key.intPort == origSrcPort(o) {
			s.addRefLocked(m, delta, now)
		}
	}
	if e.Status&packet.CTStatusDNAT != 0 && (e.Orig.Proto == header.ProtoTCP || e.Orig.Proto == header.ProtoUDP) {
		o, r := &e.Orig, &e.Reply
		k := extKey{addr: o.Dst, port: o.DstPort, proto: o.Proto}
		if m := s.byExt[k]; m != nil && m.key.intAddr == r.Src && m.key.intPort == r.SrcPort {
			s.addRefLocked(m, delta, now)
		}
	}
}

func (s *State) addRefLocked(m *mapping, delta int32, now int64) {
	if delta > 0 {
		m.refs++
		return
	}
	s.unrefLocked(m, now)
}

// origSrcPort is the source port of an original tuple: the port, or the
// ICMP query identifier.
func origSrcPort(t *conntrack.Tuple) uint16 { return t.SrcPort }

// replyDstPort is the destination port of a reply tuple: the port, or for
// ICMP the identifier (conntrack keeps it in SrcPort both ways).
func replyDstPort(t *conntrack.Tuple) uint16 {
	if t.Proto == header.ProtoICMP {
		return t.SrcPort
	}
	return t.DstPort
}

// next returns a pseudo-random number (splitmix64); mu held.
func (s *State) nextLocked() uint64 {
	s.rng += 0x9e3779b97f4a7c15
	return mix(s.rng)
}

// mix is murmur3's 64-bit finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func addr32(a [4]byte) uint64 {
	return uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
}

// hash2 is a keyed hash of two words.
func (s *State) hash2(a, b uint64) uint64 {
	return mix(mix(a^s.seed[0]) + b ^ s.seed[1])
}

// Counters lists the statistics as `fwd replay --stats` prints them (the
// caller adds the "nat." prefix).
func (st Stats) Counters() []pipeline.Counter {
	return []pipeline.Counter{
		{Name: "mappings", Value: uint64(st.Mappings)},
		{Name: "bindings", Value: st.Bindings},
		{Name: "dnat", Value: st.DNAT},
		{Name: "preserved", Value: st.Preserved},
		{Name: "exhausted", Value: st.Exhausted},
		{Name: "filtered", Value: st.Filtered},
		{Name: "admitted", Value: st.Admitted},
		{Name: "resyncs", Value: st.Resyncs},
	}
}
