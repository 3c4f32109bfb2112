package nat

import (
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
)

// SourceAfterRouting is NFQUEUE mode's second pass. There fwd sees a
// packet twice: at PREROUTING (or OUTPUT) it runs the whole pipeline and
// has its destination translated, and after the kernel's routing decision,
// at POSTROUTING, its source is translated here, from the connection the
// first pass bound. Linux's own NAT splits the work the same way, and for
// the same reason: a packet whose source is already the router's own
// address when it is routed looks spoofed (a martian) to the kernel.
//
// The packet's tuple at this point is its tuple after the destination
// translation. Found as a connection's original tuple, the connection was
// source-NATed (or not NATed): the source becomes the reply tuple's
// destination. Found as its reply tuple, the connection was
// destination-NATed and this is a reply: the source becomes the original
// destination (un-DNAT). A packet of no connection, or of a connection
// NATed both ways (hairpin, which the kernel routes back out by itself),
// is left alone. ICMP errors are left alone: their translation happened in
// the first pass, towards the inside, which is the direction that matters
// (traceroute and path-MTU discovery from behind the NAT).
//
// data is the datagram and p its decoded summary; SourceAfterRouting
// rewrites data in place with incremental checksum updates and reports
// whether it changed anything. It allocates nothing.
func SourceAfterRouting(t *conntrack.Table, data []byte, p *packet.Parsed) bool {
	if p.Proto == packet.ICMP && header.IsICMPError(p.ICMPType) {
		return false
	}
	tu, ok := conntrack.TupleOf(p)
	if !ok {
		return false
	}
	e, dir, ok := t.Lookup(tu)
	if !ok {
		return false
	}
	var src [4]byte
	var port uint16
	switch {
	case dir == 0 && e.Status&packet.CTStatusSNAT != 0:
		src, port = e.Reply.Dst, e.Reply.DstPort
		if p.Proto == packet.ICMP {
			port = e.Reply.SrcPort // the query identifier, as the reply carries it
		}
	case dir == 1 && e.Status&packet.CTStatusDNAT != 0:
		src, port = e.Orig.Dst, e.Orig.DstPort
		if p.Proto == packet.ICMP {
			port = e.Orig.SrcPort
		}
	default:
		return false
	}
	setPort := p.Proto == packet.TCP || p.Proto == packet.UDP || p.Proto == packet.ICMP
	if p.Src == src && (!setPort || currentPort(data, p) == port) {
		return false
	}
	setSource(data, int(p.L4Off), p.Proto, src, port, setPort)
	p.Src = src
	return true
}

func currentPort(data []byte, p *packet.Parsed) uint16 {
	if p.Proto == packet.ICMP {
		return header.ICMPv4(data[p.L4Off:]).Ident()
	}
	return p.SrcPort
}
