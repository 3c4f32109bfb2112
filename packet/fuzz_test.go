package packet

import (
	"encoding/binary"
	"testing"

	"fwd/header"
)

// checkParsed asserts the invariants of a decoded summary of b.
func checkParsed(t *testing.T, b []byte, p *Parsed, n int) {
	t.Helper()
	if n == 0 {
		if p.Reason == header.ReasonNone || p.Proto != Unknown {
			t.Fatalf("Decode = 0 with Reason %v, Proto %v", p.Reason, p.Proto)
		}
		return
	}
	if p.Reason != header.ReasonNone || p.Proto == Unknown {
		t.Fatalf("Decode = %d with Reason %v, Proto %v", n, p.Reason, p.Proto)
	}
	if n > len(b) || n != int(p.Length) {
		t.Fatalf("Decode = %d, Length %d, len %d", n, p.Length, len(b))
	}
	if int(p.L4Off) > n || p.L4Off != uint16(p.HdrLen) || p.HdrLen < header.IPv4MinSize {
		t.Fatalf("L4Off %d HdrLen %d Length %d", p.L4Off, p.HdrLen, n)
	}
	switch p.Proto {
	case TCP:
		if int(p.L4Off)+int(p.TCPHdrLen)+int(p.PayloadN) != n || p.TCPHdrLen < header.TCPMinSize {
			t.Fatalf("TCP: L4Off %d + TCPHdrLen %d + PayloadN %d != %d", p.L4Off, p.TCPHdrLen, p.PayloadN, n)
		}
		if p.TCPOpts.NumSACK > 4 {
			t.Fatalf("NumSACK %d", p.TCPOpts.NumSACK)
		}
	case UDP:
		if int(p.L4Off)+header.UDPSize+int(p.PayloadN) > n {
			t.Fatalf("UDP: L4Off %d + 8 + PayloadN %d > %d", p.L4Off, p.PayloadN, n)
		}
	case ICMP:
		if int(p.L4Off)+header.ICMPv4Size > n {
			t.Fatal("ICMP header past the datagram")
		}
		if p.InnerOK {
			if !header.IsICMPError(p.ICMPType) {
				t.Fatalf("InnerOK for type %d", p.ICMPType)
			}
			in := p.Inner
			if in.Off != p.L4Off+header.ICMPv4Size || in.HdrLen < header.IPv4MinSize || int(in.Off)+int(in.HdrLen) > n {
				t.Fatalf("Inner.Off %d HdrLen %d, datagram %d", in.Off, in.HdrLen, n)
			}
			q := b[in.Off:n]
			if in.Src != [4]byte(q[12:16]) || in.Dst != [4]byte(q[16:20]) || in.Proto != q[9] {
				t.Fatal("Inner addresses/protocol do not match the quoted header")
			}
			l4 := q[in.HdrLen:]
			if !in.IsFragment && (in.Proto == header.ProtoTCP || in.Proto == header.ProtoUDP) {
				if len(l4) < 4 || in.SrcPort != binary.BigEndian.Uint16(l4) || in.DstPort != binary.BigEndian.Uint16(l4[2:]) {
					t.Fatal("Inner ports do not match the quoted transport header")
				}
			}
			if in.HasSeq && (len(l4) < 8 || in.Seq != binary.BigEndian.Uint32(l4[4:])) {
				t.Fatal("Inner.Seq does not match")
			}
		}
	}
	if p.IsFragment() != (p.Proto == Fragment) {
		t.Fatalf("IsFragment %v, Proto %v", p.IsFragment(), p.Proto)
	}
}

// FuzzParsedDecode decodes arbitrary bytes: no panic, the invariants of
// checkParsed, the IPv4 reason equal to header.IPv4.Validate's (the inline
// checks in Decode must agree with it), and the same result whatever the
// summary held before.
func FuzzParsedDecode(f *testing.F) {
	for _, s := range [][]byte{pktSYN, pktUDP, pktEcho, pktPortUnreach, pktTimeExceeded, pktOptions} {
		f.Add(s)
	}
	for _, c := range reasonCases {
		f.Add(c.pkt)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		n := p.Decode(b)
		checkParsed(t, b, &p, n)
		if r := header.IPv4(b).Validate(); r != header.ReasonNone && p.Reason != r {
			t.Fatalf("Reason %v, IPv4.Validate %v", p.Reason, r)
		} else if r == header.ReasonNone && len(b) >= header.IPv4MinSize {
			hl := header.IPv4(b).HeaderLength()
			if ro := header.ValidateOptions(b[header.IPv4MinSize:hl]); ro != header.ReasonNone && p.Reason != ro {
				t.Fatalf("Reason %v, ValidateOptions %v", p.Reason, ro)
			}
		}
		dirty := Parsed{Proto: TCP, SrcPort: 1, InnerOK: true, Inner: Inner{Off: 9999}, TCPOpts: header.TCPOptions{NumSACK: 3}}
		if n2 := dirty.Decode(b); n2 != n || dirty != p {
			t.Fatalf("Decode into a used summary: %d %+v, fresh %d %+v", n2, dirty, n, p)
		}
	})
}

// FuzzICMPQuoted wraps random bytes as the quoted datagram of a valid ICMP
// error and decodes it: the outer packet is always ICMP, and the inner
// summary, when OK, points inside the datagram and matches the bytes.
func FuzzICMPQuoted(f *testing.F) {
	f.Add(uint8(3), uint8(3), pktUDP[:28])
	f.Add(uint8(11), uint8(0), pktSYN[:28])
	f.Add(uint8(11), uint8(0), pktSYN[:24])
	f.Add(uint8(3), uint8(4), pktSYN)
	f.Add(uint8(12), uint8(0), pktEcho[:28])
	f.Add(uint8(5), uint8(1), pktOptions)
	f.Add(uint8(3), uint8(1), []byte{0x4f, 0, 0, 0})
	f.Add(uint8(8), uint8(0), pktUDP[:28]) // a query: no inner summary
	f.Fuzz(func(t *testing.T, typ, code uint8, quoted []byte) {
		if len(quoted) > 1400 {
			quoted = quoted[:1400]
		}
		b := ipv4(header.ProtoICMP, router, client, 0, nil, icmpMsg(typ, code, 0, quoted))
		var p Parsed
		n := p.Decode(b)
		checkParsed(t, b, &p, n)
		if n != len(b) || p.Proto != ICMP || p.ICMPType != typ || p.ICMPCode != code {
			t.Fatalf("outer: n %d Proto %v type %d", n, p.Proto, p.ICMPType)
		}
		if p.InnerOK != (header.IsICMPError(typ) && innerUsable(quoted)) {
			t.Fatalf("InnerOK %v for type %d quoting % x", p.InnerOK, typ, quoted)
		}
	})
}

// innerUsable is the rule for InnerOK, restated: a version 4 header that
// fits, and enough transport bytes to name the flow (4 for TCP/UDP ports,
// 8 for an ICMP query id), unless the quoted datagram is a non-first
// fragment.
func innerUsable(q []byte) bool {
	if len(q) < 20 || q[0]>>4 != 4 || int(q[0]&0xf)*4 < 20 || int(q[0]&0xf)*4 > len(q) {
		return false
	}
	if binary.BigEndian.Uint16(q[6:])&0x1fff != 0 {
		return true
	}
	n := len(q) - int(q[0]&0xf)*4
	switch q[9] {
	case header.ProtoTCP, header.ProtoUDP:
		return n >= 4
	case header.ProtoICMP:
		return n >= 8
	}
	return true
}
