package nat

import (
	"crypto/rand"
	"encoding/binary"

	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
)

// maxAttempts bounds the candidate ports tried against the conntrack
// table for one binding (nf_nat_core.c's NF_NAT_MAX_ATTEMPTS).
const maxAttempts = 128

// maxAddrTries bounds how many addresses of a range are tried when the
// first one's ports are exhausted.
const maxAddrTries = 256

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// hasPortSpace reports whether proto's tuples carry ports or identifiers
// that NAT allocates (TCP, UDP, ICMP queries).
func hasPortSpace(proto uint8) bool {
	return proto == header.ProtoTCP || proto == header.ProtoUDP || proto == header.ProtoICMP
}

// withExt returns reply tuple r with its destination (the external
// endpoint of a source NAT) set to a:p. ICMP keeps the identifier in
// SrcPort in both directions.
func withExt(r conntrack.Tuple, a [4]byte, p uint16) conntrack.Tuple {
	r.Dst = a
	switch r.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		r.DstPort = p
	case header.ProtoICMP:
		r.SrcPort = p
	}
	return r
}

// bindResult is how a binding attempt ended.
type bindResult uint8

const (
	bound     bindResult = iota // the reply tuple was set
	exhausted                   // no free port or address: drop nat-exhausted
	failed                      // the entry is confirmed or gone: leave it
)

// bindSource gives connection c's source the external address in
// [lo, hi] and a port (RFC 4787 §4: endpoint-independent mapping, port
// preservation, parity and the 1024 boundary kept) and sets its reply
// tuple. The first packet of the connection is at POSTROUTING.
func (s *State) bindSource(c *conntrack.Conn, lo, hi [4]byte, plo, phi uint16, hasPorts bool, flags Flags, now int64) bindResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.housekeepLocked(now)
	o, r := c.Original(), c.ReplyTuple()
	proto := o.Proto
	nAddr := addr32(hi) - addr32(lo) + 1
	first := uint64(0)
	if nAddr > 1 {
		// Paired pooling (RFC 4787 REQ-2): an internal address gets the
		// same external address for all its mappings; fully_random
		// spreads every connection.
		h := s.hash2(addr32(o.Src), 0)
		if flags&FullyRandom != 0 {
			h = s.nextLocked()
		}
		first = h % nAddr
	}
	if !hasPortSpace(proto) {
		for i := uint64(0); i < min(nAddr, maxAddrTries); i++ {
			a := addrAdd(lo, (first+i)%nAddr)
			cand := withExt(r, a, 0)
			if !s.ct.TupleTaken(cand, c) && c.SetReplyTuple(cand) {
				s.stats.Bindings++
				return bound
			}
		}
		s.stats.Exhausted++
		return exhausted
	}
	if !hasPorts {
		plo, phi = 0, 0
	}
	key := mapKey{intAddr: o.Src, intPort: o.SrcPort, lo: lo, hi: hi, plo: plo, phi: phi, proto: proto}
	perConn := flags&FullyRandom != 0
	if perConn {
		key.remote, key.remotePort = r.Src, r.SrcPort
	}
	for pass := 0; pass < 2; pass++ {
		m := s.mappings[key]
		if m == nil {
			break
		}
		if !m.alive(now) {
			s.freeLocked(m)
			break
		}
		cand := withExt(r, m.ext.addr, m.ext.port)
		if !s.ct.TupleTaken(cand, c) {
			if !c.SetReplyTuple(cand) {
				return failed
			}
			m.addRemote(r.Src)
			if m.refs == 0 {
				s.armLocked(m, now+s.timeout) // REQ-6: outbound refresh
			}
			s.stats.Bindings++
			return bound
		}
		// The mapping's external endpoint already talks to this remote
		// endpoint (a connection of the router itself, or one that
		// clashed): this connection gets a mapping of its own.
		if perConn {
			break
		}
		perConn = true
		key.remote, key.remotePort = r.Src, r.SrcPort
	}
	for i := uint64(0); i < min(nAddr, maxAddrTries); i++ {
		a := addrAdd(lo, (first+i)%nAddr)
		pk := poolKey{a, proto}
		ps := s.pools[pk]
		if ps == nil {
			ps = newPortSet()
			s.pools[pk] = ps
			s.addExtLocked(a)
		}
		p, preserved, ok := s.pickPortLocked(ps, c, &o, &r, a, plo, phi, hasPorts, flags)
		if !ok {
			continue
		}
		cand := withExt(r, a, p)
		if !c.SetReplyTuple(cand) {
			return failed
		}
		ps.take(p)
		m := &mapping{key: key, ext: extKey{a, p, proto}, perConn: perConn}
		m.addRemote(r.Src)
		s.mappings[key] = m
		s.byExt[m.ext] = m
		s.armLocked(m, now+s.timeout) // refs stay 0 until conntrack confirms
		s.stats.Bindings++
		if preserved {
			s.stats.Preserved++
		}
		return bound
	}
	s.stats.Exhausted++
	return exhausted
}

// pickPortLocked chooses a free external port (or ICMP identifier) on
// address a for the internal endpoint of o. mu held.
func (s *State) pickPortLocked(ps *portSet, c *conntrack.Conn, o, r *conntrack.Tuple, a [4]byte, plo, phi uint16, hasPorts bool, flags Flags) (port uint16, preserved, ok bool) {
	want := o.SrcPort
	var lo, hi uint16
	par := anyParity
	if o.Proto == header.ProtoICMP {
		lo, hi = 0, 65535
		if hasPorts {
			lo, hi = plo, phi
		}
	} else {
		lo, hi = 1, 65535
		if hasPorts {
			lo, hi = plo, phi
		}
		lo, hi = portRange(lo, hi, want)
		par = parityOf(want) // RFC 4787 REQ-4: port parity preserved
	}
	// Port preservation (RFC 4787 §4.2.1): keep the internal port when it
	// is free and in range, unless a random flag asks otherwise.
	if flags&(Random|FullyRandom) == 0 && want >= lo && want <= hi && !ps.taken(want) &&
		!s.ct.TupleTaken(withExt(*r, a, want), c) {
		return want, true, true
	}
	start := ps.cursor
	span := uint64(hi) - uint64(lo) + 1
	switch {
	case flags&FullyRandom != 0:
		start = lo + uint16(s.nextLocked()%span)
	case flags&Random != 0:
		h := s.hash2(addr32(o.Src)<<16|uint64(o.SrcPort), addr32(r.Src)<<16|uint64(r.SrcPort))
		start = lo + uint16(h%span)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		p, found := ps.pick(lo, hi, start, par)
		if !found {
			if par != anyParity {
				par = anyParity // parity is a RECOMMENDED, not a MUST
				continue
			}
			return 0, false, false
		}
		if !s.ct.TupleTaken(withExt(*r, a, p), c) {
			ps.cursor = p + 1
			return p, false, true
		}
		start = p + 1
	}
	return 0, false, false
}

// bindDest gives connection c's destination the address a and a port
// (DNAT, REDIRECT, NETMAP at PREROUTING or OUTPUT) and sets its reply
// tuple. With a single port or none the tuple is used as is, as Linux
// does (a clash is found at confirm); with a port range a free one is
// looked for.
func (s *State) bindDest(c *conntrack.Conn, a [4]byte, plo, phi uint16, hasPorts bool) bindResult {
	o, r := c.Original(), c.ReplyTuple()
	r.Src = a
	if o.Proto == header.ProtoTCP || o.Proto == header.ProtoUDP {
		p := o.DstPort
		if hasPorts && (p < plo || p > phi) {
			p = plo
			if phi > plo {
				span := uint64(phi) - uint64(plo) + 1
				p = plo + uint16(s.hash2(addr32(o.Src)<<16|uint64(o.SrcPort), addr32(o.Dst)<<16|uint64(o.DstPort))%span)
				for attempt := 0; attempt < maxAttempts; attempt++ {
					r.SrcPort = p
					if !s.ct.TupleTaken(r, c) {
						break
					}
					p++
					if p > phi || p < plo {
						p = plo
					}
				}
			}
		}
		r.SrcPort = p
	}
	if !c.SetReplyTuple(r) {
		return failed
	}
	return bound
}

// admit looks for a live mapping whose external endpoint is the
// destination of a new inbound connection and, when the filtering
// behaviour lets the source in, DNATs the connection to the mapping's
// internal endpoint. It returns notMapped when no mapping holds the
// destination.
func (s *State) admit(c *conntrack.Conn, now int64) admitResult {
	o := c.Original()
	if o.Proto != header.ProtoTCP && o.Proto != header.ProtoUDP || !s.isExt(o.Dst) {
		return notMapped // not an address NAT maps to: no lock taken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.housekeepLocked(now)
	m := s.byExt[extKey{o.Dst, o.DstPort, o.Proto}]
	if m == nil || !m.alive(now) {
		return notMapped
	}
	ok := false
	if !m.perConn {
		switch s.opt.Filtering {
		case EndpointIndependent:
			ok = true
		case AddressDependent:
			ok = m.sentTo(o.Src)
		}
	}
	if !ok {
		s.stats.Filtered++
		return filtered
	}
	r := c.ReplyTuple()
	r.Src, r.SrcPort = m.key.intAddr, m.key.intPort
	if s.ct.TupleTaken(r, c) || !c.SetReplyTuple(r) {
		s.stats.Filtered++
		return filtered
	}
	s.stats.Admitted++
	return admitted
}

type admitResult uint8

const (
	notMapped admitResult = iota
	filtered
	admitted
)

// addrAdd returns a + n.
func addrAdd(a [4]byte, n uint64) [4]byte {
	v := uint32(addr32(a) + n)
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// netmapAddr keeps a's host bits under the prefix's network bits.
func netmapAddr(prefixAddr [4]byte, bits int, a [4]byte) [4]byte {
	mask := uint32(0)
	if bits > 0 {
		mask = ^uint32(0) << (32 - bits)
	}
	v := uint32(addr32(prefixAddr))&mask | uint32(addr32(a))&^mask
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// setStatus records NAT bits on the unconfirmed entry and the packet.
func setStatus(pkt *packet.Packet, c *conntrack.Conn, bits packet.CTStatus) {
	c.SetStatus(bits)
	pkt.CTStatus |= bits
}
