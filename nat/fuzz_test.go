package nat

import (
	"encoding/binary"
	"testing"

	"fwd/header"
)

// icmpErrorAround wraps quote in an IPv4 + ICMP destination-unreachable
// header with valid checksums.
func icmpErrorAround(quote []byte) []byte {
	b := make([]byte, 28+len(quote))
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtoICMP,
		Src: [4]byte{198, 51, 100, 1}, Dst: [4]byte{203, 0, 113, 2}})
	ic := header.ICMPv4(b[20:])
	ic.Encode(header.ICMPDestUnreach, 3, 0)
	copy(b[28:], quote)
	ic.SetChecksum(ic.CalculateChecksum())
	return b
}

// FuzzRewriteICMPError feeds arbitrary quoted packets to the ICMP error
// rewriting. Invariants: no panic and no write past the message; the outer
// IP and ICMP checksums stay valid; the quoted IP header checksum and the
// quoted transport checksum (when the whole quoted datagram is there) stay
// valid if they were; the rewritten fields hold the new values; and
// rewriting back restores the message (checksum fields up to +0/-0).
func FuzzRewriteICMPError(f *testing.F) {
	seeds := [][]byte{
		udpDatagram([4]byte{203, 0, 113, 2}, [4]byte{198, 51, 100, 20}, 6000, 53, "query"),
		tcpSegment([4]byte{203, 0, 113, 2}, [4]byte{198, 51, 100, 20}, 1024, 80, ""),
		tcpSegment([4]byte{203, 0, 113, 2}, [4]byte{198, 51, 100, 20}, 1024, 80, "")[:28],
		udpDatagram([4]byte{203, 0, 113, 2}, [4]byte{198, 51, 100, 20}, 6000, 53, "")[:24],
		{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 203, 0, 113, 2, 198, 51, 100, 20, 8, 0, 0xf7, 0xfe, 0, 1, 0, 0},
		{0x46, 0, 0, 32, 0, 0, 0x20, 1, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 0, 0, 0, 0, 0, 0},
		{0x45},
		{},
	}
	for i, s := range seeds {
		f.Add(s, i%2 == 0, uint32(0xc0a80114), uint16(40000), true)
	}
	f.Fuzz(func(t *testing.T, quote []byte, srcManip bool, addr uint32, port uint16, setPort bool) {
		if len(quote) > 1000 {
			quote = quote[:1000]
		}
		// The quoted header's own checksum may be anything; note if valid.
		b := icmpErrorAround(quote)
		orig := append([]byte(nil), b...)
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], addr)
		q := b[28:]
		qhl, qn, qr := header.QuotedValid(q)
		qipValid := qr == header.ReasonNone && header.IPv4(q).CalculateChecksum() == header.IPv4(q).Checksum()
		whole := qr == header.ReasonNone && int(header.IPv4(q).TotalLength()) == qhl+qn && header.IPv4(q).FlagsFragmentOffset()&0x3fff == 0
		l4Valid := whole && quotedL4Valid(q, qhl)

		ok := rewriteICMPError(b[:len(b):len(b)], 20, srcManip, a, port, setPort)
		if len(b) != len(orig) {
			t.Fatal("length changed")
		}
		if ok != (qr == header.ReasonNone) {
			t.Fatalf("ok = %v for quoted reason %v", ok, qr)
		}
		ip := header.IPv4(b)
		if ip.CalculateChecksum() != ip.Checksum() {
			t.Fatal("outer IP checksum wrong")
		}
		if !header.ICMPv4(b[20:]).IsChecksumValid() {
			t.Fatal("ICMP checksum wrong")
		}
		if !ok {
			if string(b) != string(orig) {
				t.Fatal("unusable quote but the packet changed")
			}
			return
		}
		qip := header.IPv4(q)
		if qipValid && qip.CalculateChecksum() != qip.Checksum() {
			t.Fatal("quoted IP checksum broken")
		}
		if l4Valid && !quotedL4Valid(q, qhl) {
			t.Fatal("quoted transport checksum broken")
		}
		var outer, inner [4]byte
		if srcManip {
			outer, inner = ip.SourceAddress(), qip.DestinationAddress()
		} else {
			outer, inner = ip.DestinationAddress(), qip.SourceAddress()
		}
		if outer != a || inner != a {
			t.Fatalf("addresses %v %v, want %v", outer, inner, a)
		}
		// Back again.
		oq := orig[28:]
		var oa [4]byte
		if srcManip {
			oa = header.IPv4(oq).DestinationAddress()
		} else {
			oa = header.IPv4(oq).SourceAddress()
		}
		var op uint16
		frag := binary.BigEndian.Uint16(oq[6:])&0x1fff != 0
		switch oq[9] {
		case header.ProtoTCP, header.ProtoUDP:
			off := qhl
			if srcManip {
				off += 2
			}
			if setPort && !frag && qn >= off-qhl+2 {
				if got := binary.BigEndian.Uint16(q[off:]); got != port {
					t.Fatalf("quoted port %d, want %d", got, port)
				}
				op = binary.BigEndian.Uint16(oq[off:])
			}
		case header.ProtoICMP:
			if setPort && !frag && qn >= 6 {
				op = binary.BigEndian.Uint16(oq[qhl+4:])
			}
		}
		// The outer address that was replaced is the original's.
		oOuter := [4]byte(orig[16:20])
		if srcManip {
			oOuter = [4]byte(orig[12:16])
		}
		rewriteICMPError(b, 20, srcManip, oa, op, setPort)
		if srcManip {
			header.IPv4(b).SetSourceAddressWithChecksumUpdate(oOuter)
		} else {
			header.IPv4(b).SetDestinationAddressWithChecksumUpdate(oOuter)
		}
		for i := range b {
			if b[i] != orig[i] && !csumField(b, orig, i, qhl) {
				t.Fatalf("byte %d not restored:\n got %x\nwant %x", i, b, orig)
			}
		}
	})
}

// quotedL4Valid checks the transport checksum of a wholly quoted datagram.
func quotedL4Valid(q []byte, hl int) bool {
	ip := header.IPv4(q)
	l4 := q[hl:ip.TotalLength()]
	switch ip.Protocol() {
	case header.ProtoTCP:
		return len(l4) < 20 || header.TCP(l4).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress())
	case header.ProtoUDP:
		return len(l4) < 8 || int(header.UDP(l4).Length()) != len(l4) || header.UDP(l4).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress())
	case header.ProtoICMP:
		return header.ICMPv4(l4).IsChecksumValid()
	}
	return true
}

// csumField reports whether byte i lies in a checksum field whose two
// values are the same number (+0 and -0).
func csumField(a, b []byte, i, qhl int) bool {
	for _, o := range []int{10, 22, 28 + 10, 28 + qhl + 16, 28 + qhl + 6, 28 + qhl + 2} {
		if o+1 < len(a) && (i == o || i == o+1) {
			x, y := binary.BigEndian.Uint16(a[o:]), binary.BigEndian.Uint16(b[o:])
			if x^y == 0xffff && (x == 0 || y == 0) {
				return true
			}
		}
	}
	return false
}
