package tap

import (
	"bytes"
	"encoding/binary"

	"fwd/header"
)

// Write-side coalescing (GRO in reverse, as wireguard-go's tcpGRO does for
// its TUN): a run of adjacent TCPv4 segments of one flow in a Write batch —
// consecutive sequence numbers, equal payload sizes but for the last,
// identical headers apart from length, ID and checksums, plain ACK/PSH
// flags — is written as one GSO super-frame with a partial checksum. The
// receiving kernel takes it in one system call as if its own GRO had
// merged the segments (virtio_net_hdr_to_skb), and segments it again only
// if it forwards it. On this VM a TAP write costs about 1.8 µs, so merging
// 40 segments into one write is most of the bulk-TCP budget.
//
// The rules follow Linux's tcp_gro_receive: options must be byte-identical
// (so timestamps must match), a segment with PSH or a short payload ends
// the run, and SYN/FIN/RST/URG/CWR/ECE segments are never merged.

// maxCoalesced bounds a super-frame's IP datagram (its 16-bit total length).
const maxCoalesced = 65535

// tcpFlags that disqualify a segment from merging.
const noMergeFlags = 0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80 // FIN SYN RST URG ECE CWR

// groSeg is what the coalescer needs to know of one frame.
type groSeg struct {
	hdrLen int // Ethernet + IP + TCP header bytes
	plen   int
	seq    uint32
	flags  uint8
}

// groParse reports whether frame is a mergeable TCPv4 segment: untagged
// Ethernet, IPv4 without options, not a fragment, a TCP header that fits,
// some payload, and only ACK (and PSH) among the flags.
func groParse(frame []byte) (groSeg, bool) {
	var s groSeg
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	if len(frame) < l4+header.TCPMinSize || binary.BigEndian.Uint16(frame[12:]) != header.EtherTypeIPv4 {
		return s, false
	}
	ip := header.IPv4(frame[l3:])
	if ip[0] != 0x45 || ip.Protocol() != header.ProtoTCP || ip.IsFragment() {
		return s, false
	}
	tl := int(ip.TotalLength())
	if tl > len(frame)-l3 || tl < header.IPv4MinSize+header.TCPMinSize {
		return s, false
	}
	t := header.TCP(frame[l4:])
	thl := t.DataOffset()
	if thl < header.TCPMinSize || header.IPv4MinSize+thl > tl {
		return s, false
	}
	s.flags = t.Flags()
	if s.flags&noMergeFlags != 0 || s.flags&0x10 == 0 {
		return s, false
	}
	s.hdrLen = l4 + thl
	s.plen = l3 + tl - s.hdrLen
	s.seq = t.SequenceNumber()
	return s, s.plen > 0
}

// sameFlow reports whether b's headers match a's for merging: Ethernet
// header, IP header but for total length, ID and checksum, TCP header but
// for sequence number, flags and checksum (options included).
func sameFlow(a, b []byte, hdrLen int) bool {
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	return bytes.Equal(a[:l3], b[:l3]) &&
		a[l3+1] == b[l3+1] && // TOS
		bytes.Equal(a[l3+6:l3+10], b[l3+6:l3+10]) && // flags/offset, TTL, protocol
		bytes.Equal(a[l3+12:l4], b[l3+12:l4]) && // addresses
		bytes.Equal(a[l4:l4+4], b[l4:l4+4]) && // ports
		bytes.Equal(a[l4+8:l4+13], b[l4+8:l4+13]) && // ack, data offset
		bytes.Equal(a[l4+14:l4+16], b[l4+14:l4+16]) && // window
		bytes.Equal(a[l4+18:hdrLen], b[l4+18:hdrLen]) // urgent pointer, options
}

// coalesceRun returns how many frames from frames[0] form one mergeable
// run (1 when frames[0] merges with nothing): TCP segments (tcpRun) or
// UDP datagrams (udpRun).
func coalesceRun(frames [][]byte, offset int) int {
	if isUDP(frames[0][offset:]) {
		return udpRun(frames, offset)
	}
	return tcpRun(frames, offset)
}

// isUDP reports whether the frame's IP protocol byte says UDP (udpRun
// checks the rest).
func isUDP(f []byte) bool {
	return len(f) > header.EthernetMinSize+9 && f[header.EthernetMinSize+9] == header.ProtoUDP
}

// tcpRun is coalesceRun for TCP.
func tcpRun(frames [][]byte, offset int) int {
	first := frames[0][offset:]
	s0, ok := groParse(first)
	if !ok || s0.flags&0x08 != 0 {
		return 1
	}
	total := s0.hdrLen - header.EthernetMinSize + s0.plen // the IP datagram so far
	next := s0.seq + uint32(s0.plen)
	n := 1
	for n < len(frames) {
		f := frames[n][offset:]
		s, ok := groParse(f)
		if !ok || s.hdrLen != s0.hdrLen || s.seq != next || s.plen > s0.plen ||
			total+s.plen > maxCoalesced || !sameFlow(first, f, s0.hdrLen) {
			break
		}
		n++
		total += s.plen
		next += uint32(s.plen)
		if s.plen < s0.plen || s.flags&0x08 != 0 {
			break // a short or pushed segment ends the run
		}
	}
	return n
}

// coalesce writes frames[0..n) (a run from coalesceRun, n >= 2) as one
// super-frame into dst after VirtioNetHdrLen bytes of virtio header, and
// returns the bytes to write (header included).
func coalesce(dst []byte, frames [][]byte, offset, n int) []byte {
	first := frames[0][offset:]
	if first[header.EthernetMinSize+9] == header.ProtoUDP {
		return coalesceUDP(dst, frames, offset, n)
	}
	s0, _ := groParse(first)
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	out := dst[:VirtioNetHdrLen+s0.hdrLen]
	copy(out[VirtioNetHdrLen:], first[:s0.hdrLen])
	var flags uint8
	for i := 0; i < n; i++ {
		f := frames[i][offset:]
		s, _ := groParse(f)
		out = append(out, f[s.hdrLen:s.hdrLen+s.plen]...)
		flags |= s.flags
	}
	fr := out[VirtioNetHdrLen:]
	ip := header.IPv4(fr[l3:])
	binary.BigEndian.PutUint16(ip[2:], uint16(len(fr)-l3))
	ip.UpdateChecksum()
	fr[l4+13] = flags
	// NEEDS_CSUM: the field holds the pseudo-header sum; the kernel (or the
	// NIC) completes the checksum over the transport header and payload.
	binary.BigEndian.PutUint16(fr[l4+16:], header.PseudoHeaderChecksum(header.ProtoTCP,
		ip.SourceAddress(), ip.DestinationAddress(), uint16(len(fr)-l4)))
	h := VirtioNetHdr{
		Flags:      VirtioNetHdrFNeedsCsum,
		GSOType:    VirtioNetHdrGSOTCPv4,
		HdrLen:     uint16(s0.hdrLen),
		GSOSize:    uint16(s0.plen),
		CsumStart:  l4,
		CsumOffset: 16,
	}
	h.Encode(out)
	return out
}

// UDP (USO in reverse): a run of datagrams of one flow in a Write batch —
// identical Ethernet, IP and UDP headers but for IP total length, ID and
// checksum and UDP length and checksum, equal payload sizes but for a
// shorter last one, IP IDs counting up by one (or DF set, where the ID
// means nothing, RFC 6864) — is written as one VIRTIO_NET_HDR_GSO_UDP_L4
// super-frame. The kernel takes it as one packet through its bridges,
// routing and veths and segments it where it must (at the latest in the
// receiving socket, unless that reads with UDP_GRO), giving back the same
// datagrams; on this VM one TAP write of a small datagram costs 5-6 µs in
// the lab, most of it the kernel's forwarding behind the TAP, so merging
// is what lets small-datagram floods through. A datagram whose checksum
// is zero (none) or wrong is never merged: segmentation would compute a
// fresh, valid one.

// maxUDPSegs is how many datagrams one USO super-frame carries (the
// kernel's UDP_MAX_SEGMENTS is 64 or 128, depending on the version).
const maxUDPSegs = 64

// udpSeg is what the coalescer needs to know of one datagram.
type udpSeg struct {
	plen int // payload bytes
	id   uint16
	df   bool
}

// udpHdrLen is the Ethernet, IPv4 (no options) and UDP header bytes.
const udpHdrLen = header.EthernetMinSize + header.IPv4MinSize + header.UDPSize

// udpParse reports whether frame is a mergeable UDPv4 datagram: untagged
// Ethernet, IPv4 without options, not a fragment, a UDP length that
// matches the IP total length, some payload, and a checksum that is
// present and right.
func udpParse(frame []byte) (udpSeg, bool) {
	var s udpSeg
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	if len(frame) < udpHdrLen || binary.BigEndian.Uint16(frame[12:]) != header.EtherTypeIPv4 {
		return s, false
	}
	ip := header.IPv4(frame[l3:])
	if ip[0] != 0x45 || ip.Protocol() != header.ProtoUDP || ip.IsFragment() {
		return s, false
	}
	tl := int(ip.TotalLength())
	if tl > len(frame)-l3 || tl <= header.IPv4MinSize+header.UDPSize {
		return s, false
	}
	u := header.UDP(frame[l4:])
	if int(u.Length()) != tl-header.IPv4MinSize || u.Checksum() == 0 {
		return s, false
	}
	ph := header.PseudoHeaderChecksum(header.ProtoUDP, ip.SourceAddress(), ip.DestinationAddress(), uint16(tl-header.IPv4MinSize))
	if header.Checksum(frame[l4:l3+tl], ph) != 0xffff {
		return s, false
	}
	s.plen = tl - header.IPv4MinSize - header.UDPSize
	s.id = ip.ID()
	s.df = ip.DontFragment()
	return s, true
}

// sameUDPFlow reports whether b's headers match a's for merging: Ethernet
// header, IP TOS, flags and fragment offset, TTL, protocol, addresses, and
// the UDP ports.
func sameUDPFlow(a, b []byte) bool {
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	return bytes.Equal(a[:l3], b[:l3]) &&
		a[l3+1] == b[l3+1] && // TOS
		bytes.Equal(a[l3+6:l3+10], b[l3+6:l3+10]) && // flags/offset, TTL, protocol
		bytes.Equal(a[l3+12:l4+4], b[l3+12:l4+4]) // addresses, ports
}

// udpRun is coalesceRun for UDP.
func udpRun(frames [][]byte, offset int) int {
	first := frames[0][offset:]
	s0, ok := udpParse(first)
	if !ok {
		return 1
	}
	total := header.IPv4MinSize + header.UDPSize + s0.plen
	n := 1
	for n < len(frames) && n < maxUDPSegs {
		f := frames[n][offset:]
		s, ok := udpParse(f)
		if !ok || s.plen > s0.plen || total+s.plen > maxCoalesced ||
			(!s0.df && s.id != s0.id+uint16(n)) || !sameUDPFlow(first, f) {
			break
		}
		n++
		total += s.plen
		if s.plen < s0.plen {
			break // a short datagram ends the run
		}
	}
	return n
}

// coalesceUDP is coalesce for a run from udpRun: the IP header of the
// first datagram with the total length, the UDP header with the total
// length and the pseudo-header sum for the kernel to complete, then every
// payload.
func coalesceUDP(dst []byte, frames [][]byte, offset, n int) []byte {
	const l3 = header.EthernetMinSize
	const l4 = l3 + header.IPv4MinSize
	first := frames[0][offset:]
	out := dst[:VirtioNetHdrLen+udpHdrLen]
	copy(out[VirtioNetHdrLen:], first[:udpHdrLen])
	gsoSize := 0
	for i := 0; i < n; i++ {
		f := frames[i][offset:]
		tl := int(binary.BigEndian.Uint16(f[l3+2:]))
		if i == 0 {
			gsoSize = tl - header.IPv4MinSize - header.UDPSize
		}
		out = append(out, f[udpHdrLen:l3+tl]...)
	}
	fr := out[VirtioNetHdrLen:]
	ip := header.IPv4(fr[l3:])
	binary.BigEndian.PutUint16(ip[2:], uint16(len(fr)-l3))
	ip.UpdateChecksum()
	ulen := uint16(len(fr) - l4)
	binary.BigEndian.PutUint16(fr[l4+4:], ulen)
	binary.BigEndian.PutUint16(fr[l4+6:], header.PseudoHeaderChecksum(header.ProtoUDP,
		ip.SourceAddress(), ip.DestinationAddress(), ulen))
	h := VirtioNetHdr{
		Flags:      VirtioNetHdrFNeedsCsum,
		GSOType:    VirtioNetHdrGSOUDPL4,
		HdrLen:     udpHdrLen,
		GSOSize:    uint16(gsoSize),
		CsumStart:  l4,
		CsumOffset: 6,
	}
	h.Encode(out)
	return out
}
