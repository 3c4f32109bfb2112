package router

import (
	"encoding/binary"

	"fwd/header"
	"fwd/packet"
)

// GSO super-frames through the dataplane. A TAP device with offloads hands
// over UDP (USO) and TCP (TSO) super-frames of up to 64 KiB. Rather than
// cut each into wire-sized datagrams and run the pipeline on every one,
// the dataplane asks the device to pass them whole (SetPassGSO) when it
// can write them whole too: one read, one pipeline run (conntrack, rules,
// NAT see one datagram of the flow, as Linux's netfilter sees a GRO
// packet) and one write per 64 KiB. The segment size rides in pkt.Meta
// (free in TAP mode), and pkt.MaxFrag is the size of the largest segment
// as an IP datagram, which is what the MTU stage measures a DF datagram by
// (as Linux's ip_exceeds_mtu uses the GSO size): a super-frame whose
// segments fit the egress MTU goes on, one whose segments do not gets
// fragmentation needed.
//
// On egress, sendGSO writes the super-frame whole with a fresh virtio
// header when the egress device takes that GSO type and the segments fit
// its MTU; otherwise it cuts it here (tap.Segment, the same segmentation
// Read would have done) and sends the pieces as ordinary datagrams. The
// transport checksum of a passed super-frame stays partial (the kernel
// completes it per segment): stages do not verify transport checksums,
// and whatever NAT's incremental update did to the field, sendGSO sets it
// to the pseudo-header sum of the datagram as it leaves, the form
// VIRTIO_NET_HDR_F_NEEDS_CSUM asks for.

// struct virtio_net_hdr (netio/tap has the whole story; router does not
// import it, whose tests drive this package's code): flags, GSO type, then
// header length, GSO size, checksum start and offset, 16 bits each in the
// host's order.
const (
	vnetHdrLen    = 10
	vnetNeedsCsum = 1
	gsoNone       = 0
	gsoTCPv4      = 1
	gsoUDPL4      = 5
	gsoECN        = 0x80
)

// GSO types of GSODevice (tap.PassTCP, tap.PassUDP).
const (
	passTCP = 1
	passUDP = 2
)

type vnetHdr struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	_ = b[vnetHdrLen-1]
	h.flags, h.gsoType = b[0], b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	_ = b[vnetHdrLen-1]
	b[0], b[1] = h.flags, h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// vnetOff is where the virtio header of a frame at frameOff sits.
const vnetOff = frameOff - vnetHdrLen

// pkt.Meta of a super-frame: metaGSO, the virtio GSO type at bit 16, the
// segment size in the low 16 bits.
const (
	metaGSO       = 1 << 63
	metaTypeShift = 16
)

// segmenter returns the GSODevice of interface i, which cuts its own
// super-frames.
func (d *Dataplane) segmenter(i int) (GSODevice, bool) {
	if i < 0 || i >= len(d.Devs) {
		return nil, false
	}
	g, ok := d.Devs[i].(GSODevice)
	return g, ok
}

// maxSegs bounds the segments of one super-frame (64 KiB of 1-byte
// segments is not something a kernel sends; the cap keeps the scratch
// small and the work per packet bounded).
const maxSegs = 256

// setupGSO decides, for each device, which super-frames to pass whole: a
// type is passed when the device can pass it and some other device
// takes it whole on egress (else cutting it at once is as cheap).
func (d *Dataplane) setupGSO() {
	d.pass = make([]uint8, len(d.Devs))
	d.gsoOut = make([]uint8, len(d.Devs))
	for i, dev := range d.Devs {
		if g, ok := dev.(GSODevice); ok {
			d.gsoOut[i] = g.GSOTypes()
		}
	}
	for i, dev := range d.Devs {
		g, ok := dev.(GSODevice)
		if !ok {
			continue
		}
		var want uint8
		for j, t := range d.gsoOut {
			if j != i {
				want |= t
			}
		}
		d.pass[i] = g.SetPassGSO(want)
	}
}

// markGSO records in p the super-frame the virtio header hdr describes (a
// frame Read passed whole). Plain frames are left alone.
func markGSO(p *packet.Packet, hdr []byte) {
	var h vnetHdr
	h.decode(hdr)
	if h.gsoType == gsoNone || h.gsoSize == 0 {
		return
	}
	// The type keeps its ECN bit (a CWR segment): the kernel that
	// segments it again clears CWR after the first segment.
	p.Meta = metaGSO | uint64(h.gsoType)<<metaTypeShift | uint64(h.gsoSize)
	// The largest segment as an IP datagram: headers plus one segment.
	seg := max(int(h.hdrLen)-header.EthernetMinSize, 0) + int(h.gsoSize)
	p.MaxFrag = uint16(min(seg, len(p.Data), 0xffff))
}

// gsoHeaders returns the IP and transport header lengths of a super-frame
// datagram (0, 0 when it is not one sendGSO can send whole).
func gsoHeaders(dg []byte, gsoType uint8) (ihl, l4 int) {
	if len(dg) < header.IPv4MinSize {
		return 0, 0
	}
	ihl = int(dg[0]&0xf) * 4
	gsoType &^= gsoECN
	switch {
	case gsoType == gsoUDPL4 && dg[9] == header.ProtoUDP && len(dg) >= ihl+header.UDPSize:
		return ihl, header.UDPSize
	case gsoType == gsoTCPv4 && dg[9] == header.ProtoTCP && len(dg) >= ihl+header.TCPMinSize:
		thl := int(dg[ihl+12]>>4) * 4
		if thl >= header.TCPMinSize && len(dg) >= ihl+thl {
			return ihl, thl
		}
	}
	return 0, 0
}

// sendGSO sends a super-frame datagram (pkt.Meta has metaGSO) on device
// out: whole when the device takes its type and each segment fits the
// MTU, else cut into segments sent one by one.
func (e *egress) sendGSO(pkt *packet.Packet, out int, mac [6]byte) {
	d := e.d
	ifc := &d.Ifaces[out]
	fullType := uint8(pkt.Meta >> metaTypeShift)
	gsoType := fullType &^ gsoECN
	gsoSize := int(uint16(pkt.Meta))
	buf := pkt.Buffer()
	dg := pkt.Data
	ihl, l4 := gsoHeaders(dg, gsoType)
	if ihl == 0 {
		// The pipeline made it something else: send it as a datagram.
		pkt.Meta, pkt.MaxFrag = 0, 0
		e.send(pkt, out, mac)
		return
	}
	var typ uint8 = passTCP
	csumOff := 16
	if gsoType == gsoUDPL4 {
		typ, csumOff = passUDP, 6
	}
	ip := header.IPv4(dg)
	l4Len := len(dg) - ihl
	// The partial checksum: the pseudo-header sum of the datagram as it
	// leaves (NAT may have changed addresses and ports since).
	ph := header.PseudoHeaderChecksum(ip.Protocol(), ip.SourceAddress(), ip.DestinationAddress(), uint16(l4Len))
	if gsoType == gsoUDPL4 {
		binary.BigEndian.PutUint16(dg[ihl+4:], uint16(l4Len)) // UDP length: the whole
	}
	binary.BigEndian.PutUint16(dg[ihl+csumOff:], ph)
	ip.UpdateChecksum()
	encap(buf[frameOff:], mac, ifc.MAC)
	h := vnetHdr{
		flags:      vnetNeedsCsum,
		gsoType:    fullType,
		hdrLen:     uint16(header.EthernetMinSize + ihl + l4),
		gsoSize:    uint16(gsoSize),
		csumStart:  uint16(header.EthernetMinSize + ihl),
		csumOffset: uint16(csumOff),
	}
	h.encode(buf[vnetOff:frameOff])
	if d.gsoOut[out]&typ != 0 && ihl+l4+gsoSize <= ifc.MTU {
		e.frames[out] = append(e.frames[out], buf[:packet.Headroom+len(dg)])
		e.owned = append(e.owned, pkt)
		return
	}
	// Cut it here, with the segmentation of the device it came in by
	// (which writes every segment's checksums afresh).
	seg, ok := d.segmenter(int(pkt.InIf))
	frame := buf[frameOff : packet.Headroom+len(dg)]
	cnt := max(1, (len(dg)-ihl-l4+gsoSize-1)/gsoSize)
	if !ok || cnt > maxSegs {
		e.runner.CountDrop(packet.NoIf, packet.DropTruncated)
		e.cache.Put(pkt)
		return
	}
	e.fbufs, e.fpkts = e.fbufs[:0], e.fpkts[:0]
	for i := 0; i < cnt; i++ {
		fp := e.cache.Get()
		e.fpkts = append(e.fpkts, fp)
		e.fbufs = append(e.fbufs, fp.Buffer())
	}
	if cap(e.sizes) < cnt {
		e.sizes = make([]int, maxSegs)
	}
	sizes := e.sizes[:cnt]
	if got, err := seg.SegmentGSO(frame, buf[vnetOff:frameOff], e.fbufs, sizes, frameOff); err != nil || got != cnt {
		for _, fp := range e.fpkts {
			e.cache.Put(fp)
		}
		e.runner.CountDrop(packet.NoIf, packet.DropTruncated)
		e.cache.Put(pkt)
		return
	}
	// send uses e.fbufs and e.fpkts for fragments: take the segments out.
	segs := append(e.segs[:0], e.fpkts...)
	e.fpkts = e.fpkts[:0]
	for i, fp := range segs {
		fp.Reset()
		fp.SetData(sizes[i] - header.EthernetMinSize)
		fp.InIf, fp.OutIf, fp.NextHop = pkt.InIf, pkt.OutIf, pkt.NextHop
		e.send(fp, out, mac)
	}
	clear(segs)
	e.segs = segs[:0]
	e.cache.Put(pkt)
}
