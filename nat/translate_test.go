package nat_test

import (
	"bytes"
	"strings"
	"testing"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

func tcpTuple(s, d ep) conntrack.Tuple {
	return conntrack.Tuple{Src: s.a, Dst: d.a, SrcPort: s.port, DstPort: d.port, Proto: header.ProtoTCP}
}

func udpTuple(s, d ep) conntrack.Tuple {
	return conntrack.Tuple{Src: s.a, Dst: d.a, SrcPort: s.port, DstPort: d.port, Proto: header.ProtoUDP}
}

func echoTuple(s, d [4]byte, id uint16) conntrack.Tuple {
	return conntrack.Tuple{Src: s, Dst: d, SrcPort: id, DstPort: uint16(header.ICMPEcho) << 8, Proto: header.ProtoICMP}
}

func TestSNATUDPBothDirections(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	a, r := at(hostA, 5000), at(remote, 53)
	s, d := fields(l.forward(lan0, udpPkt(a, r, "query"), wan0))
	want(t, "query source", s, at(router, 5000))
	want(t, "query destination", d, r)
	s, d = fields(l.forward(wan0, udpPkt(r, at(router, 5000), "answer"), lan0))
	want(t, "answer source", s, r)
	want(t, "answer destination", d, a)
	e := l.entry(udpTuple(a, r))
	if e.Reply != udpTuple(r, at(router, 5000)) {
		t.Errorf("reply tuple %+v", e.Reply)
	}
}

// A UDP datagram sent without a checksum keeps none (RFC 768): NAT must not
// turn zero into a wrong non-zero value.
func TestSNATUDPZeroChecksumStaysZero(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	// Force a port change too: hostB holds 6000 first.
	l.forward(lan0, udpPkt(at(hostB, 6000), at(remote, 53), "x"), wan0)
	out := l.forward(lan0, udpNoSum(at(hostA, 6000), at(remote, 53), "query"), wan0)
	s, _ := fields(out)
	if s.a != router || s.port == 6000 {
		t.Fatalf("source %v:%d: want the router and another port", s.a, s.port)
	}
	if c := header.UDP(out[20:]).Checksum(); c != 0 {
		t.Errorf("checksum %#04x, want 0 (none)", c)
	}
	back := l.forward(wan0, udpNoSum(at(remote, 53), s, "answer"), lan0)
	if c := header.UDP(back[20:]).Checksum(); c != 0 {
		t.Errorf("reply checksum %#04x, want 0", c)
	}
	_, d := fields(back)
	want(t, "answer destination", d, at(hostA, 6000))
}

func TestSNATICMPEchoBothDirections(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	// Two hosts ping the same server with the same identifier: the second
	// must get another one, and each reply must find its way back.
	oa := l.forward(lan0, echo(hostA, remote, header.ICMPEcho, 0x4242, 1), wan0)
	ob := l.forward(lan0, echo(hostB, remote, header.ICMPEcho, 0x4242, 1), wan0)
	sa, _ := fields(oa)
	sb, _ := fields(ob)
	want(t, "first ping source", sa, at(router, 0x4242)) // identifier preserved
	if sb.a != router || sb.port == 0x4242 {
		t.Fatalf("second ping source %v id %#x: want the router and another id", sb.a, sb.port)
	}
	for _, c := range []struct {
		name string
		id   uint16
		host [4]byte
	}{{"reply to A", 0x4242, hostA}, {"reply to B", sb.port, hostB}} {
		back := l.forward(wan0, echo(remote, router, header.ICMPEchoReply, c.id, 1), lan0)
		_, d := fields(back)
		s, _ := fields(back)
		want(t, c.name+" destination", at(d.a, s.port), at(c.host, 0x4242))
	}
	e := l.entry(echoTuple(hostB, remote, 0x4242))
	if e.Reply.Dst != router || e.Reply.SrcPort != sb.port {
		t.Errorf("reply tuple %+v: want dst router id %#x", e.Reply, sb.port)
	}
}

func TestDNATTCPBothDirections(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	c, pub, srv := at(remote, 50000), at(router, 8080), at(server, 80)
	s, d := fields(l.forward(wan0, tcpPkt(c, pub, fSYN, 1, 0, ""), lan0))
	want(t, "SYN source", s, c)
	want(t, "SYN destination", d, srv)
	s, d = fields(l.forward(lan0, tcpPkt(srv, c, fSYN|fACK, 7, 2, ""), wan0))
	want(t, "SYN-ACK source", s, pub)
	want(t, "SYN-ACK destination", d, c)
	l.forward(wan0, tcpPkt(c, pub, fACK, 2, 8, "hello"), lan0)
	e := l.entry(tcpTuple(c, pub))
	if e.Reply != tcpTuple(srv, c) {
		t.Errorf("reply tuple %+v", e.Reply)
	}
	if e.Status&packet.CTStatusDNAT == 0 || e.Status&packet.CTStatusSNAT != 0 {
		t.Errorf("status %b: want DNAT only", e.Status)
	}
}

func TestDNATUDPBothDirections(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	c, pub, srv := at(remote, 50000), at(router, 5353), at(server, 53)
	s, d := fields(l.forward(wan0, udpPkt(c, pub, "q"), lan0))
	want(t, "query source", s, c)
	want(t, "query destination", d, srv)
	s, d = fields(l.forward(lan0, udpPkt(srv, c, "a"), wan0))
	want(t, "answer source", s, pub)
	want(t, "answer destination", d, c)
}

// A public address published whole (every protocol) to the server.
const oneToOneConfig = baseConfig + `
[[nat.prerouting.rule]]
dst = "203.0.113.5"
action = "dnat"
to = "192.168.1.10"

[[nat.postrouting.rule]]
out = "wan0"
src = "192.168.1.10"
action = "snat"
to = "203.0.113.5"
`

func TestDNATICMPEchoBothDirections(t *testing.T) {
	l := newLab(t, oneToOneConfig, nil)
	pub := addr("203.0.113.5")
	out := l.forward(wan0, echo(remote, pub, header.ICMPEcho, 77, 3), lan0)
	s, d := fields(out)
	want(t, "echo source", s, at(remote, 77))
	want(t, "echo destination", d, at(server, 0))
	back := l.forward(lan0, echo(server, remote, header.ICMPEchoReply, 77, 3), wan0)
	s, d = fields(back)
	want(t, "reply source", s, at(pub, 77))
	want(t, "reply destination", d, at(remote, 0))
	// The server's own connections leave from the same public address.
	s, _ = fields(l.forward(lan0, tcpPkt(at(server, 33000), at(remote, 443), fSYN, 9, 0, ""), wan0))
	want(t, "server's SYN source", s, at(pub, 33000))
}

func TestRedirect(t *testing.T) {
	l := newLab(t, baseConfig+`
[[nat.prerouting.rule]]
in = "lan0"
proto = "tcp"
dport = 80
action = "redirect"
to_ports = 3128
`, nil)
	r := l.send(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""))
	// The packet is for the router now: it went to INPUT (no local stage
	// in this pipeline, so it ends there).
	if r.verdict == pipeline.Continue {
		t.Fatalf("redirected packet was forwarded")
	}
	checkSums(t, r.data)
	_, d := fields(r.data)
	want(t, "destination", d, at(lanGW, 3128))
	e := l.entry(tcpTuple(at(hostA, 40000), at(remote, 80)))
	if e.Reply != tcpTuple(at(lanGW, 3128), at(hostA, 40000)) {
		t.Errorf("reply tuple %+v", e.Reply)
	}
}

func TestNetmapBothWays(t *testing.T) {
	l := newLab(t, baseConfig+`
[[nat.prerouting.rule]]
in = "wan0"
dst = "203.0.113.16/28"
action = "netmap"
to = "192.168.1.16/28"

[[nat.postrouting.rule]]
out = "wan0"
src = "192.168.1.16/28"
action = "netmap"
to = "203.0.113.16/28"
`, nil)
	// Outbound: .20 leaves as 203.0.113.20, port kept.
	s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 1234), at(remote, 53), "q"), wan0))
	want(t, "outbound source", s, at(addr("203.0.113.20"), 1234))
	_, d := fields(l.forward(wan0, udpPkt(at(remote, 53), at(addr("203.0.113.20"), 1234), "a"), lan0))
	want(t, "reply destination", d, at(hostA, 1234))
	// Inbound: 203.0.113.21 reaches .21.
	_, d = fields(l.forward(wan0, tcpPkt(at(remote, 50000), at(addr("203.0.113.21"), 22), fSYN, 1, 0, ""), lan0))
	want(t, "inbound destination", d, at(hostB, 22))
	s, _ = fields(l.forward(lan0, tcpPkt(at(hostB, 22), at(remote, 50000), fSYN|fACK, 1, 2, ""), wan0))
	want(t, "inbound reply source", s, at(addr("203.0.113.21"), 22))
}

func TestSNATAddressRangeIsPaired(t *testing.T) {
	l := newLab(t, baseConfig+`
[[nat.postrouting.rule]]
out = "wan0"
proto = "udp"
action = "snat"
to = "203.0.113.10-203.0.113.13"
`, nil)
	// RFC 4787 REQ-2: every mapping of one internal address uses the same
	// external address.
	first, _ := fields(l.forward(lan0, udpPkt(at(hostA, 1000), at(remote, 53), "q"), wan0))
	lo, hi := addr("203.0.113.10"), addr("203.0.113.13")
	if bytes.Compare(first.a[:], lo[:]) < 0 || bytes.Compare(first.a[:], hi[:]) > 0 {
		t.Fatalf("source %v outside the range", first.a)
	}
	for port := uint16(1001); port < 1020; port++ {
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, port), at(remote2, 53), "q"), wan0))
		if s.a != first.a {
			t.Fatalf("port %d mapped to %v, port 1000 to %v: not paired", port, s.a, first.a)
		}
	}
}

func TestConntrackListShowsTranslation(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1000, 0, ""), wan0)
	l.forward(wan0, tcpPkt(at(remote, 80), at(router, 40000), fSYN|fACK, 5000, 1001, ""), lan0)
	var b strings.Builder
	if err := l.ct.WriteList(&b, "", l.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantLine := "src=192.168.1.20 dst=198.51.100.20 sport=40000 dport=80 src=198.51.100.20 dst=203.0.113.2 sport=80 dport=40000"
	if !strings.Contains(b.String(), wantLine) {
		t.Errorf("conntrack -L:\n%s\nwant a line with %q", b.String(), wantLine)
	}
}

// ct_status = ["dnat"] matches the first packet of a DNATed connection in
// the filter table (the status bit is on the packet as well as the entry).
func TestCTStatusVisibleToRules(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	pkt := packet.New(tcpPkt(at(remote, 50000), at(router, 8080), fSYN, 1, 0, ""))
	pkt.InIf = wan0
	var seen packet.CTStatus
	l.p.Trace = func(p *packet.Packet, stage string, v pipeline.Verdict, note string) {
		if stage == "prerouting/route" {
			seen = p.CTStatus
		}
	}
	pkt.Trace = true
	l.r.Run([]*packet.Packet{pkt})
	if seen&packet.CTStatusDNAT == 0 {
		t.Errorf("packet status %b after the nat stage: want DNAT", seen)
	}
}

// Answers fwd makes itself about a packet of a translated connection (a
// reset or an ICMP error for a rejected packet, attached to its
// connection by conntrack.Attach) leave translated like the connection's
// own packets: the client sees them come from the public endpoint.
func TestAnswersFwdMakesAreTranslated(t *testing.T) {
	l := newLab(t, masqConfig+`
[[filter.forward.rule]]
proto = "tcp"
dport = 80
action = "reject"
reject_with = "tcp-reset"

[[filter.forward.rule]]
proto = "udp"
dport = 53
action = "reject"
`, nil)
	l.env.Rejecter = func(p *packet.Packet, inj pipeline.Injector) {
		ans := inj.NewPacket()
		buf := ans.Buffer()[packet.Headroom:]
		var n int
		if p.RejectWith == packet.RejectTCPReset {
			n = header.BuildTCPReset(buf, p.IP())
		} else {
			n = header.BuildICMPError(buf, lanGW, header.ICMPDestUnreach, 3, 0, p.IP())
		}
		if n == 0 {
			t.Fatalf("could not build the answer")
		}
		ans.SetData(n)
		conntrack.Attach(ans, p)
		inj.Inject(ans)
	}
	run := func(b []byte) result {
		pkt := packet.New(b)
		pkt.InIf = wan0
		l.out.got = l.out.got[:0]
		l.r.Run([]*packet.Packet{pkt})
		for _, r := range l.out.got {
			if r.verdict == pipeline.Continue {
				return r
			}
		}
		t.Fatalf("no answer delivered: %+v", l.out.got)
		return result{}
	}
	r := run(tcpPkt(at(remote, 50000), at(router, 8080), fSYN, 1, 0, ""))
	checkSums(t, r.data)
	s, d := fields(r.data)
	want(t, "reset source", s, at(router, 8080))
	want(t, "reset destination", d, at(remote, 50000))
	if r.outIf != wan0 {
		t.Errorf("reset left on %d", r.outIf)
	}
	r = run(udpPkt(at(remote, 50001), at(router, 5353), "q"))
	checkSums(t, r.data)
	_, d = fields(r.data)
	want(t, "error destination", d, at(remote, 0))
	qs, qd := quoted(r.data)
	want(t, "quoted source", qs, at(remote, 50001))
	want(t, "quoted destination", qd, at(router, 5353))
}

// A reload that changes the WAN address drops the connections and
// mappings masqueraded to the old one; new connections use the new one.
func TestReloadAddressChangeDropsMasquerade(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""), wan0)
	l.forward(lan0, udpPkt(at(hostA, 5000), at(server, 53), "lan only"), lan0) // not NATed
	if n := l.ct.Count(); n != 2 {
		t.Fatalf("%d entries", n)
	}
	cfg, err := config.Parse("lab.toml", []byte(strings.Replace(masqConfig, "203.0.113.2/24", "203.0.113.3/24", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if n := l.ct.Count(); n != 1 {
		t.Errorf("%d entries after the address change, want 1 (the un-NATed one)", n)
	}
	if n := l.st.Stats().Mappings; n != 0 {
		t.Errorf("%d mappings left on the old address", n)
	}
	s, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40001), at(remote, 80), fSYN, 1, 0, ""), wan0))
	want(t, "new connection's source", s, at(addr("203.0.113.3"), 40001))
}
