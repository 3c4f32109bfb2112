package header

import "encoding/binary"

// ICMPv4 is a view over an ICMP message, RFC 792:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Identifier (queries) / unused, pointer, next-hop MTU        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   data (queries) / internet header + 64 bits of data (errors) |
//
// Precondition: Validate returned ReasonNone for this slice.
type ICMPv4 []byte

const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpID       = 4
	icmpSeq      = 6
	icmpMTU      = 6
	ICMPv4Size   = 8
)

// ICMP types (RFC 792, 950).
const (
	ICMPEchoReply      uint8 = 0
	ICMPDestUnreach    uint8 = 3
	ICMPSourceQuench   uint8 = 4
	ICMPRedirect       uint8 = 5
	ICMPEcho           uint8 = 8
	ICMPRouterAdvert   uint8 = 9
	ICMPRouterSolicit  uint8 = 10
	ICMPTimeExceeded   uint8 = 11
	ICMPParamProblem   uint8 = 12
	ICMPTimestamp      uint8 = 13
	ICMPTimestampReply uint8 = 14
	ICMPInfoRequest    uint8 = 15
	ICMPInfoReply      uint8 = 16
	ICMPAddrMask       uint8 = 17
	ICMPAddrMaskReply  uint8 = 18
)

// Destination unreachable codes (RFC 792, 1122, 1812).
const (
	ICMPNetUnreach        uint8 = 0
	ICMPHostUnreach       uint8 = 1
	ICMPProtoUnreach      uint8 = 2
	ICMPPortUnreach       uint8 = 3
	ICMPFragNeeded        uint8 = 4
	ICMPNetProhibited     uint8 = 9
	ICMPHostProhibited    uint8 = 10
	ICMPAdminProhibited   uint8 = 13
	ICMPTTLExceeded       uint8 = 0 // time exceeded code
	ICMPReassemblyTimeout uint8 = 1 // time exceeded code
)

// Validate checks that the fixed 8-byte header fits. The quoted datagram of
// an error is checked separately by QuotedValid: a bad quote does not make
// the error itself malformed (packet.Parsed leaves InnerOK false).
func (b ICMPv4) Validate() Reason {
	if len(b) < ICMPv4Size {
		return ReasonTruncated
	}
	return ReasonNone
}

func (b ICMPv4) Type() uint8      { return b[icmpType] }
func (b ICMPv4) Code() uint8      { return b[icmpCode] }
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }
func (b ICMPv4) Ident() uint16    { return binary.BigEndian.Uint16(b[icmpID:]) }
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }
func (b ICMPv4) MTU() uint16      { return binary.BigEndian.Uint16(b[icmpMTU:]) }
func (b ICMPv4) Payload() []byte  { return b[ICMPv4Size:] }

// SetChecksum stores the checksum as is.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], v) }

// SetIdentWithChecksumUpdate rewrites the query identifier.
func (b ICMPv4) SetIdentWithChecksumUpdate(id uint16) {
	b.SetChecksum(ChecksumUpdate2(b.Checksum(), b.Ident(), id))
	binary.BigEndian.PutUint16(b[icmpID:], id)
}

// SetType sets the type, updating the checksum.
func (b ICMPv4) SetType(t uint8) {
	old := binary.BigEndian.Uint16(b[icmpType:])
	b.SetChecksum(ChecksumUpdate2(b.Checksum(), old, uint16(t)<<8|old&0x00ff))
	b[icmpType] = t
}

// CalculateChecksum computes the checksum over the whole message.
func (b ICMPv4) CalculateChecksum() uint16 {
	s := Checksum(b[:icmpChecksum], 0)
	s = Checksum(b[icmpChecksum+2:], s)
	return ^s
}

// IsChecksumValid reports whether the message checksum verifies.
func (b ICMPv4) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// IsICMPError reports whether the type is an ICMP error message (RFC 1122
// §3.2.2): destination unreachable, source quench, redirect, time exceeded,
// parameter problem.
func IsICMPError(t uint8) bool {
	switch t {
	case ICMPDestUnreach, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// IsICMPQuery reports whether the type is a query tracked by identifier
// (echo, timestamp, information, address mask requests and replies).
func IsICMPQuery(t uint8) bool {
	switch t {
	case ICMPEcho, ICMPEchoReply, ICMPTimestamp, ICMPTimestampReply,
		ICMPInfoRequest, ICMPInfoReply, ICMPAddrMask, ICMPAddrMaskReply:
		return true
	}
	return false
}

// ICMPQueryReply returns the reply type for a request type and true, or
// false when t is not a request.
func ICMPQueryReply(t uint8) (uint8, bool) {
	switch t {
	case ICMPEcho:
		return ICMPEchoReply, true
	case ICMPTimestamp:
		return ICMPTimestampReply, true
	case ICMPInfoRequest:
		return ICMPInfoReply, true
	case ICMPAddrMask:
		return ICMPAddrMaskReply, true
	}
	return 0, false
}

// Quoted returns the IP datagram an error message quotes (possibly
// truncated: callers must check it with QuotedValid).
func (b ICMPv4) Quoted() IPv4 { return IPv4(b[ICMPv4Size:]) }

// QuotedValid checks the quoted packet of an error: a version 4 header of
// at least 20 bytes that fits. It does not require the total length to fit,
// since errors quote only a prefix, nor the checksum to verify.
// Returns the quoted header length, and the number of transport bytes
// present (at most 8 are needed).
func QuotedValid(q []byte) (hl, l4 int, r Reason) {
	if len(q) < IPv4MinSize {
		return 0, 0, ReasonTruncated
	}
	if q[0]>>4 != 4 {
		return 0, 0, ReasonBadVersion
	}
	hl = int(q[0]&0xf) * 4
	if hl < IPv4MinSize {
		return 0, 0, ReasonBadIHL
	}
	if hl > len(q) {
		return 0, 0, ReasonTruncated
	}
	return hl, len(q) - hl, ReasonNone
}

// Encode writes type, code and the 4-byte rest-of-header; the checksum is
// left zero.
func (b ICMPv4) Encode(typ, code uint8, rest uint32) {
	b[icmpType] = typ
	b[icmpCode] = code
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint32(b[icmpID:], rest)
}
