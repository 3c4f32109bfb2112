package router

import (
	"sort"
	"sync"
	"time"

	"fwd/header"
	"fwd/packet"
)

// ARP is the router's neighbour cache for IPv4 over Ethernet (RFC 826,
// RFC 1122 §2.3.2, RFC 5227 for announcements): it answers requests for
// the router's own addresses, learns from what it hears, resolves next
// hops with requests, and holds the packets waiting for an answer.
//
// Entry states, after Linux's neighbour state machine (net/core/neighbour.c)
// reduced to what a router needs:
//
//	        Resolve miss: broadcast request
//	(none) ------------------------------> INCOMPLETE --- MaxTries requests
//	  ^                                      |  unanswered: queued packets
//	  |                  reply / request     |  dropped (arp-failed), entry
//	  |                  from the next hop   |  removed
//	  |                                      v
//	  |  StaleTime after     STALE <---- REACHABLE  (ReachableTime after
//	  +----------------------  |   \        ^        the last confirmation)
//	     the last confirmation |    \       | reply
//	                           | used\      |
//	                           v      v     |
//	                         PROBE: unicast requests every RetransTime;
//	                         still used meanwhile; MaxTries unanswered:
//	                         entry removed (the next packet starts over)
//
// Times are pipeline clock nanoseconds passed in by the caller (Resolve,
// Input, Tick take now); the cache never reads a clock itself.
//
// Outgoing requests and announcements go to Config.Transmit. Replies to
// requests are returned by Input, written over the request's own buffer.
//
// Locking: mu protects everything below it. Transmit is called with mu
// held (the frame is in a buffer mu guards), so it must not call back into
// the ARP; Failed is called without it.
type ARP struct {
	cfg    ARPConfig
	ifaces []Iface

	tickMu sync.Mutex       // serialises Tick, which owns failBuf
	failB  []*packet.Packet // packets failed in one Tick, handed to Failed after unlocking

	mu       sync.Mutex
	table    map[neighKey]*neigh
	ready    []*packet.Packet // released from queues, waiting for Release
	tx       [header.ARPFrameSize]byte
	now      int64 // latest time seen (for Hold, which takes none)
	annLeft  int   // gratuitous announcements still to send
	annAt    int64 // when the next one is due
	counters ARPCounters
}

// ARPConfig tunes an ARP cache. Zero values take the defaults.
type ARPConfig struct {
	// ReachableTime is how long an entry stays REACHABLE after a
	// confirmation (Linux's base_reachable_time, 30 s).
	ReachableTime time.Duration
	// StaleTime is how long an entry stays usable after its last
	// confirmation; at most (and by default) 20 minutes, the classic BSD
	// ARP cache lifetime.
	StaleTime time.Duration
	// RetransTime is the interval between requests (1 s, RFC 1122
	// §2.3.2.1: at most one request a second per destination).
	RetransTime time.Duration
	// MaxTries is how many requests are sent before giving up (3, Linux's
	// mcast_solicit and ucast_solicit).
	MaxTries int
	// QueueLen bounds the packets held per unresolved next hop; when full
	// the oldest is dropped, as Linux's unres_qlen does (default 16).
	QueueLen int
	// MaxEntries bounds the cache (default 4096); a full cache neither
	// learns nor resolves new neighbours until entries expire.
	MaxEntries int
	// Transmit sends a frame on interface ifIndex (requests, probes,
	// announcements). The frame is valid only during the call. Nil: none
	// are sent.
	Transmit func(ifIndex int, frame []byte)
	// Failed receives each held packet given up on, with pkt.Drop =
	// packet.DropARPFailed, so icmperr can answer host unreachable (RFC
	// 1812 §5.2.7.1). It owns the packet afterwards. Nil: the packet is
	// returned to Pool (if set).
	Failed func(pkt *packet.Packet)
	// Pool takes back failed packets when Failed is nil.
	Pool *packet.Pool
}

// MaxStaleTime is the longest an entry stays in the cache unconfirmed.
const MaxStaleTime = 20 * time.Minute

func (c *ARPConfig) setDefaults() {
	if c.ReachableTime <= 0 {
		c.ReachableTime = 30 * time.Second
	}
	if c.StaleTime <= 0 || c.StaleTime > MaxStaleTime {
		c.StaleTime = MaxStaleTime
	}
	if c.RetransTime <= 0 {
		c.RetransTime = time.Second
	}
	if c.MaxTries <= 0 {
		c.MaxTries = 3
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 16
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 4096
	}
}

// NeighState is an ARP cache entry's state.
type NeighState uint8

const (
	NeighNone       NeighState = iota
	NeighIncomplete            // request sent, no answer yet
	NeighReachable             // confirmed within ReachableTime
	NeighStale                 // usable; confirmation is old
	NeighProbe                 // usable; being re-confirmed by unicast requests
)

var neighStateNames = [...]string{"NONE", "INCOMPLETE", "REACHABLE", "STALE", "PROBE"}

// String returns the state as `ip neigh` prints it.
func (s NeighState) String() string {
	if int(s) < len(neighStateNames) {
		return neighStateNames[s]
	}
	return "UNKNOWN"
}

type neighKey struct {
	ifIndex int32
	ip      [4]byte
}

type neigh struct {
	mac       [6]byte
	state     NeighState
	confirmed int64 // last confirmation (or first learning)
	nextTry   int64 // when the next request is due (INCOMPLETE, PROBE)
	tries     int   // requests sent in this round
	queue     []*packet.Packet
}

// ARPCounters count ARP events.
type ARPCounters struct {
	RequestsIn, RepliesIn   uint64 // valid ARP packets received
	RepliesOut, RequestsOut uint64 // sent: answers, and requests/probes
	Announcements           uint64 // gratuitous ARP sent
	Ignored                 uint64 // malformed, not for us, or bogus sender
	Failed                  uint64 // resolutions given up
	QueueDrops              uint64 // held packets pushed out of a full queue
	Learned                 uint64 // entries created or changed by what was heard
}

// NewARP returns an ARP cache for ifaces (indexed by Iface.Index).
func NewARP(ifaces []Iface, cfg ARPConfig) *ARP {
	cfg.setDefaults()
	return &ARP{cfg: cfg, ifaces: ifaces, table: map[neighKey]*neigh{}}
}

// Ifaces returns the interfaces the cache serves.
func (a *ARP) Ifaces() []Iface { return a.ifaces }

func (a *ARP) iface(ifIndex int) *Iface {
	if ifIndex < 0 || ifIndex >= len(a.ifaces) {
		return nil
	}
	return &a.ifaces[ifIndex]
}

// transmitLocked builds a request for target on ifc into a.tx and sends
// it: broadcast, or unicast to dstMAC for a probe.
func (a *ARP) transmitLocked(ifc *Iface, target [4]byte, dstMAC [6]byte) {
	a.counters.RequestsOut++
	if a.cfg.Transmit == nil {
		return
	}
	n := header.BuildARPRequest(a.tx[:], ifc.MAC, ifc.ip, target)
	if dstMAC != header.BroadcastMAC {
		// A probe of a known neighbour is unicast (RFC 1122 §2.3.2.1,
		// Linux's ucast_solicit).
		header.Ethernet(a.tx[:]).SetDestination(dstMAC)
	}
	a.cfg.Transmit(ifc.Index, a.tx[:n])
}

// Announce sends a gratuitous ARP for each interface's address now, and
// schedules one more per interface RetransTime*2 later (RFC 5227 §2.3:
// ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 s), so neighbours that cached an
// older owner of the address switch to fwd at start.
func (a *ARP) Announce(now int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = max(a.now, now)
	a.announceLocked()
	a.annLeft = 1
	a.annAt = now + int64(2*a.cfg.RetransTime)
}

func (a *ARP) announceLocked() {
	for i := range a.ifaces {
		ifc := &a.ifaces[i]
		if ifc.ip == ([4]byte{}) {
			continue
		}
		a.counters.Announcements++
		if a.cfg.Transmit != nil {
			n := header.BuildGratuitousARP(a.tx[:], ifc.MAC, ifc.ip)
			a.cfg.Transmit(ifc.Index, a.tx[:n])
		}
	}
}

// Resolve returns the MAC address for nextHop on interface ifIndex and true
// when it is known (REACHABLE, STALE or PROBE). Otherwise it starts
// resolution (a broadcast request through Transmit, once per RetransTime)
// and returns false: the caller then Holds the packet. A STALE entry is
// used and re-confirmed by a unicast probe. Broadcast destinations resolve
// to ff:ff:ff:ff:ff:ff. Resolve allocates nothing on a hit.
func (a *ARP) Resolve(ifIndex int, nextHop [4]byte, now int64) (mac [6]byte, ok bool) {
	ifc := a.iface(ifIndex)
	if ifc == nil {
		return mac, false
	}
	if ifc.IsBroadcast(nextHop) {
		return header.BroadcastMAC, true
	}
	if nextHop == ifc.ip || nextHop == ([4]byte{}) || nextHop[0] >= 224 || nextHop[0] == 127 {
		return mac, false // never resolve our own, unspecified, multicast or loopback addresses
	}
	k := neighKey{int32(ifIndex), nextHop}
	a.mu.Lock()
	defer a.mu.Unlock()
	if now > a.now {
		a.now = now
	}
	e := a.table[k]
	if e == nil {
		if len(a.table) >= a.cfg.MaxEntries {
			return mac, false
		}
		e = &neigh{state: NeighIncomplete, tries: 1, nextTry: now + int64(a.cfg.RetransTime)}
		a.table[k] = e
		a.transmitLocked(ifc, nextHop, header.BroadcastMAC)
		return mac, false
	}
	switch e.state {
	case NeighIncomplete:
		return mac, false
	case NeighReachable:
		if now-e.confirmed < int64(a.cfg.ReachableTime) {
			return e.mac, true
		}
		e.state = NeighStale
		fallthrough
	case NeighStale:
		// Used while stale: confirm it again (Linux goes STALE -> DELAY ->
		// PROBE; fwd has no upper-layer confirmation, so it probes now).
		e.state = NeighProbe
		e.tries = 1
		e.nextTry = now + int64(a.cfg.RetransTime)
		a.transmitLocked(ifc, nextHop, e.mac)
	}
	return e.mac, true
}

// Hold queues pkt (OutIf and NextHop set, Resolve just returned false for
// them) until its next hop is resolved or given up on. When the queue for
// that next hop is full, the oldest packet is pushed out and returned with
// pkt.Drop = packet.DropQueueFull for the caller to discard; when there is
// no resolution under way (the cache is full), pkt itself is returned with
// packet.DropARPFailed. Otherwise Hold returns nil and owns pkt.
func (a *ARP) Hold(pkt *packet.Packet) (evicted *packet.Packet) {
	k := neighKey{int32(pkt.OutIf), pkt.NextHop}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.table[k]
	if e == nil {
		pkt.Drop = packet.DropARPFailed
		return pkt
	}
	if e.state != NeighIncomplete {
		// Resolved between Resolve and Hold: ready at once.
		a.ready = append(a.ready, pkt)
		return nil
	}
	if e.queue == nil {
		e.queue = make([]*packet.Packet, 0, a.cfg.QueueLen)
	}
	if len(e.queue) >= a.cfg.QueueLen {
		evicted = e.queue[0]
		copy(e.queue, e.queue[1:])
		e.queue = e.queue[:len(e.queue)-1]
		evicted.Drop = packet.DropQueueFull
		a.counters.QueueDrops++
	}
	e.queue = append(e.queue, pkt)
	return evicted
}

// Release appends to dst the held packets whose next hop has been resolved
// since the last call, in the order they were held, and returns it. The
// caller owns them again (Resolve now succeeds for each).
func (a *ARP) Release(dst []*packet.Packet) []*packet.Packet {
	a.mu.Lock()
	defer a.mu.Unlock()
	dst = append(dst, a.ready...)
	clear(a.ready)
	a.ready = a.ready[:0]
	return dst
}

// Pending reports whether Release has packets to hand back.
func (a *ARP) Pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ready) > 0
}

// resolvedLocked records mac for e, moving held packets to ready.
func (a *ARP) resolvedLocked(e *neigh, mac [6]byte, st NeighState, now int64) {
	if e.mac != mac || e.state == NeighIncomplete {
		a.counters.Learned++
	}
	e.mac = mac
	e.state = st
	e.confirmed = now
	e.tries = 0
	if len(e.queue) > 0 {
		a.ready = append(a.ready, e.queue...)
		clear(e.queue)
		e.queue = e.queue[:0]
	}
}

// Input handles an ARP frame received on interface ifIndex (the whole
// Ethernet frame). It learns the sender as RFC 826's merge algorithm and
// Linux's arp_process do:
//
//   - a request for one of our addresses creates or updates the sender's
//     entry (STALE) and is answered;
//   - a reply to us confirms an entry we asked for (REACHABLE);
//   - anything else (requests for others, gratuitous ARP) only updates an
//     entry we already have (Linux's arp_accept=0): an unsolicited packet
//     cannot plant a new entry.
//
// Held packets whose next hop is now known become ready (Release). When
// the frame is a request for our address, Input writes the reply over
// frame and returns it (header.ARPFrameSize bytes of it); else nil. Frames
// that are malformed, tagged, not addressed to us or the broadcast address,
// or claim a bogus sender are ignored. Input allocates nothing except when
// it creates an entry.
func (a *ARP) Input(ifIndex int, frame []byte, now int64) (reply []byte) {
	ifc := a.iface(ifIndex)
	eth := header.Ethernet(frame)
	if ifc == nil || eth.Validate() != header.ReasonNone || eth.PayloadOffset() != header.EthernetMinSize ||
		eth.EtherType() != header.EtherTypeARP {
		a.ignore()
		return nil
	}
	if d := eth.Destination(); d != header.BroadcastMAC && d != ifc.MAC {
		a.ignore()
		return nil
	}
	p := header.ARP(eth.Payload())
	if p.Validate() != header.ReasonNone {
		a.ignore()
		return nil
	}
	op := p.Op()
	sha, spa, tpa := p.SenderHardwareAddress(), p.SenderProtocolAddress(), p.TargetProtocolAddress()
	if (op != header.ARPRequest && op != header.ARPReply) || sha[0]&1 != 0 || sha == ifc.MAC ||
		sha == ([6]byte{}) || spa[0] >= 224 || spa[0] == 127 || spa == ifc.ip || ifc.IsBroadcast(spa) {
		// Multicast/broadcast/zero or our own hardware address, a
		// multicast, loopback or broadcast sender, or someone claiming our
		// address: never learned from or answered.
		a.ignore()
		return nil
	}
	forUs := tpa == ifc.ip && ifc.ip != ([4]byte{})
	a.mu.Lock()
	if now > a.now {
		a.now = now
	}
	if op == header.ARPRequest {
		a.counters.RequestsIn++
	} else {
		a.counters.RepliesIn++
	}
	if spa != ([4]byte{}) && ifc.OnLink(spa) {
		// Learn from senders on the connected subnet only.
		k := neighKey{int32(ifIndex), spa}
		e := a.table[k]
		switch {
		case e == nil && forUs && op == header.ARPRequest && len(a.table) < a.cfg.MaxEntries:
			e = &neigh{}
			a.table[k] = e
			a.resolvedLocked(e, sha, NeighStale, now)
		case e == nil:
		case forUs && op == header.ARPReply:
			a.resolvedLocked(e, sha, NeighReachable, now)
		case e.state == NeighIncomplete || e.mac != sha:
			// An answer to our question seen another way, or a new
			// address: usable, to be confirmed on use.
			a.resolvedLocked(e, sha, NeighStale, now)
		}
	}
	if !forUs || op != header.ARPRequest {
		a.mu.Unlock()
		return nil
	}
	a.counters.RepliesOut++
	a.mu.Unlock()
	// Answer in place. A probe (sender 0.0.0.0, RFC 5227 §2.1.1) is
	// answered to its sender's hardware address with target 0.0.0.0, as
	// Linux defends an address.
	n := header.BuildARPReply(frame, ifc.MAC, ifc.ip, sha, spa)
	return frame[:n]
}

func (a *ARP) ignore() {
	a.mu.Lock()
	a.counters.Ignored++
	a.mu.Unlock()
}

// Tick runs the timers: request retries for INCOMPLETE entries (giving up
// after MaxTries, when held packets go to Config.Failed with
// packet.DropARPFailed), probes for PROBE entries, REACHABLE -> STALE after
// ReachableTime, removal StaleTime after the last confirmation, and the
// second gratuitous announcement. Call it about every RetransTime/4 or
// more often; it takes time proportional to the cache size.
func (a *ARP) Tick(now int64) {
	a.tickMu.Lock()
	defer a.tickMu.Unlock()
	a.mu.Lock()
	if now > a.now {
		a.now = now
	}
	if a.annLeft > 0 && now >= a.annAt {
		a.annLeft--
		a.announceLocked()
	}
	failed := a.failB[:0]
	for k, e := range a.table {
		ifc := &a.ifaces[k.ifIndex]
		switch e.state {
		case NeighIncomplete:
			if now < e.nextTry {
				continue
			}
			if e.tries >= a.cfg.MaxTries {
				a.counters.Failed++
				for _, p := range e.queue {
					p.Drop = packet.DropARPFailed
					failed = append(failed, p)
				}
				clear(e.queue)
				delete(a.table, k)
				continue
			}
			e.tries++
			e.nextTry = now + int64(a.cfg.RetransTime)
			a.transmitLocked(ifc, k.ip, header.BroadcastMAC)
		case NeighProbe:
			if now >= e.nextTry {
				if e.tries >= a.cfg.MaxTries {
					a.counters.Failed++
					delete(a.table, k)
					continue
				}
				e.tries++
				e.nextTry = now + int64(a.cfg.RetransTime)
				a.transmitLocked(ifc, k.ip, e.mac)
			}
		case NeighReachable:
			if now-e.confirmed >= int64(a.cfg.ReachableTime) {
				e.state = NeighStale
			}
		}
		if e.state != NeighIncomplete && now-e.confirmed >= int64(a.cfg.StaleTime) {
			delete(a.table, k)
		}
	}
	a.mu.Unlock()
	for i, p := range failed {
		if a.cfg.Failed != nil {
			a.cfg.Failed(p)
		} else if a.cfg.Pool != nil {
			a.cfg.Pool.Put(p)
		}
		failed[i] = nil
	}
	a.failB = failed[:0]
}

// Counters returns a copy of the event counters.
func (a *ARP) Counters() ARPCounters {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counters
}

// Neighbor is one cache entry as Entries lists it (`ip neigh` style).
type Neighbor struct {
	IfIndex int
	IP      [4]byte
	MAC     [6]byte // zero while INCOMPLETE
	State   NeighState
	Held    int   // packets waiting
	Age     int64 // nanoseconds since the last confirmation
}

// Entries lists the cache, sorted by interface and address.
func (a *ARP) Entries() []Neighbor {
	a.mu.Lock()
	out := make([]Neighbor, 0, len(a.table))
	for k, e := range a.table {
		n := Neighbor{IfIndex: int(k.ifIndex), IP: k.ip, MAC: e.mac, State: e.state, Held: len(e.queue)}
		if e.state != NeighIncomplete {
			n.Age = a.now - e.confirmed
		}
		out = append(out, n)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].IfIndex != out[j].IfIndex {
			return out[i].IfIndex < out[j].IfIndex
		}
		return string(out[i].IP[:]) < string(out[j].IP[:])
	})
	return out
}
