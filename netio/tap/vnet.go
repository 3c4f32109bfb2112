package tap

import (
	"encoding/binary"
	"errors"

	"fwd/header"
)

// VirtioNetHdrLen is the size of struct virtio_net_hdr, which precedes
// every frame read from or written to a TAP opened with IFF_VNET_HDR
// (include/uapi/linux/virtio_net.h). fwd sets it explicitly with
// TUNSETVNETHDRSZ (the kernel's default is the same).
const VirtioNetHdrLen = 10

// virtio_net_hdr flags and GSO types (include/uapi/linux/virtio_net.h).
const (
	VirtioNetHdrFNeedsCsum = 1 // csum_start/csum_offset name a partial checksum to complete
	VirtioNetHdrFDataValid = 2 // the kernel verified the checksum

	VirtioNetHdrGSONone  = 0
	VirtioNetHdrGSOTCPv4 = 1
	VirtioNetHdrGSOUDP   = 3 // UFO: IP fragmentation of one datagram; not requested by fwd
	VirtioNetHdrGSOTCPv6 = 4
	VirtioNetHdrGSOUDPL4 = 5 // USO: UDP segmentation into datagrams of GSOSize
	VirtioNetHdrGSOECN   = 0x80
)

// VirtioNetHdr is struct virtio_net_hdr, in the host's byte order (a TAP
// without TUNSETVNETBE/LE uses native endianness):
//
//	struct virtio_net_hdr {
//		__u8 flags;        // VIRTIO_NET_HDR_F_*
//		__u8 gso_type;     // VIRTIO_NET_HDR_GSO_*
//		__le16 hdr_len;    // Ethernet + IP + transport header bytes
//		__le16 gso_size;   // bytes of payload per segment (the MSS)
//		__le16 csum_start; // where checksumming starts, from the frame start
//		__le16 csum_offset;// where to store it, from csum_start
//	};
type VirtioNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Decode reads the header from b (at least VirtioNetHdrLen bytes).
func (h *VirtioNetHdr) Decode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = binary.NativeEndian.Uint16(b[2:])
	h.GSOSize = binary.NativeEndian.Uint16(b[4:])
	h.CsumStart = binary.NativeEndian.Uint16(b[6:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[8:])
}

// Encode writes the header into b (at least VirtioNetHdrLen bytes).
func (h *VirtioNetHdr) Encode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}

// Errors of Segment and CompleteChecksum. They are pre-declared: the read
// path creates no error values per packet.
var (
	ErrBadCsumOffsets = errors.New("tap: checksum start/offset outside the frame")
	ErrBadGSOFrame    = errors.New("tap: GSO frame is not Ethernet/IPv4 with a whole transport header")
	ErrUnsupportedGSO = errors.New("tap: unsupported GSO type")
	ErrTooManySegs    = errors.New("tap: not enough buffers for the GSO segments")
	ErrShortBuffer    = errors.New("tap: buffer too short for a segment")
)

// CompleteChecksum finishes a partial checksum the way a NIC (or Linux's
// skb_checksum_help) does for VIRTIO_NET_HDR_F_NEEDS_CSUM: the field at
// csumStart+csumOffset holds the folded pseudo-header sum, so the one's
// complement sum from csumStart to the end of the frame, complemented, is
// the checksum. A result of 0 is sent as 0xffff (CSUM_MANGLED_0), which UDP
// requires (RFC 768) and TCP accepts (both are zero in one's complement).
func CompleteChecksum(frame []byte, csumStart, csumOffset int) error {
	if csumStart < 0 || csumOffset < 0 || csumStart+csumOffset+2 > len(frame) {
		return ErrBadCsumOffsets
	}
	at := frame[csumStart+csumOffset:]
	c := ^header.Checksum(frame[csumStart:], 0)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(at, c)
	return nil
}

// gsoFrame is a parsed GSO super-frame: where its headers are and the
// fields every segment is derived from (read once, before any segment is
// written, so a segment built over the source in place cannot change them).
type gsoFrame struct {
	l3, l4, hdrLen int // IP header, transport header, payload offsets
	end            int // end of the IP datagram in the frame
	payload        int // payload bytes
	mss            int
	proto          uint8
	ipID           uint16
	seq            uint32
	tcpFlags       uint8
	src, dst       [4]byte
}

func parseGSO(frame []byte, h *VirtioNetHdr) (gsoFrame, error) {
	var g gsoFrame
	switch h.GSOType &^ VirtioNetHdrGSOECN {
	case VirtioNetHdrGSOTCPv4:
		g.proto = header.ProtoTCP
	case VirtioNetHdrGSOUDPL4:
		g.proto = header.ProtoUDP
	default:
		return g, ErrUnsupportedGSO
	}
	if h.GSOSize == 0 {
		return g, ErrBadGSOFrame
	}
	eth := header.Ethernet(frame)
	if eth.Validate() != header.ReasonNone || eth.EtherType() != header.EtherTypeIPv4 {
		return g, ErrBadGSOFrame
	}
	g.l3 = eth.PayloadOffset()
	ip := frame[g.l3:]
	if len(ip) < header.IPv4MinSize || ip[0]>>4 != 4 {
		return g, ErrBadGSOFrame
	}
	ihl := int(ip[0]&0xf) * 4
	if ihl < header.IPv4MinSize || len(ip) > 0xffff {
		return g, ErrBadGSOFrame
	}
	iph := header.IPv4(ip)
	if iph.Protocol() != g.proto || iph.IsFragment() {
		return g, ErrBadGSOFrame
	}
	// The IP total length bounds the datagram (link padding after it is
	// not payload); the kernel fills it in for super-frames too.
	tl := int(iph.TotalLength())
	if tl < ihl || tl > len(ip) {
		return g, ErrBadGSOFrame
	}
	frame = frame[:g.l3+tl]
	g.end = g.l3 + tl
	g.l4 = g.l3 + ihl
	switch g.proto {
	case header.ProtoTCP:
		if len(frame) < g.l4+header.TCPMinSize {
			return g, ErrBadGSOFrame
		}
		t := header.TCP(frame[g.l4:])
		thl := t.DataOffset()
		if thl < header.TCPMinSize || g.l4+thl > len(frame) {
			return g, ErrBadGSOFrame
		}
		g.hdrLen = g.l4 + thl
		g.seq = t.SequenceNumber()
		g.tcpFlags = t.Flags()
	case header.ProtoUDP:
		if len(frame) < g.l4+header.UDPSize {
			return g, ErrBadGSOFrame
		}
		g.hdrLen = g.l4 + header.UDPSize
	}
	g.payload = len(frame) - g.hdrLen
	g.mss = int(h.GSOSize)
	g.ipID = iph.ID()
	g.src = iph.SourceAddress()
	g.dst = iph.DestinationAddress()
	return g, nil
}

// segments returns how many segments the frame makes (at least one).
func (g *gsoFrame) segments() int {
	if g.payload <= 0 {
		return 1
	}
	return (g.payload + g.mss - 1) / g.mss
}

// SegmentCount returns how many frames Segment makes of frame, or an error
// when Segment would refuse it.
func SegmentCount(frame []byte, h VirtioNetHdr) (int, error) {
	g, err := parseGSO(frame, &h)
	if err != nil {
		return 0, err
	}
	return g.segments(), nil
}

// TCP flags that only the first or the last segment keeps, as Linux's
// tcp_gso_segment does: CWR on the first, FIN and PSH on the last.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// Segment splits the GSO super-frame frame (an Ethernet frame without its
// virtio header) described by h into frames that each carry at most
// h.GSOSize bytes of transport payload: what the sending kernel would have
// put on the wire without offload, with the headers and checksums Linux's
// tcp_gso_segment / __udp_gso_segment give them:
//
//   - TCPv4 (TSO): sequence numbers advance by the payload sent, CWR stays on
//     the first segment, FIN and PSH on the last; the IP ID increments per
//     segment; IP total length, IP and TCP checksums are computed afresh.
//   - UDP (USO, VIRTIO_NET_HDR_GSO_UDP_L4): each segment is a datagram with
//     its own UDP header, length and checksum; the IP ID increments.
//
// Segment k is written at bufs[k][offset:] and its length stored in
// sizes[k]. bufs[0][offset:] may be frame itself (the first segment is
// then built in place, without a copy); no other buf may overlap frame.
// It returns the number of segments, or an error (and 0) when the frame is
// malformed, its GSO type unsupported, or the buffers too few or short.
// It allocates nothing.
func Segment(frame []byte, h VirtioNetHdr, bufs [][]byte, sizes []int, offset int) (int, error) {
	g, err := parseGSO(frame, &h)
	if err != nil {
		return 0, err
	}
	n := g.segments()
	if n > len(bufs) || n > len(sizes) {
		return 0, ErrTooManySegs
	}
	if _, err := g.segmentRange(frame, 0, n, bufs, sizes, offset); err != nil {
		return 0, err
	}
	return n, nil
}

// segmentRange writes segments first..first+count-1 (clamped to the last)
// into bufs[0..], and returns how many it wrote. Segment 0, when in range,
// is written last, so that building it in place over frame leaves the
// source intact for the others.
func (g *gsoFrame) segmentRange(frame []byte, first, count int, bufs [][]byte, sizes []int, offset int) (int, error) {
	n := g.segments()
	if first+count > n {
		count = n - first
	}
	for i := count - 1; i >= 0; i-- {
		k := first + i
		start := k * g.mss
		end := min(start+g.mss, g.payload)
		if g.payload <= 0 {
			start, end = 0, 0
		}
		segLen := g.hdrLen + end - start
		if offset < 0 || offset > len(bufs[i]) || len(bufs[i])-offset < segLen {
			return 0, ErrShortBuffer
		}
		dst := bufs[i][offset : offset+segLen]
		copy(dst, frame[:g.hdrLen])
		copy(dst[g.hdrLen:], frame[g.hdrLen+start:g.hdrLen+end]) // end <= g.end-g.hdrLen
		g.fixSegment(dst, k, n)
		sizes[i] = segLen
	}
	return count, nil
}

// fixSegment writes the headers of segment k of n.
func (g *gsoFrame) fixSegment(seg []byte, k, n int) {
	ip := header.IPv4(seg[g.l3:])
	ipLen := len(seg) - g.l3
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	binary.BigEndian.PutUint16(ip[4:], g.ipID+uint16(k))
	binary.BigEndian.PutUint16(ip[10:], 0)
	ip.UpdateChecksum()
	l4 := seg[g.l4:]
	l4Len := len(seg) - g.l4
	ph := header.PseudoHeaderChecksum(g.proto, g.src, g.dst, uint16(l4Len))
	switch g.proto {
	case header.ProtoTCP:
		t := header.TCP(l4)
		binary.BigEndian.PutUint32(l4[4:], g.seq+uint32(k*g.mss))
		fl := g.tcpFlags
		if k != n-1 {
			fl &^= tcpFIN | tcpPSH
		}
		if k != 0 {
			fl &^= tcpCWR
		}
		l4[13] = fl
		t.SetChecksum(0)
		t.SetChecksum(^header.Checksum(l4, ph))
	case header.ProtoUDP:
		u := header.UDP(l4)
		u.SetLength(uint16(l4Len))
		u.SetChecksum(0)
		c := ^header.Checksum(l4, ph)
		if c == 0 {
			c = 0xffff
		}
		u.SetChecksum(c)
	}
}
