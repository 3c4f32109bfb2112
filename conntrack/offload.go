package conntrack

import (
	"fwd/header"
	"fwd/packet"
)

// FlowTable is the fast path's table of offloaded connections (the
// flowtable package's), as conntrack sees it: what it calls when a
// connection leaves the fast path, and when it lists one. Its methods are
// called with the connection's home shard lock held; they must not call
// back into the Table.
type FlowTable interface {
	// Evict removes c's entries from the fast path and returns what they
	// counted that Refresh has not handed over yet, by direction.
	Evict(c *Conn) (packets, bytes [2]uint64)
	// Pending returns what c's entries counted that Refresh has not
	// handed over yet, by direction.
	Pending(c *Conn) (packets, bytes [2]uint64)
}

// SetFlowTable links the fast path's table. It is called once, when the
// pipeline is built, before any packet.
func (t *Table) SetFlowTable(ft FlowTable) { t.ft = ft }

// Offload moves c onto the fast path (Linux's IPS_OFFLOAD, set by nft's
// "flow add" and xt_FLOWOFFLOAD). As nft_flow_offload_eval does, it
// offloads only a confirmed connection that has seen a reply and, for
// TCP, is ESTABLISHED; other protocols than TCP and UDP are not offloaded.
// add, called under c's lock with its tuples settled, puts c's entries in
// the fast path's table and reports whether it could (the table may be
// full). Offload reports whether c is offloaded now.
//
// From then on conntrack does not see c's packets that the fast path
// takes, and the fast path keeps c alive and counted through Refresh. A
// TCP connection's windows are no longer checked, on either path, from
// then on (as in Linux); a packet the fast path leaves to the slow path
// tears the offload down first (Teardown), and conntrack picks the
// windows up again from the packets that follow, for its state machine.
func (t *Table) Offload(c *Conn, add func(c *Conn) bool) bool {
	if c == nil || !c.slab {
		return false
	}
	s := &t.shards[c.home]
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.flags&cfLive == 0 || c.status&packet.CTStatusSeenReply == 0 {
		return false
	}
	if c.status&packet.CTStatusOffload != 0 {
		return true // already
	}
	switch c.tuple[Original].Proto {
	case header.ProtoTCP:
		if c.tcp.state != TCPEstablished {
			return false
		}
	case header.ProtoUDP:
	default:
		return false
	}
	if add != nil && !add(c) {
		return false
	}
	c.status |= packet.CTStatusOffload
	if c.tuple[Original].Proto == header.ProtoTCP {
		// Conntrack will not see the fast path's segments: a packet that
		// misses it (on another interface, or one racing a teardown)
		// would meet stale windows and be INVALID. Like
		// nft_flow_offload_eval, the connection stops checking windows,
		// for good.
		c.tcp.seen[0].flags |= tfBeLiberal
		c.tcp.seen[1].flags |= tfBeLiberal
	}
	return true
}

// Ref names c's slab slot for Refresh and Teardown, which take it with
// the generation c had: a stale reference does nothing.
func (c *Conn) Ref() uint64 { return uint64(c.home)<<32 | uint64(c.idx) }

// byRef returns the connection in slot ref, locked, if it is still live,
// offloaded and of generation gen; else nil, unlocked.
func (t *Table) byRef(ref uint64, gen uint32) (*Conn, *shard) {
	home, idx := uint8(ref>>32), uint32(ref)
	if int(home) >= len(t.shards) {
		return nil, nil
	}
	s := &t.shards[home]
	s.mu.Lock()
	if idx < s.n {
		if c := s.at(idx); c.gen == gen && c.flags&cfLive != 0 && c.status&packet.CTStatusOffload != 0 {
			return c, s
		}
	}
	s.mu.Unlock()
	return nil, nil
}

// Refresh is the fast path's keepalive, once a second or so for each
// direction of an offloaded connection that has traffic (Linux's
// flow_offload_refresh): the connection's timeout starts again from now,
// and packets and bytes, what the direction dir counted since the last
// Refresh, go to its counters. A UDP connection becomes ASSURED here as
// it would on the slow path.
func (t *Table) Refresh(ref uint64, gen uint32, dir int, packets, bytes uint64, now int64) {
	c, s := t.byRef(ref, gen)
	if c == nil {
		return
	}
	c.packets[dir&1] += packets
	c.bytes[dir&1] += bytes
	if c.tuple[Original].Proto == header.ProtoUDP {
		t.udpPacket(c, now)
	} else {
		c.expires = now + t.timeout.tcp[TCPEstablished]
	}
	s.mu.Unlock()
}

// Teardown takes an offloaded connection off the fast path because one
// of its packets must take the slow path (Linux's flow_offload_teardown):
// a SYN, FIN or RST, a TTL about to expire, a packet too big for the
// route. The packet then passes conntrack and the rules as any other,
// which may offload the connection again.
func (t *Table) Teardown(ref uint64, gen uint32) {
	if c, s := t.byRef(ref, gen); c != nil {
		t.unoffloadLocked(c)
		s.mu.Unlock()
	}
}

// unoffloadLocked takes c off the fast path, if it is on it: its entries
// leave the flow table, their counts join c's, and for TCP both windows
// are forgotten, to be picked up from the next packets (Linux's
// flow_offload_fixup_tcp): conntrack saw none of the segments the fast
// path forwarded. c's home lock is held.
func (t *Table) unoffloadLocked(c *Conn) {
	if c.status&packet.CTStatusOffload == 0 {
		return
	}
	c.status &^= packet.CTStatusOffload
	if t.ft != nil {
		p, b := t.ft.Evict(c)
		c.packets[0] += p[0]
		c.packets[1] += p[1]
		c.bytes[0] += b[0]
		c.bytes[1] += b[1]
	}
	if c.tuple[Original].Proto == header.ProtoTCP {
		c.tcp.seen[0].maxwin = 0
		c.tcp.seen[1].maxwin = 0
	}
}

// snapshotLocked is c.snapshot with what the fast path has counted for
// c and not yet handed over. c's home lock is held.
func (t *Table) snapshotLocked(c *Conn, e *Entry) {
	c.snapshot(e)
	if c.status&packet.CTStatusOffload != 0 && t.ft != nil {
		p, b := t.ft.Pending(c)
		e.Packets[0] += p[0]
		e.Packets[1] += p[1]
		e.Bytes[0] += b[0]
		e.Bytes[1] += b[1]
	}
}

// ClearOffload takes every connection off the fast path; their next
// packets pass the rules again, which may offload them again. A reload
// does this, since the new rules may not offload what the old did. The
// datapath is held up for a window of slots at a time, as by Range.
func (t *Table) ClearOffload() int {
	n := 0
	t.windows(func(s *shard, lo uint32) {
		for idx := lo; idx < min(lo+scanWindow, s.n); idx++ {
			if c := s.at(idx); c.flags&cfLive != 0 && c.status&packet.CTStatusOffload != 0 {
				t.unoffloadLocked(c)
				n++
			}
		}
	}, nil)
	return n
}
