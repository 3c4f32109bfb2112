package nat

import (
	"encoding/binary"

	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
)

// Rewriting changes addresses, ports and ICMP identifiers in place and
// keeps every checksum right by incremental update (RFC 1624), as Linux's
// nf_nat_ipv4_manip_pkt and the l4proto manip_pkt functions do:
//
//   - the IPv4 header checksum for an address;
//   - the TCP or UDP checksum for an address (pseudo header) and a port; a
//     UDP datagram sent without a checksum (zero) keeps zero (RFC 768);
//   - the ICMP checksum for a query identifier (ICMP has no pseudo
//     header, so addresses do not touch it).
//
// A transport checksum that was wrong stays wrong by the same amount: a
// middlebox must not make a corrupt segment look valid.
//
// Preconditions: b is a datagram the parse stage accepted (header valid,
// b trimmed to its total length) and l4off is its transport offset.

// setSource rewrites the source address to a and, when setPort, the source
// port (TCP, UDP) or the identifier (ICMP query) to port.
func setSource(b []byte, l4off int, proto packet.Proto, a [4]byte, port uint16, setPort bool) {
	ip := header.IPv4(b)
	old := ip.SourceAddress()
	l4 := b[l4off:]
	if old != a {
		ip.SetSourceAddressWithChecksumUpdate(a)
		pseudoAddr(l4, proto, old, a)
	}
	if setPort {
		switch proto {
		case packet.TCP:
			if t := header.TCP(l4); t.SourcePort() != port {
				t.SetSourcePortWithChecksumUpdate(port)
			}
		case packet.UDP:
			if u := header.UDP(l4); u.SourcePort() != port {
				u.SetSourcePortWithChecksumUpdate(port)
			}
		case packet.ICMP:
			if ic := header.ICMPv4(l4); ic.Ident() != port {
				ic.SetIdentWithChecksumUpdate(port)
			}
		}
	}
}

// setDestination rewrites the destination address to a and, when
// setPort, the destination port (TCP, UDP) or the identifier (ICMP) to
// port.
func setDestination(b []byte, l4off int, proto packet.Proto, a [4]byte, port uint16, setPort bool) {
	ip := header.IPv4(b)
	old := ip.DestinationAddress()
	l4 := b[l4off:]
	if old != a {
		ip.SetDestinationAddressWithChecksumUpdate(a)
		pseudoAddr(l4, proto, old, a)
	}
	if setPort {
		switch proto {
		case packet.TCP:
			if t := header.TCP(l4); t.DestinationPort() != port {
				t.SetDestinationPortWithChecksumUpdate(port)
			}
		case packet.UDP:
			if u := header.UDP(l4); u.DestinationPort() != port {
				u.SetDestinationPortWithChecksumUpdate(port)
			}
		case packet.ICMP:
			if ic := header.ICMPv4(l4); ic.Ident() != port {
				ic.SetIdentWithChecksumUpdate(port)
			}
		}
	}
}

// pseudoAddr adjusts a transport checksum that covers the addresses.
func pseudoAddr(l4 []byte, proto packet.Proto, old, a [4]byte) {
	switch proto {
	case packet.TCP:
		header.TCP(l4).UpdateChecksumPseudoAddress(old, a)
	case packet.UDP:
		header.UDP(l4).UpdateChecksumPseudoAddress(old, a)
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// icmpPut16 stores v in the 16-bit word at the even offset off of ICMP
// message m and updates m's checksum for the change.
func icmpPut16(m []byte, off int, v uint16) {
	old := be16(m[off:])
	if old == v {
		return
	}
	binary.BigEndian.PutUint16(m[off:], v)
	binary.BigEndian.PutUint16(m[2:], header.ChecksumUpdate2(be16(m[2:]), old, v))
}

// udpNonZero maps a computed UDP checksum of 0 to 0xffff (RFC 768).
func udpNonZero(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}

// Offsets inside an ICMP error message m (RFC 792): the quoted IP header
// starts at 8.
const (
	qIP       = header.ICMPv4Size
	qChecksum = qIP + 10
	qSrc      = qIP + 12
	qDst      = qIP + 16
)

// rewriteICMPError translates an ICMP error (RFC 5508 §7, Linux's
// nf_nat_icmp_reply_translation). b is the whole datagram and l4off the
// offset of the ICMP message.
//
// With srcManip (POSTROUTING) the outer source becomes a, and the quoted
// packet, which travelled the other way, gets its destination set to a
// (and its destination port or identifier to port when setPort). Without
// (PREROUTING, OUTPUT) the outer destination becomes a and the quoted
// source a:port. The quoted IP header checksum, the quoted transport
// checksum when the quote holds it, and the ICMP checksum are updated
// incrementally. It returns false, changing nothing, when the quoted
// datagram is unusable (shorter than an IP header, not version 4, IHL
// past the quote).
//
// It never reads or writes past the quote: a quoted transport header cut
// short has only the fields present rewritten (the first 8 bytes hold
// the ports, the UDP checksum and the ICMP identifier; the TCP checksum
// at 16 is often not quoted and then needs no update).
func rewriteICMPError(b []byte, l4off int, srcManip bool, a [4]byte, port uint16, setPort bool) bool {
	if l4off < header.IPv4MinSize || l4off > len(b) {
		return false
	}
	m := b[l4off:]
	if len(m) < qIP {
		return false
	}
	hl, n, r := header.QuotedValid(m[qIP:])
	if r != header.ReasonNone {
		return false
	}
	l4 := qIP + hl // quoted transport header, n bytes present
	proto := m[qIP+9]
	frag := be16(m[qIP+6:])&0x1fff != 0 // a non-first fragment: no transport header
	aoff := qSrc
	if srcManip {
		aoff = qDst
	}
	old := [4]byte(m[aoff : aoff+4])
	if old != a {
		icmpPut16(m, qChecksum, header.ChecksumUpdate4(be16(m[qChecksum:]), old, a))
		icmpPut16(m, aoff, be16(a[0:2]))
		icmpPut16(m, aoff+2, be16(a[2:4]))
		if !frag {
			switch proto {
			case header.ProtoTCP:
				if n >= 18 {
					icmpPut16(m, l4+16, header.ChecksumUpdate4(be16(m[l4+16:]), old, a))
				}
			case header.ProtoUDP:
				if n >= 8 {
					if c := be16(m[l4+6:]); c != 0 {
						icmpPut16(m, l4+6, udpNonZero(header.ChecksumUpdate4(c, old, a)))
					}
				}
			}
		}
	}
	if setPort && !frag {
		switch proto {
		case header.ProtoTCP, header.ProtoUDP:
			poff := l4
			if srcManip {
				poff = l4 + 2
			}
			if n >= poff-l4+2 {
				op := be16(m[poff:])
				if op != port {
					if proto == header.ProtoTCP && n >= 18 {
						icmpPut16(m, l4+16, header.ChecksumUpdate2(be16(m[l4+16:]), op, port))
					}
					if proto == header.ProtoUDP && n >= 8 {
						if c := be16(m[l4+6:]); c != 0 {
							icmpPut16(m, l4+6, udpNonZero(header.ChecksumUpdate2(c, op, port)))
						}
					}
					icmpPut16(m, poff, port)
				}
			}
		case header.ProtoICMP:
			if n >= 6 {
				oid := be16(m[l4+4:])
				if oid != port {
					icmpPut16(m, l4+2, header.ChecksumUpdate2(be16(m[l4+2:]), oid, port))
					icmpPut16(m, l4+4, port)
				}
			}
		}
	}
	ip := header.IPv4(b)
	if srcManip {
		if ip.SourceAddress() != a {
			ip.SetSourceAddressWithChecksumUpdate(a)
		}
	} else if ip.DestinationAddress() != a {
		ip.SetDestinationAddressWithChecksumUpdate(a)
	}
	return true
}

// setEndFast is setSource/setDestination for a TCP or UDP datagram with
// the changes folded together: one update of the IP header checksum for
// the address and one of the transport checksum for the address (pseudo
// header) and the port. The result is what the header setters give, up to
// the representation of zero (TestSetEndFastMatchesSetters); it exists
// because the established-flow path runs it for every packet.
func setEndFast(b []byte, l4off int, udp, src bool, a [4]byte, port uint16) {
	aoff, poff := 16, l4off+2
	if src {
		aoff, poff = 12, l4off
	}
	coff := l4off + 16 // TCP checksum
	if udp {
		coff = l4off + 6
	}
	_ = b[aoff+3]
	_ = b[poff+1]
	_ = b[coff+1]
	oa0, oa1 := uint64(^be16(b[aoff:])), uint64(^be16(b[aoff+2:]))
	na0, na1 := uint64(a[0])<<8|uint64(a[1]), uint64(a[2])<<8|uint64(a[3])
	addrDelta := oa0 + oa1 + na0 + na1
	binary.BigEndian.PutUint16(b[10:], ^fold16(uint64(^be16(b[10:]))+addrDelta))
	if c := be16(b[coff:]); !udp || c != 0 {
		nc := ^fold16(uint64(^c) + addrDelta + uint64(^be16(b[poff:])) + uint64(port))
		if udp && nc == 0 {
			nc = 0xffff
		}
		binary.BigEndian.PutUint16(b[coff:], nc)
	}
	copy(b[aoff:aoff+4], a[:])
	binary.BigEndian.PutUint16(b[poff:], port)
}

// fold16 folds a sum of at most a few thousand 16-bit words to 16 bits
// (one's complement addition).
func fold16(s uint64) uint16 {
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// ForwardDeltas and RewriteWith translate a packet of an established
// NATed connection (TCP or UDP, not an ICMP error) at both ends at once,
// as the PREROUTING and POSTROUTING nat stages would one after the
// other, and decrement its TTL: the flowtable's fast path. Each checksum
// is updated once for the addresses, the ports and the TTL together (RFC
// 1624 eqn. 3 over every changed word); the bytes are those of the two
// translations and header.IPv4.DecrementTTL (TestRewriteForward).
//
// ForwardDeltas returns the checksum updates of a packet with tuple key
// leaving as to, with its TTL decremented: ip for the IP header
// (addresses and TTL), l4 for the TCP or UDP checksum (addresses and
// ports). They are the same for every packet of the flow, so the
// flowtable computes them once (RewriteWith).
func ForwardDeltas(key, to *conntrack.Tuple) (ip, l4 uint16) {
	addr := uint64(^be16(key.Src[0:])) + uint64(^be16(key.Src[2:])) + uint64(^be16(key.Dst[0:])) + uint64(^be16(key.Dst[2:])) +
		uint64(be16(to.Src[0:])) + uint64(be16(to.Src[2:])) + uint64(be16(to.Dst[0:])) + uint64(be16(to.Dst[2:]))
	// The TTL's word w becomes w-0x100: ^w + (w-0x100) is 0xfeff.
	ip = fold16(addr + 0xfeff)
	l4 = fold16(addr + uint64(^key.SrcPort) + uint64(to.SrcPort) + uint64(^key.DstPort) + uint64(to.DstPort))
	return ip, l4
}

// RewriteWith rewrites pkt to the tuple to with the checksum updates
// ForwardDeltas gave for the packet's tuple, which it must have, and a
// TTL above 1.
func RewriteWith(pkt *packet.Packet, to *conntrack.Tuple, ipDelta, l4Delta uint16) {
	p := &pkt.Parsed
	b := pkt.Data
	l4 := int(p.L4Off)
	udp := p.Proto == packet.UDP
	coff := l4 + 16 // TCP checksum
	if udp {
		coff = l4 + 6
	}
	_ = b[19]
	_ = b[l4+3]
	_ = b[coff+1]
	binary.BigEndian.PutUint16(b[10:], ^fold16(uint64(^be16(b[10:]))+uint64(ipDelta)))
	if cs := be16(b[coff:]); !udp || cs != 0 {
		nc := ^fold16(uint64(^cs) + uint64(l4Delta))
		if udp && nc == 0 {
			nc = 0xffff
		}
		binary.BigEndian.PutUint16(b[coff:], nc)
	}
	b[8]--
	copy(b[12:16], to.Src[:])
	copy(b[16:20], to.Dst[:])
	binary.BigEndian.PutUint16(b[l4:], to.SrcPort)
	binary.BigEndian.PutUint16(b[l4+2:], to.DstPort)
	p.Src, p.SrcPort, p.Dst, p.DstPort = to.Src, to.SrcPort, to.Dst, to.DstPort
	p.TTL--
}
