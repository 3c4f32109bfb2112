package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is a view over an IPv4 datagram (header and payload), RFC 791 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Precondition for every accessor but IsValid/Validate: Validate returned
// ReasonNone for this slice, so no accessor bounds-checks.
type IPv4 []byte

const (
	ipVersIHL    = 0
	ipTOS        = 1
	ipTotalLen   = 2
	ipID         = 4
	ipFlagsFrag  = 6
	ipTTL        = 8
	ipProtocol   = 9
	ipChecksum   = 10
	ipSrcAddr    = 12
	ipDstAddr    = 16
	IPv4MinSize  = 20
	IPv4MaxSize  = 60 // largest header
	IPv4MaxTotal = 65535
)

// IP protocol numbers fwd knows by name.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// Fragment flags in the flags/offset word.
const (
	IPv4FlagDF     = 0x4000
	IPv4FlagMF     = 0x2000
	IPv4FlagEvil   = 0x8000 // the reserved bit (RFC 3514)
	ipv4OffsetMask = 0x1fff
)

// Reason names why a packet was found malformed. The zero value means valid.
// The strings are the drop-reason names users see in stats and traces.
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonTruncated
	ReasonBadVersion
	ReasonBadIHL
	ReasonBadTotalLength
	ReasonBadChecksum
	ReasonBadDataOffset
	ReasonBadOptions
	ReasonBadL4Checksum
	ReasonBadICMP
	ReasonBadARP // not Ethernet/IPv4 ARP (hardware/protocol type or lengths)
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonTruncated:      "truncated",
	ReasonBadVersion:     "bad-version",
	ReasonBadIHL:         "bad-ihl",
	ReasonBadTotalLength: "bad-total-length",
	ReasonBadChecksum:    "bad-checksum",
	ReasonBadDataOffset:  "bad-data-offset",
	ReasonBadOptions:     "bad-options",
	ReasonBadL4Checksum:  "bad-l4-checksum",
	ReasonBadICMP:        "bad-icmp",
	ReasonBadARP:         "bad-arp",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Validate checks the version, IHL, total length against the buffer and the
// header checksum. The datagram may be followed by link padding in b; callers
// trim to TotalLength after validation.
func (b IPv4) Validate() Reason {
	if len(b) < IPv4MinSize {
		return ReasonTruncated
	}
	if b[ipVersIHL]>>4 != 4 {
		return ReasonBadVersion
	}
	hl := int(b[ipVersIHL]&0xf) * 4
	if hl < IPv4MinSize {
		return ReasonBadIHL
	}
	if hl > len(b) {
		return ReasonTruncated
	}
	tl := int(binary.BigEndian.Uint16(b[ipTotalLen:]))
	if tl < hl {
		return ReasonBadTotalLength
	}
	if tl > len(b) {
		return ReasonTruncated
	}
	if !ipv4HeaderChecksumOK(b, hl) {
		return ReasonBadChecksum
	}
	return ReasonNone
}

// IsChecksumValid reports whether the header checksum verifies. Unlike
// Validate it checks nothing else; it needs a version 4 header whose
// HeaderLength bytes are in b.
func (b IPv4) IsChecksumValid() bool {
	if len(b) >= IPv4MinSize && b[ipVersIHL] == 0x45 {
		return IPv4MinHeaderChecksumOK((*[IPv4MinSize]byte)(b))
	}
	return ipv4HeaderChecksumOK(b, b.HeaderLength())
}

// IPv4MinHeaderChecksumOK is IsChecksumValid for a header without options
// (IHL 5), small enough to be inlined into the parse loop.
func IPv4MinHeaderChecksumOK(h *[IPv4MinSize]byte) bool {
	sum := (uint64(binary.LittleEndian.Uint32(h[0:4])) + uint64(binary.LittleEndian.Uint32(h[4:8]))) +
		(uint64(binary.LittleEndian.Uint32(h[8:12])) + uint64(binary.LittleEndian.Uint32(h[12:16]))) +
		uint64(binary.LittleEndian.Uint32(h[16:20]))
	return sum%0xffff == 0 // see ipv4HeaderChecksumOK
}

// HeaderLength returns the header length in bytes (IHL*4).
func (b IPv4) HeaderLength() int { return int(b[ipVersIHL]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLength returns the total length field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// FlagsFragmentOffset returns the raw flags and fragment offset word.
func (b IPv4) FlagsFragmentOffset() uint16 { return binary.BigEndian.Uint16(b[ipFlagsFrag:]) }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() int { return int(b.FlagsFragmentOffset()&ipv4OffsetMask) * 8 }

// More reports whether the MF flag is set.
func (b IPv4) More() bool { return b.FlagsFragmentOffset()&IPv4FlagMF != 0 }

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b.FlagsFragmentOffset()&IPv4FlagDF != 0 }

// IsFragment reports whether the datagram is a fragment (MF or offset != 0).
func (b IPv4) IsFragment() bool { return b.FlagsFragmentOffset()&(IPv4FlagMF|ipv4OffsetMask) != 0 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the transport protocol number.
func (b IPv4) Protocol() uint8 { return b[ipProtocol] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// SourceAddress returns the source address.
func (b IPv4) SourceAddress() [4]byte { return [4]byte(b[ipSrcAddr : ipSrcAddr+4]) }

// DestinationAddress returns the destination address.
func (b IPv4) DestinationAddress() [4]byte { return [4]byte(b[ipDstAddr : ipDstAddr+4]) }

// Src returns the source address as a netip.Addr.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4(b.SourceAddress()) }

// Dst returns the destination address as a netip.Addr.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4(b.DestinationAddress()) }

// Options returns the options bytes (possibly empty).
func (b IPv4) Options() []byte { return b[IPv4MinSize:b.HeaderLength()] }

// Payload returns the bytes after the header up to TotalLength.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetTotalLength sets the total length, updating the checksum (RFC 1624).
func (b IPv4) SetTotalLength(v uint16) { b.set16(ipTotalLen, v) }

// SetID sets the identification, updating the checksum.
func (b IPv4) SetID(v uint16) { b.set16(ipID, v) }

// SetFlagsFragmentOffset sets the flags/offset word, updating the checksum.
func (b IPv4) SetFlagsFragmentOffset(v uint16) { b.set16(ipFlagsFrag, v) }

// SetTOS sets the type-of-service byte, updating the checksum.
//
// The new word is computed rather than read back: a 16-bit load of a byte
// just stored cannot be store-forwarded and stalls (the same in SetTTL).
func (b IPv4) SetTOS(v uint8) {
	old := binary.BigEndian.Uint16(b[ipVersIHL:])
	b.setChecksum(ChecksumUpdate2(b.Checksum(), old, old&0xff00|uint16(v)))
	b[ipTOS] = v
}

// SetTTL sets the TTL, updating the checksum.
func (b IPv4) SetTTL(v uint8) {
	old := binary.BigEndian.Uint16(b[ipTTL:])
	b.setChecksum(ChecksumUpdate2(b.Checksum(), old, uint16(v)<<8|old&0x00ff))
	b[ipTTL] = v
}

// DecrementTTL lowers the TTL by one, updating the checksum incrementally
// (RFC 1624 eqn. 3, which unlike RFC 1141's shortcut never yields 0xffff
// for a checksum that recomputes to 0x0000). The caller checks TTL > 1
// first (RFC 1812 §5.3.1).
func (b IPv4) DecrementTTL() { b.SetTTL(b[ipTTL] - 1) }

// SetSourceAddressWithChecksumUpdate rewrites the source address and the
// header checksum. The transport checksum is the caller's (see
// TCP.UpdateChecksumPseudoAddress).
func (b IPv4) SetSourceAddressWithChecksumUpdate(a [4]byte) {
	old := b.SourceAddress()
	copy(b[ipSrcAddr:], a[:])
	b.setChecksum(ChecksumUpdate4(b.Checksum(), old, a))
}

// SetDestinationAddressWithChecksumUpdate rewrites the destination address
// and the header checksum.
func (b IPv4) SetDestinationAddressWithChecksumUpdate(a [4]byte) {
	old := b.DestinationAddress()
	copy(b[ipDstAddr:], a[:])
	b.setChecksum(ChecksumUpdate4(b.Checksum(), old, a))
}

// SetChecksum stores a checksum value as is.
func (b IPv4) SetChecksum(v uint16) { b.setChecksum(v) }

// CalculateChecksum returns the header checksum computed from scratch (with
// the checksum field taken as zero).
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	c := ChecksumCombine(Checksum(b[:ipChecksum], 0), Checksum(b[ipChecksum+2:hl], 0))
	return ^c
}

// UpdateChecksum recomputes the header checksum from scratch.
func (b IPv4) UpdateChecksum() { b.setChecksum(b.CalculateChecksum()) }

func (b IPv4) set16(off int, v uint16) {
	old := binary.BigEndian.Uint16(b[off:])
	binary.BigEndian.PutUint16(b[off:], v)
	b.setChecksum(ChecksumUpdate2(b.Checksum(), old, v))
}

func (b IPv4) setChecksum(v uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], v) }

// IPv4Fields holds the fields Encode writes.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // IPv4FlagDF, IPv4FlagMF, ORed with the offset in 8-byte units
	TTL         uint8
	Protocol    uint8
	Src, Dst    [4]byte
	Options     []byte // length a multiple of 4, at most 40
}

// Encode writes the header described by f into b (which must hold
// 20+len(f.Options) bytes) and computes the checksum.
func (b IPv4) Encode(f *IPv4Fields) {
	hl := IPv4MinSize + len(f.Options)
	b[ipVersIHL] = 0x40 | uint8(hl/4)
	b[ipTOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipTotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipID:], f.ID)
	binary.BigEndian.PutUint16(b[ipFlagsFrag:], f.Flags)
	b[ipTTL] = f.TTL
	b[ipProtocol] = f.Protocol
	binary.BigEndian.PutUint16(b[ipChecksum:], 0)
	copy(b[ipSrcAddr:], f.Src[:])
	copy(b[ipDstAddr:], f.Dst[:])
	copy(b[IPv4MinSize:hl], f.Options)
	b.UpdateChecksum()
}

// IPv4 option types (RFC 791); bit 7 of the type is the copy flag.
const (
	IPv4OptEnd     = 0
	IPv4OptNOP     = 1
	ipv4OptCopyBit = 0x80
)

// ValidateOptions walks the options list and reports ReasonBadOptions when
// an option length runs past the header or is below 2.
func ValidateOptions(opts []byte) Reason {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case IPv4OptEnd:
			return ReasonNone
		case IPv4OptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return ReasonBadOptions
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return ReasonBadOptions
		}
		i += l
	}
	return ReasonNone
}

// CopiedOptions appends to dst the options whose copy flag is set, padded
// with End to a multiple of 4, as fragments other than the first carry them
// (RFC 791 §3.1 "copied flag"). opts must be valid (ValidateOptions).
func CopiedOptions(dst, opts []byte) []byte {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == IPv4OptEnd {
			break
		}
		if t == IPv4OptNOP {
			i++
			continue
		}
		l := int(opts[i+1])
		if t&ipv4OptCopyBit != 0 {
			dst = append(dst, opts[i:i+l]...)
		}
		i += l
	}
	for len(dst)%4 != 0 {
		dst = append(dst, IPv4OptEnd)
	}
	return dst
}
