package packet

import (
	"encoding/binary"

	"fwd/header"
)

// Proto is the transport protocol as the summary knows it. Unknown means the
// packet was malformed (Reason says why) and the rules drop it.
type Proto uint8

const (
	Unknown Proto = iota
	TCP
	UDP
	ICMP
	OtherProto // a valid IPv4 datagram of another protocol (Parsed.IPProto)
	Fragment   // a fragment (first or not): the transport header waits for reassembly
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	case OtherProto:
		return "other"
	case Fragment:
		return "fragment"
	}
	return "unknown"
}

// Parsed is the decoded summary of a datagram that conntrack and rules read.
// It follows tailscale's net/packet.Parsed: Decode allocates nothing and
// returns no error; malformed input leaves Proto = Unknown and Reason set.
type Parsed struct {
	// Reason is why the packet is malformed; ReasonNone when valid.
	Reason header.Reason
	Proto  Proto

	// Valid iff Proto != Unknown.
	IPProto  uint8
	TTL      uint8
	TOS      uint8
	HdrLen   uint8 // IP header length
	Src, Dst [4]byte
	Length   uint16 // IP total length
	ID       uint16
	FragOff  uint16 // flags and offset word
	L4Off    uint16 // offset of the transport header in Data

	// Valid iff Proto is TCP or UDP.
	SrcPort, DstPort uint16

	// Valid iff Proto == TCP.
	TCPFlags  uint8
	Seq, Ack  uint32
	Window    uint16
	PayloadN  uint16 // transport payload length
	TCPOpts   header.TCPOptions
	TCPHdrLen uint8

	// Valid iff Proto == ICMP. ICMPID is the query identifier for queries
	// (echo, timestamp, ...); for errors, see Inner.
	ICMPType, ICMPCode uint8
	ICMPID             uint16

	// Inner summarises the packet quoted by an ICMP error. Valid iff
	// Proto == ICMP, header.IsICMPError(ICMPType) and InnerOK.
	InnerOK bool
	Inner   Inner
}

// Inner is the summary of the datagram quoted in an ICMP error.
type Inner struct {
	Proto            uint8
	Src, Dst         [4]byte
	SrcPort, DstPort uint16 // ports for TCP/UDP; id in SrcPort for ICMP queries
	ICMPType         uint8
	Seq              uint32 // TCP sequence number, if 8 bytes were quoted
	HasSeq           bool
	Off              uint16 // offset of the quoted IP header in Data
	HdrLen           uint8
	IsFragment       bool // the quoted datagram was a non-first fragment
}

// IsFragment reports whether the datagram is a fragment: MF set or a
// non-zero offset (first, middle or last fragment).
func (p *Parsed) IsFragment() bool { return p.FragOff&(header.IPv4FlagMF|0x1fff) != 0 }

// Decode fills p from the IPv4 datagram b, which must start at the IP
// header. It returns the datagram length (the IP total length) so the caller
// can trim link padding, or 0 when malformed.
//
// The IPv4 checks are those of header.IPv4.Validate, done inline on the
// fast path; only a packet that fails them calls Validate, for the reason.
func (p *Parsed) Decode(b []byte) int {
	*p = Parsed{}
	if len(b) < header.IPv4MinSize {
		p.Reason = header.ReasonTruncated
		return 0
	}
	vihl := b[0]
	hl := int(vihl&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	var ok bool
	if vihl == 0x45 {
		// No options, the common case.
		ok = tl >= header.IPv4MinSize && tl <= len(b) && header.IPv4MinHeaderChecksumOK((*[header.IPv4MinSize]byte)(b))
	} else {
		ok = vihl>>4 == 4 && hl >= header.IPv4MinSize && tl >= hl && tl <= len(b) && header.IPv4(b).IsChecksumValid()
	}
	if !ok {
		p.Reason = header.IPv4(b).Validate()
		return 0
	}
	if hl > header.IPv4MinSize {
		if r := header.ValidateOptions(b[header.IPv4MinSize:hl]); r != header.ReasonNone {
			p.Reason = r
			return 0
		}
	}
	b = b[:tl]
	p.IPProto = b[9]
	p.TTL = b[8]
	p.TOS = b[1]
	p.HdrLen = uint8(hl)
	p.Src = [4]byte(b[12:16])
	p.Dst = [4]byte(b[16:20])
	p.Length = uint16(tl)
	p.ID = binary.BigEndian.Uint16(b[4:6])
	p.FragOff = binary.BigEndian.Uint16(b[6:8])
	p.L4Off = uint16(hl)
	l4 := b[hl:]

	if p.FragOff&(header.IPv4FlagMF|0x1fff) != 0 {
		// A non-first fragment has no transport header. A first fragment
		// (MF, offset 0) may hold an incomplete one, and is not looked at
		// until reassembly.
		p.Proto = Fragment
		return tl
	}
	switch p.IPProto {
	case header.ProtoTCP:
		t := header.TCP(l4)
		if r := t.Validate(); r != header.ReasonNone {
			p.Reason = r
			return 0
		}
		p.Proto = TCP
		p.SrcPort = t.SourcePort()
		p.DstPort = t.DestinationPort()
		p.TCPFlags = t.Flags()
		p.Seq = t.SequenceNumber()
		p.Ack = t.AckNumber()
		p.Window = t.WindowSize()
		off := t.DataOffset()
		p.TCPHdrLen = uint8(off)
		p.PayloadN = uint16(len(l4) - off)
		if off > header.TCPMinSize {
			header.ParseTCPOptions(l4[header.TCPMinSize:off], &p.TCPOpts)
		}
	case header.ProtoUDP:
		u := header.UDP(l4)
		if r := u.Validate(); r != header.ReasonNone {
			p.Reason = r
			return 0
		}
		p.Proto = UDP
		p.SrcPort = u.SourcePort()
		p.DstPort = u.DestinationPort()
		p.PayloadN = u.Length() - header.UDPSize
	case header.ProtoICMP:
		ic := header.ICMPv4(l4)
		if r := ic.Validate(); r != header.ReasonNone {
			p.Reason = r
			return 0
		}
		p.Proto = ICMP
		p.ICMPType = ic.Type()
		p.ICMPCode = ic.Code()
		if header.IsICMPQuery(p.ICMPType) {
			p.ICMPID = ic.Ident()
		} else if header.IsICMPError(p.ICMPType) {
			p.decodeInner(l4[header.ICMPv4Size:], hl+header.ICMPv4Size)
		}
	default:
		p.Proto = OtherProto
	}
	return tl
}

func (p *Parsed) decodeInner(q []byte, off int) {
	hl, n, r := header.QuotedValid(q)
	if r != header.ReasonNone {
		return
	}
	in := &p.Inner
	ip := header.IPv4(q)
	in.Proto = ip.Protocol()
	in.Src = ip.SourceAddress()
	in.Dst = ip.DestinationAddress()
	in.Off = uint16(off)
	in.HdrLen = uint8(hl)
	if ip.FlagsFragmentOffset()&0x1fff != 0 {
		in.IsFragment = true
		p.InnerOK = true
		return
	}
	l4 := q[hl:]
	switch in.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		if n < 4 {
			return // no ports: the error cannot be matched to a connection
		}
		in.SrcPort = binary.BigEndian.Uint16(l4[0:])
		in.DstPort = binary.BigEndian.Uint16(l4[2:])
		if in.Proto == header.ProtoTCP && n >= 8 {
			in.Seq = binary.BigEndian.Uint32(l4[4:])
			in.HasSeq = true
		}
	case header.ProtoICMP:
		if n < 8 {
			return
		}
		in.ICMPType = l4[0]
		in.SrcPort = binary.BigEndian.Uint16(l4[4:])
	}
	p.InnerOK = true
}
