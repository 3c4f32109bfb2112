package header

import "encoding/binary"

// TCP is a view over a TCP segment, RFC 9293 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Precondition: Validate returned ReasonNone for this slice.
type TCP []byte

const (
	tcpSrcPort   = 0
	tcpDstPort   = 2
	tcpSeq       = 4
	tcpAck       = 8
	tcpDataOff   = 12
	tcpFlags     = 13
	tcpWindow    = 14
	tcpChecksum  = 16
	tcpUrgent    = 18
	TCPMinSize   = 20
	TCPMaxHeader = 60
)

// TCP flag bits, as in the 13th byte.
const (
	TCPFlagFIN uint8 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// TCP option kinds (RFC 9293, 7323, 2018).
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWindowScale   = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamp     = 8
)

// Validate checks that the data offset is sane and the header fits.
func (b TCP) Validate() Reason {
	if len(b) < TCPMinSize {
		return ReasonTruncated
	}
	off := int(b[tcpDataOff]>>4) * 4
	if off < TCPMinSize {
		return ReasonBadDataOffset
	}
	if off > len(b) {
		return ReasonTruncated
	}
	return ReasonNone
}

func (b TCP) SourcePort() uint16      { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }
func (b TCP) SequenceNumber() uint32  { return binary.BigEndian.Uint32(b[tcpSeq:]) }
func (b TCP) AckNumber() uint32       { return binary.BigEndian.Uint32(b[tcpAck:]) }
func (b TCP) DataOffset() int         { return int(b[tcpDataOff]>>4) * 4 }
func (b TCP) Flags() uint8            { return b[tcpFlags] }
func (b TCP) WindowSize() uint16      { return binary.BigEndian.Uint16(b[tcpWindow:]) }
func (b TCP) Checksum() uint16        { return binary.BigEndian.Uint16(b[tcpChecksum:]) }
func (b TCP) UrgentPointer() uint16   { return binary.BigEndian.Uint16(b[tcpUrgent:]) }
func (b TCP) Options() []byte         { return b[TCPMinSize:b.DataOffset()] }
func (b TCP) Payload() []byte         { return b[b.DataOffset():] }

// ReservedBits returns the four reserved bits (including AE, RFC 3540).
func (b TCP) ReservedBits() uint8 { return b[tcpDataOff] & 0x0f }

// SetChecksum stores the checksum as is.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], v) }

// SetSourcePortWithChecksumUpdate rewrites the source port (RFC 1624).
func (b TCP) SetSourcePortWithChecksumUpdate(p uint16) {
	b.SetChecksum(ChecksumUpdate2(b.Checksum(), b.SourcePort(), p))
	binary.BigEndian.PutUint16(b[tcpSrcPort:], p)
}

// SetDestinationPortWithChecksumUpdate rewrites the destination port.
func (b TCP) SetDestinationPortWithChecksumUpdate(p uint16) {
	b.SetChecksum(ChecksumUpdate2(b.Checksum(), b.DestinationPort(), p))
	binary.BigEndian.PutUint16(b[tcpDstPort:], p)
}

// UpdateChecksumPseudoAddress adjusts the checksum for an address change in
// the pseudo header.
func (b TCP) UpdateChecksumPseudoAddress(old, new [4]byte) {
	b.SetChecksum(ChecksumUpdate4(b.Checksum(), old, new))
}

// CalculateChecksum returns the checksum of the segment computed from scratch
// with the pseudo header; b must be exactly the segment.
func (b TCP) CalculateChecksum(src, dst [4]byte) uint16 {
	ph := PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b)))
	s := Checksum(b[:tcpChecksum], ph)
	s = Checksum(b[tcpChecksum+2:], s)
	return ^s
}

// IsChecksumValid reports whether the segment's checksum verifies.
func (b TCP) IsChecksumValid(src, dst [4]byte) bool {
	ph := PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b)))
	return Checksum(b, ph) == 0xffff
}

// TCPFields holds what Encode writes.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       uint8 // bytes; 20 when zero
	Flags            uint8
	Window           uint16
	Urgent           uint16
}

// Encode writes the fixed header; the checksum is left zero.
func (b TCP) Encode(f *TCPFields) {
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeq:], f.Seq)
	binary.BigEndian.PutUint32(b[tcpAck:], f.Ack)
	off := f.DataOffset
	if off == 0 {
		off = TCPMinSize
	}
	b[tcpDataOff] = (off / 4) << 4
	b[tcpFlags] = f.Flags
	binary.BigEndian.PutUint16(b[tcpWindow:], f.Window)
	binary.BigEndian.PutUint16(b[tcpChecksum:], 0)
	binary.BigEndian.PutUint16(b[tcpUrgent:], f.Urgent)
}

// SACKBlock is one SACK edge pair.
type SACKBlock struct{ Left, Right uint32 }

// TCPOptions is the parsed options of a segment. A field is valid iff its
// Has flag is set.
type TCPOptions struct {
	MSS           uint16
	WindowScale   uint8
	HasMSS        bool
	HasWScale     bool
	SACKPermitted bool
	HasTimestamp  bool
	TSVal, TSEcr  uint32
	NumSACK       uint8
	SACK          [4]SACKBlock
	Malformed     bool // an option ran past the header or had a bad length
}

// ParseTCPOptions decodes opts into o. It allocates nothing; malformed
// options stop the walk and set o.Malformed.
//
// Two layouts take a fast path, as Linux's tcp_parse_aligned_timestamp
// does for the first: NOP NOP TS (Linux, BSD, macOS on established
// segments) and MSS SACK-permitted TS NOP WS (the Linux SYN). Any other
// layout is walked option by option with the same result. Fields are
// stored one by one after zeroing: a composite literal is built on the
// stack and copied with wide loads that stall on store forwarding.
func ParseTCPOptions(opts []byte, o *TCPOptions) {
	switch len(opts) {
	case 12:
		if binary.BigEndian.Uint32(opts[0:4]) == 0x0101080a {
			*o = TCPOptions{}
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(opts[4:8])
			o.TSEcr = binary.BigEndian.Uint32(opts[8:12])
			return
		}
	case 20:
		if binary.BigEndian.Uint16(opts[0:2]) == 0x0204 &&
			binary.BigEndian.Uint32(opts[4:8]) == 0x0402080a &&
			binary.BigEndian.Uint32(opts[16:20])>>8 == 0x010303 {
			*o = TCPOptions{}
			o.MSS = binary.BigEndian.Uint16(opts[2:4])
			o.WindowScale = opts[19]
			o.HasMSS = true
			o.HasWScale = true
			o.SACKPermitted = true
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(opts[8:12])
			o.TSEcr = binary.BigEndian.Uint32(opts[12:16])
			return
		}
	}
	parseTCPOptionsWalk(opts, o)
}

// parseTCPOptionsWalk is ParseTCPOptions without the fast paths.
func parseTCPOptionsWalk(opts []byte, o *TCPOptions) {
	*o = TCPOptions{}
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case TCPOptEOL:
			return
		case TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			o.Malformed = true
			return
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			o.Malformed = true
			return
		}
		v := opts[i+2 : i+l]
		switch kind {
		case TCPOptMSS:
			if l == 4 {
				o.HasMSS = true
				o.MSS = binary.BigEndian.Uint16(v)
			} else {
				o.Malformed = true
			}
		case TCPOptWindowScale:
			if l == 3 {
				o.HasWScale = true
				o.WindowScale = v[0]
			} else {
				o.Malformed = true
			}
		case TCPOptSACKPermitted:
			if l == 2 {
				o.SACKPermitted = true
			} else {
				o.Malformed = true
			}
		case TCPOptSACK:
			if (l-2)%8 != 0 {
				o.Malformed = true
				break
			}
			for j := 0; j+8 <= len(v) && o.NumSACK < 4; j += 8 {
				o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(v[j:]), binary.BigEndian.Uint32(v[j+4:])}
				o.NumSACK++
			}
		case TCPOptTimestamp:
			if l == 10 {
				o.HasTimestamp = true
				o.TSVal = binary.BigEndian.Uint32(v)
				o.TSEcr = binary.BigEndian.Uint32(v[4:])
			} else {
				o.Malformed = true
			}
		}
		i += l
	}
}
