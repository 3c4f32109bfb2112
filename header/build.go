package header

import "encoding/binary"

// Builders for the datagrams fwd makes itself: ICMP errors, echo replies
// and TCP resets. Each writes a whole IPv4 datagram (header with a fresh
// checksum, transport header with its checksum, payload) at the start of
// dst and returns its length, or 0 when dst is too small or the input is
// not something the builder can answer. They allocate nothing and never
// panic on short or malformed input: they check the lengths they rely on.

const (
	// ICMPErrorMaxSize is the largest ICMP error fwd builds: RFC 1812
	// §4.3.2.3 "the ICMP datagram SHOULD contain as much of the original
	// datagram as possible without the length of the ICMP datagram
	// exceeding 576 bytes".
	ICMPErrorMaxSize = 576
	// BuildTTL is the TTL of every datagram fwd makes (Linux's
	// ip_default_ttl).
	BuildTTL = 64
	// tosPrecInternetControl is IP precedence 6, which RFC 1812 §4.3.2.5
	// allows for ICMP errors and Linux's icmp_send uses.
	tosPrecInternetControl = 0xc0
	tosMask                = 0x1e // the TOS bits without precedence and ECN
)

// quotedLength returns how many bytes of orig an error quotes: the IP total
// length when it fits in orig, else what orig holds, capped so the error
// stays within max bytes.
func quotedLength(orig []byte, max int) int {
	n := len(orig)
	if n >= IPv4MinSize {
		if tl := int(binary.BigEndian.Uint16(orig[ipTotalLen:])); tl >= IPv4MinSize && tl < n {
			n = tl
		}
	}
	if room := max - IPv4MinSize - ICMPv4Size; n > room {
		n = room
	}
	return n
}

// BuildICMPError writes an ICMP error of type typ and code (with rest as
// the 32-bit field after the checksum: unused, pointer, or next-hop MTU)
// from src to orig's source, quoting orig's IP header and as much of its
// payload as fits in ICMPErrorMaxSize bytes (RFC 1812 §4.3.2.3). TTL is
// BuildTTL, TOS is orig's TOS with precedence 6 (RFC 1812 §4.3.2.5).
//
// orig must start with a version 4 header of at least 20 bytes that fits
// in orig; it may be truncated after the header. BuildICMPError returns
// the datagram length, or 0 when orig is not such a header or dst has no
// room for the error with at least orig's header quoted.
func BuildICMPError(dst []byte, src [4]byte, typ, code uint8, rest uint32, orig IPv4) int {
	hl, _, r := QuotedValid(orig)
	if r != ReasonNone {
		return 0
	}
	max := ICMPErrorMaxSize
	if len(dst) < max {
		max = len(dst)
	}
	q := quotedLength(orig, max)
	if q < hl {
		return 0
	}
	total := IPv4MinSize + ICMPv4Size + q
	ip := IPv4(dst[:total])
	ip.Encode(&IPv4Fields{
		TOS:         orig[ipTOS]&tosMask | tosPrecInternetControl,
		TotalLength: uint16(total),
		// Errors are at most 576 bytes, which every link carries
		// (RFC 791), so they are never fragmented; an ID derived from
		// the quoted datagram keeps the builder pure (RFC 6864 §4.1
		// leaves it free for datagrams that will not be fragmented).
		ID:       ^binary.BigEndian.Uint16(orig[ipID:]),
		TTL:      BuildTTL,
		Protocol: ProtoICMP,
		Src:      src,
		Dst:      [4]byte(orig[ipSrcAddr : ipSrcAddr+4]),
	})
	ic := ICMPv4(dst[IPv4MinSize:total])
	ic.Encode(typ, code, rest)
	copy(ic[ICMPv4Size:], orig[:q])
	ic.SetChecksum(ic.CalculateChecksum())
	return total
}

// BuildEchoReply writes the echo reply to the echo request req (RFC 792;
// RFC 1122 §3.2.2.6: the data is returned unchanged): addresses swapped,
// type 0, the same identifier, sequence number and data, TTL BuildTTL,
// the request's TOS, no IP options. It returns 0 when req is not a whole,
// unfragmented echo request that fits in dst.
func BuildEchoReply(dst []byte, req IPv4) int {
	if req.Validate() != ReasonNone || req.Protocol() != ProtoICMP || req.IsFragment() {
		return 0
	}
	hl := req.HeaderLength()
	tl := int(req.TotalLength())
	icmp := req[hl:tl]
	if len(icmp) < ICMPv4Size || icmp[icmpType] != ICMPEcho {
		return 0
	}
	total := IPv4MinSize + len(icmp)
	if total > len(dst) {
		return 0
	}
	ip := IPv4(dst[:total])
	ip.Encode(&IPv4Fields{
		TOS:         req.TOS(),
		TotalLength: uint16(total),
		ID:          req.ID(),
		TTL:         BuildTTL,
		Protocol:    ProtoICMP,
		Src:         req.DestinationAddress(),
		Dst:         req.SourceAddress(),
	})
	ic := ICMPv4(dst[IPv4MinSize:total])
	copy(ic, icmp)
	ic[icmpType] = ICMPEchoReply
	ic[icmpCode] = 0
	ic.SetChecksum(ic.CalculateChecksum())
	return total
}

// BuildTCPReset writes the reset that answers the TCP segment in orig,
// following RFC 9293 §3.10.7.1 (RFC 793 p. 36 "Reset Generation"):
//
//	If the incoming segment has the ACK bit set, the reset takes its
//	sequence number from the ACK field of the segment, otherwise the
//	reset has sequence number zero and the ACK field is set to the sum
//	of the sequence number and segment length of the incoming segment.
//	The connection remains in the CLOSED state.
//
// SEG.LEN counts the payload plus one for SYN and one for FIN. The reset
// goes from orig's destination to its source with the ports swapped, no
// options, window 0, TTL BuildTTL. It returns 0 when orig is not a whole,
// unfragmented TCP segment with a valid header, when orig is itself a
// reset (RFC 9293: "a reset is never sent in response to a reset"), or
// when dst is shorter than 40 bytes.
func BuildTCPReset(dst []byte, orig IPv4) int {
	const total = IPv4MinSize + TCPMinSize
	if len(dst) < total || orig.Validate() != ReasonNone || orig.Protocol() != ProtoTCP || orig.IsFragment() {
		return 0
	}
	hl := orig.HeaderLength()
	seg := TCP(orig[hl:orig.TotalLength()])
	if seg.Validate() != ReasonNone {
		return 0
	}
	flags := seg.Flags()
	if flags&TCPFlagRST != 0 {
		return 0
	}
	f := TCPFields{
		SrcPort: seg.DestinationPort(),
		DstPort: seg.SourcePort(),
		Flags:   TCPFlagRST,
	}
	if flags&TCPFlagACK != 0 {
		f.Seq = seg.AckNumber()
	} else {
		segLen := uint32(len(seg) - seg.DataOffset())
		if flags&TCPFlagSYN != 0 {
			segLen++
		}
		if flags&TCPFlagFIN != 0 {
			segLen++
		}
		f.Ack = seg.SequenceNumber() + segLen
		f.Flags |= TCPFlagACK
	}
	src, dstAddr := orig.DestinationAddress(), orig.SourceAddress()
	IPv4(dst[:total]).Encode(&IPv4Fields{
		TotalLength: total,
		Flags:       IPv4FlagDF, // as Linux's nf_send_reset: an atomic datagram
		TTL:         BuildTTL,
		Protocol:    ProtoTCP,
		Src:         src,
		Dst:         dstAddr,
	})
	t := TCP(dst[IPv4MinSize:total])
	t.Encode(&f)
	t.SetChecksum(t.CalculateChecksum(src, dstAddr))
	return total
}
