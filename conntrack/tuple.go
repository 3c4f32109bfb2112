package conntrack

import (
	"encoding/binary"
	"net/netip"

	"fwd/header"
	"fwd/packet"
)

// Tuple is one direction of a connection: addresses, ports and the IP
// protocol, as Linux's nf_conntrack_tuple. For ICMP queries SrcPort holds
// the identifier and DstPort the type in the high byte and the code in the
// low byte (srcPortOrEchoID, dstPortOrTypeCode); for protocols without ports
// both are zero.
type Tuple struct {
	Src, Dst         [4]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// ICMPType returns the ICMP type of an ICMP tuple.
func (t Tuple) ICMPType() uint8 { return uint8(t.DstPort >> 8) }

// ICMPCode returns the ICMP code of an ICMP tuple.
func (t Tuple) ICMPCode() uint8 { return uint8(t.DstPort) }

// ICMPID returns the query identifier of an ICMP tuple.
func (t Tuple) ICMPID() uint16 { return t.SrcPort }

// SrcAddr returns the source address.
func (t Tuple) SrcAddr() netip.Addr { return netip.AddrFrom4(t.Src) }

// DstAddr returns the destination address.
func (t Tuple) DstAddr() netip.Addr { return netip.AddrFrom4(t.Dst) }

// Reverse returns the tuple of the other direction when no NAT applies:
// addresses and ports swapped, an ICMP request type turned into its reply
// type. ok is false for ICMP types that have no reply (Linux's invmap).
func (t Tuple) Reverse() (r Tuple, ok bool) {
	r = Tuple{Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
	if t.Proto == header.ProtoICMP {
		rt, ok := icmpInvert(t.ICMPType())
		if !ok {
			return Tuple{}, false
		}
		r.SrcPort = t.SrcPort
		r.DstPort = uint16(rt)<<8 | uint16(t.ICMPCode())
	}
	return r, true
}

// icmpInvert maps a query type to its counterpart (request <-> reply), as
// nf_conntrack_proto_icmp.c's invmap.
func icmpInvert(t uint8) (uint8, bool) {
	switch t {
	case header.ICMPEcho:
		return header.ICMPEchoReply, true
	case header.ICMPEchoReply:
		return header.ICMPEcho, true
	case header.ICMPTimestamp:
		return header.ICMPTimestampReply, true
	case header.ICMPTimestampReply:
		return header.ICMPTimestamp, true
	case header.ICMPInfoRequest:
		return header.ICMPInfoReply, true
	case header.ICMPInfoReply:
		return header.ICMPInfoRequest, true
	case header.ICMPAddrMask:
		return header.ICMPAddrMaskReply, true
	case header.ICMPAddrMaskReply:
		return header.ICMPAddrMask, true
	}
	return 0, false
}

// icmpIsRequest reports whether an ICMP query type may create an entry
// (Linux's icmp_new valid_new[]).
func icmpIsRequest(t uint8) bool {
	switch t {
	case header.ICMPEcho, header.ICMPTimestamp, header.ICMPInfoRequest, header.ICMPAddrMask:
		return true
	}
	return false
}

// TupleOf returns the tuple of a decoded packet and whether it has one.
// Malformed packets and non-first fragments have none.
func TupleOf(p *packet.Parsed) (Tuple, bool) {
	t := Tuple{Src: p.Src, Dst: p.Dst, Proto: p.IPProto}
	switch p.Proto {
	case packet.TCP, packet.UDP:
		t.SrcPort, t.DstPort = p.SrcPort, p.DstPort
	case packet.ICMP:
		if !header.IsICMPQuery(p.ICMPType) {
			return t, false
		}
		t.SrcPort = p.ICMPID
		t.DstPort = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
	case packet.OtherProto:
	default:
		return t, false
	}
	return t, true
}

// protoName is the L4 name conntrack-tools prints.
func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return "unknown"
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

// hashTuple is the seeded hash of a tuple. It is symmetric: a tuple and
// its mirror image (the reply tuple of a connection without NAT) hash to
// the same value, so both index entries of most connections sit in one
// shard and next to each other. ICMP hashes the identifier only, not the
// type, so the request and reply types meet too.
//
// The two symmetric combinations of the endpoints are multiplied side by
// side (the multiplies overlap), folded, and finished as xxh3's avalanche
// does: every output bit depends on every input bit, the top bits (the
// shard) and the low bits (the slot, the tag) alike, in about half the
// latency of two chained murmur finalisers. It runs once per packet.
func hashTuple(t *Tuple, seed [2]uint64) uint64 {
	a := uint64(binary.BigEndian.Uint32(t.Src[:]))<<16 | uint64(t.SrcPort)
	b := uint64(binary.BigEndian.Uint32(t.Dst[:]))<<16 | uint64(t.DstPort)
	if t.Proto == header.ProtoICMP {
		b = b&^0xffff | uint64(t.SrcPort)
	}
	x := (a + b ^ seed[0]) * 0x9e3779b97f4a7c15
	y := (a ^ b ^ uint64(t.Proto)<<56 ^ seed[1]) * 0xc2b2ae3d27d4eb4f
	h := x ^ y>>32 ^ y<<32
	h ^= h >> 37
	h *= 0x165667919e3779f9
	return h ^ h>>32
}
