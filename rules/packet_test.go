package rules_test

import (
	"net/netip"

	"fwd/header"
	"fwd/packet"
)

// pk describes a test packet; build encodes and decodes it.
type pk struct {
	src, dst     string
	proto        uint8 // header.ProtoTCP etc.; 0 = TCP
	sport, dport uint16
	flags        uint8 // TCP flags
	tcpOpts      []byte
	icmpType     uint8
	icmpCode     uint8
	ttl          uint8
	tos          uint8
	id           uint16
	frag         uint16 // flags|offset word
	payload      int
	in, out      int16 // interface indexes; set noIf for none
	ct           packet.CTState
	ctStatus     packet.CTStatus
	mark, ctmark uint32
	mac          [6]byte
}

const noIf = -2 // marker: leave packet.NoIf

func (p pk) build() *packet.Packet {
	proto := p.proto
	if proto == 0 {
		proto = header.ProtoTCP
	}
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	var l4 []byte
	switch proto {
	case header.ProtoTCP:
		off := header.TCPMinSize + len(p.tcpOpts)
		l4 = make([]byte, off+p.payload)
		header.TCP(l4).Encode(&header.TCPFields{SrcPort: p.sport, DstPort: p.dport, Seq: 1000, Ack: 0, DataOffset: uint8(off), Flags: p.flags, Window: 64240})
		copy(l4[header.TCPMinSize:], p.tcpOpts)
	case header.ProtoUDP:
		l4 = make([]byte, header.UDPSize+p.payload)
		header.UDP(l4).Encode(p.sport, p.dport, uint16(len(l4)))
	case header.ProtoICMP:
		l4 = make([]byte, header.ICMPv4Size+p.payload)
		header.ICMPv4(l4).Encode(p.icmpType, p.icmpCode, 0x12340001)
		header.ICMPv4(l4).SetChecksum(header.ICMPv4(l4).CalculateChecksum())
	default:
		l4 = make([]byte, 8+p.payload)
	}
	b := make([]byte, header.IPv4MinSize+len(l4))
	src, dst := netip.MustParseAddr(p.src).As4(), netip.MustParseAddr(p.dst).As4()
	header.IPv4(b).Encode(&header.IPv4Fields{TOS: p.tos, TotalLength: uint16(len(b)), ID: p.id, Flags: p.frag, TTL: ttl, Protocol: proto, Src: src, Dst: dst})
	copy(b[header.IPv4MinSize:], l4)
	switch proto {
	case header.ProtoTCP:
		t := header.TCP(b[header.IPv4MinSize:])
		t.SetChecksum(t.CalculateChecksum(src, dst))
	case header.ProtoUDP:
		u := header.UDP(b[header.IPv4MinSize:])
		u.SetChecksum(u.CalculateChecksum(src, dst))
	}
	pkt := packet.New(b)
	pkt.Parsed.Decode(pkt.Data)
	pkt.InIf, pkt.OutIf = p.in, p.out
	if p.in == noIf {
		pkt.InIf = packet.NoIf
	}
	if p.out == noIf {
		pkt.OutIf = packet.NoIf
	}
	pkt.CTState, pkt.CTStatus, pkt.Mark, pkt.CTMark, pkt.SrcMAC = p.ct, p.ctStatus, p.mark, p.ctmark, p.mac
	return pkt
}
