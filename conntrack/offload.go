package conntrack

import (
	"fwd/header"
	"fwd/packet"
)

// Offload marks c offloaded (Linux's IPS_OFFLOAD, set by nft's "flow add"
// and xt_FLOWOFFLOAD): from its next packet on, the flowtable stage runs
// the connection's whole path through the router at once, without the
// rules. As nft_flow_offload_eval does, it offloads only a confirmed
// connection that has seen a reply and, for TCP, is ESTABLISHED; other
// protocols than TCP and UDP are not offloaded. It reports whether c is
// offloaded now. The connection stays tracked: window checks, counters
// and timeouts go on, and a TCP connection leaving ESTABLISHED (FIN, RST)
// is no longer offloaded, so its teardown passes the rules.
func (t *Table) Offload(c *Conn) bool {
	if c == nil || !c.slab {
		return false
	}
	s := &t.shards[c.home]
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.flags&cfLive == 0 || c.status&packet.CTStatusSeenReply == 0 {
		return false
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
	c.status |= packet.CTStatusOffload
	return true
}

// ClearOffload takes every connection back from the fast path; their next
// packets pass the rules again, which may offload them again. A reload
// does this, since the new rules may not offload what the old did. The
// datapath is held up for a window of slots at a time, as by Range.
func (t *Table) ClearOffload() int {
	n := 0
	t.windows(func(s *shard, lo uint32) {
		for idx := lo; idx < min(lo+scanWindow, s.n); idx++ {
			if c := s.at(idx); c.flags&cfLive != 0 && c.status&packet.CTStatusOffload != 0 {
				c.status &^= packet.CTStatusOffload
				n++
			}
		}
	}, nil)
	return n
}
