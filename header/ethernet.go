package header

import "encoding/binary"

// Ethernet is a view over an Ethernet II frame (IEEE 802.3 clause 3,
// without preamble and FCS), possibly carrying one or two IEEE 802.1Q tags:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination MAC address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                      Source MAC address                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   EtherType or TPID (0x8100)  |  PCP|D|  VLAN identifier      |  <- tag, optional
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   EtherType (after the tags)  |  payload ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An outer tag has TPID 0x8100 (802.1Q), 0x88a8 (802.1ad S-tag, "QinQ") or
// 0x9100 (the pre-standard QinQ TPID); an inner tag has any of the same.
// At most two tags are skipped: a frame with a third tag reports the third
// TPID as its EtherType, which is not IPv4 or ARP, so it is dropped.
//
// Precondition for every accessor but Validate: Validate returned
// ReasonNone for this slice, so no accessor bounds-checks.
type Ethernet []byte

const (
	ethDst            = 0
	ethSrc            = 6
	ethType           = 12
	EthernetMinSize   = 14 // untagged header
	VLANTagSize       = 4
	EthernetMaxHeader = EthernetMinSize + 2*VLANTagSize
	vlanIDMask        = 0x0fff
)

// EtherTypes fwd knows by name (IEEE registry; RFC 7042 appendix B).
const (
	EtherTypeIPv4    uint16 = 0x0800
	EtherTypeARP     uint16 = 0x0806
	EtherTypeVLAN    uint16 = 0x8100 // IEEE 802.1Q C-tag TPID
	EtherTypeIPv6    uint16 = 0x86dd
	EtherTypeQinQ    uint16 = 0x88a8 // IEEE 802.1ad S-tag TPID
	EtherTypeQinQOld uint16 = 0x9100 // pre-802.1ad double tagging
)

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsVLANTPID reports whether t is a tag protocol identifier that starts an
// 802.1Q/802.1ad tag.
func IsVLANTPID(t uint16) bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ || t == EtherTypeQinQOld
}

// Validate checks that the header and every tag it announces (up to two)
// fit in b.
func (b Ethernet) Validate() Reason {
	if len(b) < EthernetMinSize {
		return ReasonTruncated
	}
	if len(b) < b.PayloadOffsetUnchecked() {
		return ReasonTruncated
	}
	return ReasonNone
}

// PayloadOffsetUnchecked is PayloadOffset for a slice of at least
// EthernetMinSize bytes that Validate has not checked yet: it reads the
// second TPID only when it is in b. The result may exceed len(b).
func (b Ethernet) PayloadOffsetUnchecked() int {
	if len(b) < EthernetMinSize || !IsVLANTPID(binary.BigEndian.Uint16(b[ethType:])) {
		return EthernetMinSize
	}
	if len(b) < EthernetMinSize+VLANTagSize {
		// The inner type is missing; say how much is needed for it.
		return EthernetMinSize + VLANTagSize
	}
	if !IsVLANTPID(binary.BigEndian.Uint16(b[ethType+VLANTagSize:])) {
		return EthernetMinSize + VLANTagSize
	}
	return EthernetMaxHeader
}

// Destination returns the destination MAC address.
func (b Ethernet) Destination() [6]byte { return [6]byte(b[ethDst : ethDst+6]) }

// Source returns the source MAC address.
func (b Ethernet) Source() [6]byte { return [6]byte(b[ethSrc : ethSrc+6]) }

// Type returns the raw type field at offset 12: the EtherType of an
// untagged frame, the outer TPID of a tagged one.
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// NumTags returns how many VLAN tags precede the EtherType (0, 1 or 2).
func (b Ethernet) NumTags() int { return (b.PayloadOffset() - EthernetMinSize) / VLANTagSize }

// PayloadOffset returns the offset of the payload: 14, 18 with one tag, 22
// with two.
func (b Ethernet) PayloadOffset() int { return b.PayloadOffsetUnchecked() }

// EtherType returns the type of the payload, after the VLAN tags.
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[b.PayloadOffset()-2:]) }

// VLANID returns the outer tag's 12-bit VLAN identifier, or 0 when untagged.
func (b Ethernet) VLANID() uint16 {
	if b.PayloadOffset() == EthernetMinSize {
		return 0
	}
	return binary.BigEndian.Uint16(b[ethType+2:]) & vlanIDMask
}

// InnerVLANID returns the inner tag's VLAN identifier (the C-tag of a
// double-tagged frame), or 0 when the frame has fewer than two tags.
func (b Ethernet) InnerVLANID() uint16 {
	if b.PayloadOffset() != EthernetMaxHeader {
		return 0
	}
	return binary.BigEndian.Uint16(b[ethType+VLANTagSize+2:]) & vlanIDMask
}

// Priority returns the outer tag's priority code point (802.1p), or 0 when
// untagged.
func (b Ethernet) Priority() uint8 {
	if b.PayloadOffset() == EthernetMinSize {
		return 0
	}
	return b[ethType+2] >> 5
}

// Payload returns the bytes after the header and tags (with any link
// padding: the IPv4 total length says where the datagram ends).
func (b Ethernet) Payload() []byte { return b[b.PayloadOffset():] }

// SetDestination stores the destination MAC address.
func (b Ethernet) SetDestination(a [6]byte) { copy(b[ethDst:ethDst+6], a[:]) }

// SetSource stores the source MAC address.
func (b Ethernet) SetSource(a [6]byte) { copy(b[ethSrc:ethSrc+6], a[:]) }

// EncodeEthernet writes an untagged header into b and returns its length
// (EthernetMinSize), or 0 when b is too short.
func EncodeEthernet(b []byte, dst, src [6]byte, etherType uint16) int {
	if len(b) < EthernetMinSize {
		return 0
	}
	copy(b[ethDst:ethDst+6], dst[:])
	copy(b[ethSrc:ethSrc+6], src[:])
	binary.BigEndian.PutUint16(b[ethType:], etherType)
	return EthernetMinSize
}

// EncodeEthernetVLAN writes a header with one 802.1Q tag (priority pcp,
// identifier vid) into b and returns its length (18), or 0 when b is too
// short.
func EncodeEthernetVLAN(b []byte, dst, src [6]byte, pcp uint8, vid, etherType uint16) int {
	const n = EthernetMinSize + VLANTagSize
	if len(b) < n {
		return 0
	}
	copy(b[ethDst:ethDst+6], dst[:])
	copy(b[ethSrc:ethSrc+6], src[:])
	binary.BigEndian.PutUint16(b[ethType:], EtherTypeVLAN)
	binary.BigEndian.PutUint16(b[ethType+2:], uint16(pcp&7)<<13|vid&vlanIDMask)
	binary.BigEndian.PutUint16(b[ethType+4:], etherType)
	return n
}
