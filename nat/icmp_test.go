package nat_test

import (
	"testing"

	"fwd/header"
	"fwd/pipeline"
)

// Errors from the far side about translated packets come back to the LAN
// host with the quoted packet as the host sent it, so traceroute and path
// MTU discovery work from behind the NAT (RFC 5508 §7, REQ-3, REQ-4).
func TestRFC5508_ErrorTranslationFromOutside(t *testing.T) {
	for _, c := range []struct {
		name       string
		typ, code  uint8
		from       [4]byte
		outbound   func() []byte // what the LAN host sends
		hostSrc    ep            // the LAN host's endpoint, as quoted after translation
		hostDst    ep
		quoteWhole bool
	}{
		{name: "udp port unreachable", typ: header.ICMPDestUnreach, code: 3, from: remote,
			outbound: func() []byte { return udpPkt(at(hostA, 5000), at(remote, 53), "query") },
			hostSrc:  at(hostA, 5000), hostDst: at(remote, 53), quoteWhole: true},
		{name: "tcp time exceeded (traceroute)", typ: header.ICMPTimeExceeded, code: 0, from: hop,
			outbound: func() []byte { return tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, "") },
			hostSrc:  at(hostA, 40000), hostDst: at(remote, 80), quoteWhole: true},
		{name: "tcp frag needed (PMTUD)", typ: header.ICMPDestUnreach, code: 4, from: hop,
			outbound: func() []byte { return tcpPkt(at(hostA, 40001), at(remote, 80), fSYN, 1, 0, "") },
			hostSrc:  at(hostA, 40001), hostDst: at(remote, 80), quoteWhole: true},
		{name: "echo time exceeded (ping -t)", typ: header.ICMPTimeExceeded, code: 0, from: hop,
			outbound: func() []byte { return echo(hostA, remote, header.ICMPEcho, 0x77, 1) },
			hostSrc:  at(hostA, 0x77), hostDst: at(remote, 0), quoteWhole: true},
		{name: "udp time exceeded (traceroute -U)", typ: header.ICMPTimeExceeded, code: 0, from: hop,
			outbound: func() []byte { return udpPkt(at(hostA, 33434), at(remote, 33434), "probe") },
			hostSrc:  at(hostA, 33434), hostDst: at(remote, 33434), quoteWhole: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, masqConfig, nil)
			// Make the translation change the port or id too: another host
			// holds the same source port first.
			hb := c.outbound()
			copy(hb[12:16], hostB[:])
			header.IPv4(hb).UpdateChecksum()
			fixL4(hb)
			l.forward(lan0, hb, wan0)
			sent := l.forward(lan0, c.outbound(), wan0)
			ss, _ := fields(sent)
			if ss.a != router || ss.port == c.hostSrc.port {
				t.Fatalf("outbound source %v:%d: want the router and a new port", ss.a, ss.port)
			}
			// The error as the far side makes it, quoting what it got.
			var rest uint32
			if c.code == 4 {
				rest = 1400
			}
			errPkt := icmpError(c.from, router, c.typ, c.code, sent)
			if rest != 0 {
				ic := header.ICMPv4(errPkt[20:])
				ic[6], ic[7] = byte(rest>>8), byte(rest)
				ic.SetChecksum(ic.CalculateChecksum())
			}
			back := l.forward(wan0, errPkt, lan0)
			s, d := fields(back)
			want(t, "outer source", s, at(c.from, 0))
			want(t, "outer destination", d, at(hostA, 0))
			ic := header.ICMPv4(back[20:])
			if ic.Type() != c.typ || ic.Code() != c.code {
				t.Errorf("type/code %d/%d, want %d/%d", ic.Type(), ic.Code(), c.typ, c.code)
			}
			if rest != 0 && ic.MTU() != uint16(rest) {
				t.Errorf("next-hop MTU %d, want %d", ic.MTU(), rest)
			}
			qs, qd := quoted(back)
			want(t, "quoted source", qs, c.hostSrc)
			want(t, "quoted destination", qd, c.hostDst)
			// The quote is now byte for byte what the host sent.
			orig := c.outbound()
			if q := ic.Payload(); string(q) != string(orig[:len(q)]) {
				t.Errorf("quoted packet:\n got %x\nwant %x", q, orig[:len(q)])
			}
		})
	}
}

// fixL4 recomputes the transport checksum of a test datagram.
func fixL4(b []byte) {
	ip := header.IPv4(b)
	l4 := b[ip.HeaderLength():ip.TotalLength()]
	switch ip.Protocol() {
	case header.ProtoTCP:
		header.TCP(l4).SetChecksum(header.TCP(l4).CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()))
	case header.ProtoUDP:
		header.UDP(l4).SetChecksum(header.UDP(l4).CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()))
	}
}

// An error about a translated packet cut short after 8 transport bytes
// (what RFC 792 routers quote) is translated as far as it goes.
func TestErrorWithShortQuote(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	l.forward(lan0, tcpPkt(at(hostB, 40000), at(remote, 80), fSYN, 1, 0, ""), wan0)
	sent := l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""), wan0)
	errPkt := icmpError(hop, router, header.ICMPTimeExceeded, 0, sent[:28])
	back := l.forward(wan0, errPkt, lan0)
	qs, qd := quoted(back)
	want(t, "quoted source", qs, at(hostA, 40000))
	want(t, "quoted destination", qd, at(remote, 80))
}

// RFC 5508 REQ-5: an error from inside about a DNATed flow leaves with
// the public address as its source and the quoted packet as the client
// sent it.
func TestRFC5508_REQ5_ErrorFromPrivateRealm(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	c, pub := at(remote, 50000), at(router, 5353)
	toSrv := l.forward(wan0, udpPkt(c, pub, "q"), lan0)
	errPkt := icmpError(server, remote, header.ICMPDestUnreach, 3, toSrv)
	out := l.forward(lan0, errPkt, wan0)
	s, d := fields(out)
	want(t, "outer source", s, at(router, 0))
	want(t, "outer destination", d, at(remote, 0))
	qs, qd := quoted(out)
	want(t, "quoted source", qs, c)
	want(t, "quoted destination", qd, pub)
}

// RFC 5508 REQ-4 (and §7.2): an error about a packet NAT never sent is not
// forwarded.
func TestRFC5508_REQ4_ErrorWithoutMappingDropped(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	never := udpPkt(at(router, 9999), at(remote, 53), "never sent")
	r := l.send(wan0, icmpError(remote, router, header.ICMPDestUnreach, 3, never))
	if r.verdict == pipeline.Continue {
		t.Fatalf("orphan error forwarded")
	}
	if r.drop.String() != "ct-invalid" {
		t.Errorf("dropped as %s, want ct-invalid", r.drop)
	}
}

// RFC 5508 REQ-1: ICMP queries from inside and their replies pass, each
// reply to its own host; identifiers are mapped like ports.
func TestRFC5508_REQ1_QueryMapping(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	hosts := [][4]byte{hostA, hostB, server}
	ids := map[uint16][4]byte{}
	for _, h := range hosts {
		s, _ := fields(l.forward(lan0, echo(h, remote, header.ICMPEcho, 1, 1), wan0))
		if _, dup := ids[s.port]; dup {
			t.Fatalf("identifier %d given twice", s.port)
		}
		ids[s.port] = h
	}
	for id, h := range ids {
		back := l.forward(wan0, echo(remote, router, header.ICMPEchoReply, id, 1), lan0)
		s, d := fields(back)
		if d.a != h || s.port != 1 {
			t.Errorf("reply with id %d went to %v id %d, want %v id 1", id, d.a, s.port, h)
		}
	}
}

// An error a LAN host sends about a packet that reached it through the
// masquerade (a port unreachable for a late reply) leaves from the router,
// quoting the packet as the remote sent it.
func TestErrorFromInsideAboutMasqueradedFlow(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	takePort(l, false, 5000)
	ext, _ := fields(l.forward(lan0, udpPkt(at(hostA, 5000), at(remote, 53), "q"), wan0))
	reply := l.forward(wan0, udpPkt(at(remote, 53), ext, "late answer"), lan0)
	out := l.forward(lan0, icmpError(hostA, remote, header.ICMPDestUnreach, 3, reply), wan0)
	s, d := fields(out)
	want(t, "outer source", s, at(router, 0))
	want(t, "outer destination", d, at(remote, 0))
	qs, qd := quoted(out)
	want(t, "quoted source", qs, at(remote, 53))
	want(t, "quoted destination", qd, ext)
}
