package header

import "encoding/binary"

// UDP is a view over a UDP datagram, RFC 768:
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//
// Precondition: Validate returned ReasonNone for this slice.
type UDP []byte

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
	UDPSize     = 8
)

// Validate checks the header fits and the length field is sane.
// UDPValid corresponds to net/netfilter/nf_conntrack_proto_udp.c:udp_error.
func (b UDP) Validate() Reason {
	if len(b) < UDPSize {
		return ReasonTruncated
	}
	l := int(b.Length())
	if l < UDPSize || l > len(b) {
		return ReasonBadTotalLength
	}
	return ReasonNone
}

func (b UDP) SourcePort() uint16      { return binary.BigEndian.Uint16(b[udpSrcPort:]) }
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }
func (b UDP) Length() uint16          { return binary.BigEndian.Uint16(b[udpLength:]) }
func (b UDP) Checksum() uint16        { return binary.BigEndian.Uint16(b[udpChecksum:]) }
func (b UDP) Payload() []byte         { return b[UDPSize:b.Length()] }

// SetChecksum stores the checksum as is.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], v) }

// SetLength stores the length field (no checksum update).
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[udpLength:], v) }

// SetSourcePortWithChecksumUpdate rewrites the source port; a zero checksum
// (none computed, RFC 768) stays zero.
func (b UDP) SetSourcePortWithChecksumUpdate(p uint16) {
	b.updateChecksum(b.SourcePort(), p)
	binary.BigEndian.PutUint16(b[udpSrcPort:], p)
}

// SetDestinationPortWithChecksumUpdate rewrites the destination port.
func (b UDP) SetDestinationPortWithChecksumUpdate(p uint16) {
	b.updateChecksum(b.DestinationPort(), p)
	binary.BigEndian.PutUint16(b[udpDstPort:], p)
}

// UpdateChecksumPseudoAddress adjusts for an address change in the pseudo header.
func (b UDP) UpdateChecksumPseudoAddress(old, new [4]byte) {
	if c := b.Checksum(); c != 0 {
		b.SetChecksum(nonZero(ChecksumUpdate4(c, old, new)))
	}
}

func (b UDP) updateChecksum(old, new uint16) {
	if c := b.Checksum(); c != 0 {
		b.SetChecksum(nonZero(ChecksumUpdate2(c, old, new)))
	}
}

// nonZero maps a computed UDP checksum of 0 to 0xffff (RFC 768: "If the
// computed checksum is zero, it is transmitted as all ones").
func nonZero(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}

// CalculateChecksum computes the checksum from scratch over b[:Length()].
func (b UDP) CalculateChecksum(src, dst [4]byte) uint16 {
	l := b.Length()
	ph := PseudoHeaderChecksum(ProtoUDP, src, dst, l)
	s := Checksum(b[:udpChecksum], ph)
	s = Checksum(b[udpChecksum+2:l], s)
	return nonZero(^s)
}

// IsChecksumValid reports whether the checksum verifies (zero = none sent).
func (b UDP) IsChecksumValid(src, dst [4]byte) bool {
	if b.Checksum() == 0 {
		return true
	}
	l := b.Length()
	return Checksum(b[:l], PseudoHeaderChecksum(ProtoUDP, src, dst, l)) == 0xffff
}

// Encode writes ports and length; the checksum is left zero.
func (b UDP) Encode(src, dst, length uint16) {
	binary.BigEndian.PutUint16(b[udpSrcPort:], src)
	binary.BigEndian.PutUint16(b[udpDstPort:], dst)
	binary.BigEndian.PutUint16(b[udpLength:], length)
	binary.BigEndian.PutUint16(b[udpChecksum:], 0)
}
