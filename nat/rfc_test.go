package nat_test

import (
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
)

// takePort makes hostB hold UDP (or TCP) port p on the router first, so
// hostA's use of the same internal port gets another external one.
func takePort(l *lab, tcp bool, p uint16) {
	if tcp {
		l.forward(lan0, tcpPkt(at(hostB, p), at(remote2, 9), fSYN, 1, 0, ""), wan0)
		return
	}
	l.forward(lan0, udpPkt(at(hostB, p), at(remote2, 9), "x"), wan0)
}

// RFC 4787 REQ-1: the same internal endpoint is mapped to the same
// external endpoint for every destination.
func TestRFC4787_REQ1_EndpointIndependentMapping(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	takePort(l, false, 40000)
	var ext ep
	for i, dst := range []ep{at(remote, 53), at(remote2, 53), at(remote, 5353), at(hop, 123)} {
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), dst, "x"), wan0))
		if i == 0 {
			ext = s
			if ext.port == 40000 {
				t.Fatalf("hostA kept port 40000 that hostB holds")
			}
			continue
		}
		want(t, "external endpoint", s, ext)
	}
	if n := l.st.Stats().Mappings; n != 2 {
		t.Errorf("%d mappings, want 2", n)
	}
}

// RFC 4787 REQ-3: no port overloading, and a port below 1024 maps below
// 1024, one above maps above; a configured range bounds the choice.
func TestRFC4787_REQ3_PortRanges(t *testing.T) {
	l := newLab(t, masqConfig+`
[[nat.postrouting.rule]]
out = "lan0"
proto = "udp"
action = "snat"
to = "192.168.1.1:61000-61099"
`, nil)
	takePort(l, false, 500)
	takePort(l, false, 2000)
	s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 500), at(remote, 53), "x"), wan0))
	if s.port == 500 || s.port >= 1024 || s.port == 0 {
		t.Errorf("internal port 500 mapped to %d: want another port under 1024", s.port)
	}
	s, _ = fields(l.forward(lan0, udpPkt(at(hostA, 2000), at(remote, 53), "x"), wan0))
	if s.port == 2000 || s.port < 1024 {
		t.Errorf("internal port 2000 mapped to %d: want another port from 1024 up", s.port)
	}
	// The configured range (traffic hairpinned onto the LAN by a rule
	// above: out lan0 -> snat to the router's LAN address).
	for p := uint16(3000); p < 3010; p++ {
		s, _ = fields(l.forward(wan0, udpPkt(at(remote, p), at(hostA, 7), "x"), lan0))
		if s.a != lanGW || s.port < 61000 || s.port > 61099 {
			t.Errorf("source %v:%d: want 192.168.1.1:61000-61099", s.a, s.port)
		}
	}
}

// RFC 4787 REQ-4: the external port has the internal port's parity.
func TestRFC4787_REQ4_PortParity(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	for _, p := range []uint16{40000, 40001, 50002, 50003, 1023, 1022} {
		takePort(l, false, p)
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, p), at(remote, 53), "x"), wan0))
		if s.port == p {
			t.Errorf("port %d kept although taken", p)
		}
		if s.port%2 != p%2 {
			t.Errorf("internal port %d mapped to %d: parity lost", p, s.port)
		}
	}
}

// RFC 4787 REQ-5: a mapping lives at least 2 minutes after its last use
// (the configured 30 s is raised to 2 minutes), and is freed after that.
func TestRFC4787_REQ5_MappingTimer(t *testing.T) {
	l := newLab(t, masqConfig, &nat.Options{MappingTimeout: 30 * time.Second})
	if got := l.st.Options().MappingTimeout; got != 2*time.Minute {
		t.Fatalf("mapping timeout %v, want raised to 2m", got)
	}
	takePort(l, false, 40000)
	s0, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 53), "x"), wan0))
	// The UDP conntrack entries (30 s) die; the mapping stays.
	l.clock.Advance(60 * time.Second)
	l.ct.Reap(1 << 20)
	l.r.Tick()
	if l.ct.Count() != 0 {
		t.Fatalf("%d conntrack entries left", l.ct.Count())
	}
	l.clock.Advance(59 * time.Second) // 1 min 59 s after the last packet
	s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote2, 53), "x"), wan0))
	want(t, "mapping after 1m59s", s, s0)
	// Now let everything die: 2 minutes after the last connection ended
	// the mappings are gone.
	l.clock.Advance(31 * time.Second)
	l.ct.Reap(1 << 20)
	l.r.Tick()
	l.clock.Advance(2*time.Minute + time.Second)
	l.r.Tick()
	if n := l.st.Stats().Mappings; n != 0 {
		t.Errorf("%d mappings left after the timer, want 0", n)
	}
}

// RFC 4787 REQ-6: outbound packets refresh the mapping; it survives as
// long as the inside keeps sending, however long that is.
func TestRFC4787_REQ6_OutboundRefresh(t *testing.T) {
	l := newLab(t, masqConfig, &nat.Options{MappingTimeout: 2 * time.Minute})
	takePort(l, false, 40000)
	s0, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 53), "x"), wan0))
	for i := 0; i < 30; i++ { // 30 x 100 s: far beyond any single timer
		l.clock.Advance(100 * time.Second)
		l.ct.Reap(1 << 20)
		l.r.Tick()
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 53), "keepalive"), wan0))
		want(t, "mapping", s, s0)
		if t.Failed() {
			t.Fatalf("mapping changed after %d refreshes", i+1)
		}
	}
}

// RFC 4787 REQ-8: filtering is configurable. The inside endpoint sent to
// remote:53 only; packets to its mapping come from remote:53 (the reply),
// remote:54 (same address, other port) and remote2:53 (another address).
func TestRFC4787_REQ8_FilteringConfigurable(t *testing.T) {
	type arrival struct {
		from  ep
		admit bool
	}
	for _, c := range []struct {
		name string
		f    nat.Filtering
		in   []arrival
	}{
		{"address-and-port-dependent (default)", nat.AddressAndPortDependent,
			[]arrival{{at(remote, 53), true}, {at(remote, 54), false}, {at(remote2, 53), false}}},
		{"address-dependent", nat.AddressDependent,
			[]arrival{{at(remote, 53), true}, {at(remote, 54), true}, {at(remote2, 53), false}}},
		{"endpoint-independent", nat.EndpointIndependent,
			[]arrival{{at(remote, 53), true}, {at(remote, 54), true}, {at(remote2, 53), true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, masqConfig, &nat.Options{Filtering: c.f})
			takePort(l, false, 40000) // hostB:40000 -> remote2:9
			ext, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 53), "x"), wan0))
			for _, a := range c.in {
				r := l.send(wan0, udpPkt(a.from, ext, "in"))
				if !a.admit {
					if r.verdict != pipeline.Drop || r.drop != packet.DropNATFiltered {
						t.Errorf("from %v:%d: %s %s, want dropped nat-filtered", a.from.a, a.from.port, r.verdict, r.drop)
					}
					continue
				}
				if r.verdict != pipeline.Continue || r.outIf != lan0 {
					t.Errorf("from %v:%d: %s %s, want forwarded to the LAN", a.from.a, a.from.port, r.verdict, r.drop)
					continue
				}
				checkSums(t, r.data)
				s, d := fields(r.data)
				want(t, "admitted source", s, a.from)
				want(t, "admitted destination", d, at(hostA, 40000))
				// The inside answers through the same mapping.
				s, _ = fields(l.forward(lan0, udpPkt(at(hostA, 40000), a.from, "answer"), wan0))
				want(t, "answer source", s, ext)
			}
		})
	}
}

// RFC 4787 REQ-9: hairpinning. A LAN host reaches another LAN host's
// mapping through the public address; the packet arrives with the
// sender's external address and port as its source (REQ-9 a).
func TestRFC4787_REQ9_Hairpinning(t *testing.T) {
	l := newLab(t, masqConfig, &nat.Options{Filtering: nat.EndpointIndependent})
	takePort(l, false, 40000) // hostB holds router:40000
	// hostA's mapping, learnt through a rendezvous server.
	extA, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 3478), "stun"), wan0))
	// hostB sends to it.
	in := l.forward(lan0, udpPkt(at(hostB, 40000), extA, "punch"), lan0)
	s, d := fields(in)
	want(t, "hairpinned source", s, at(router, 40000)) // hostB's external endpoint
	want(t, "hairpinned destination", d, at(hostA, 40000))
	// hostA answers to what it saw; hostB gets it from hostA's external
	// endpoint.
	back := l.forward(lan0, udpPkt(at(hostA, 40000), s, "hello"), lan0)
	s, d = fields(back)
	want(t, "answer source", s, extA)
	want(t, "answer destination", d, at(hostB, 40000))

	// A port forward hairpins too: hostA reaches the published DNS
	// server (udp 5353 -> server:53) through the public address.
	in = l.forward(lan0, udpPkt(at(hostA, 40000), at(router, 5353), "q"), lan0)
	s, d = fields(in)
	want(t, "port-forward hairpin source", s, extA)
	want(t, "port-forward hairpin destination", d, at(server, 53))
	back = l.forward(lan0, udpPkt(at(server, 53), s, "a"), lan0)
	s, d = fields(back)
	want(t, "port-forward answer source", s, at(router, 5353))
	want(t, "port-forward answer destination", d, at(hostA, 40000))
}

// RFC 4787 REQ-11: deterministic. The same traffic gives the same
// translations, and a mapping does not change while it lives.
func TestRFC4787_REQ11_Deterministic(t *testing.T) {
	cfg := masqConfig + `
[[nat.postrouting.rule]]
out = "lan0"
proto = "udp"
action = "snat"
to = "192.168.1.1:20000-29999"
random = true
`
	run := func() []ep {
		l := newLab(t, cfg, &nat.Options{Seed: 42})
		var got []ep
		for i := uint16(0); i < 50; i++ {
			takePort(l, false, 30000+i)
			s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 30000+i), at(remote, 53), "x"), wan0))
			got = append(got, s)
			s, _ = fields(l.forward(wan0, udpPkt(at(remote, 1000+i), at(hostA, 7), "y"), lan0))
			got = append(got, s)
		}
		// Asking again gives the same answers.
		for i := uint16(0); i < 50; i++ {
			s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 30000+i), at(remote2, 53), "x"), wan0))
			if s != got[2*i] {
				t.Errorf("mapping of port %d changed from %v to %v", 30000+i, got[2*i], s)
			}
		}
		return got
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("run 2 differs at %d: %v vs %v", i, a[i], b[i])
		}
	}
}

// RFC 5382 REQ-1: TCP mappings are endpoint-independent too.
func TestRFC5382_REQ1_EndpointIndependentMapping(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	takePort(l, true, 40000)
	s1, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""), wan0))
	s2, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote2, 443), fSYN, 1, 0, ""), wan0))
	if s1.port == 40000 {
		t.Fatalf("port 40000 given twice")
	}
	want(t, "second connection's source", s2, s1)
}

// RFC 5382 REQ-2: TCP hairpinning through a port forward.
func TestRFC5382_REQ2_Hairpinning(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	a, pub, srv := at(hostA, 40000), at(router, 8080), at(server, 80)
	s, d := fields(l.forward(lan0, tcpPkt(a, pub, fSYN, 100, 0, ""), lan0))
	want(t, "SYN source", s, at(router, 40000))
	want(t, "SYN destination", d, srv)
	s, d = fields(l.forward(lan0, tcpPkt(srv, at(router, 40000), fSYN|fACK, 900, 101, ""), lan0))
	want(t, "SYN-ACK source", s, pub)
	want(t, "SYN-ACK destination", d, a)
	l.forward(lan0, tcpPkt(a, pub, fACK, 101, 901, "GET /"), lan0)
	e := l.entry(tcpTuple(a, pub))
	if e.Reply != tcpTuple(srv, at(router, 40000)) {
		t.Errorf("reply tuple %+v", e.Reply)
	}
	if e.Status&(packet.CTStatusSNAT|packet.CTStatusDNAT) != packet.CTStatusSNAT|packet.CTStatusDNAT {
		t.Errorf("status %b: want SNAT and DNAT", e.Status)
	}
}

// RFC 5382 REQ-4: an unsolicited inbound SYN to a mapping is dropped
// silently: no RST, no ICMP error.
func TestRFC5382_REQ4_UnsolicitedSYNDroppedSilently(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	answered := 0
	l.env.Rejecter = func(*packet.Packet, pipeline.Injector) { answered++ }
	ext, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""), wan0))
	r := l.send(wan0, tcpPkt(at(remote2, 5555), ext, fSYN, 77, 0, ""))
	if r.verdict != pipeline.Drop || r.drop != packet.DropNATFiltered {
		t.Fatalf("unsolicited SYN: %s %s, want a silent drop (nat-filtered)", r.verdict, r.drop)
	}
	if answered != 0 {
		t.Errorf("the SYN was answered")
	}
	if n := l.ct.Count(); n != 1 {
		t.Errorf("%d conntrack entries, want 1 (the SYN made none)", n)
	}
}

// RFC 5382 REQ-5: an established connection idle for 2 hours 4 minutes
// is still translated.
func TestRFC5382_REQ5_EstablishedIdleTimeout(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	takePort(l, true, 40000) // hostB's SYN: its entry and mapping die long before 2 h
	a, r := at(hostA, 40000), at(remote, 22)
	ext, _ := fields(l.forward(lan0, tcpPkt(a, r, fSYN, 1000, 0, ""), wan0))
	if ext.port == 40000 {
		t.Fatalf("port 40000 given twice")
	}
	l.forward(wan0, tcpPkt(r, ext, fSYN|fACK, 5000, 1001, ""), lan0)
	l.forward(lan0, tcpPkt(a, r, fACK, 1001, 5001, ""), wan0)
	for _, step := range []time.Duration{10 * time.Minute, 2*time.Hour + 4*time.Minute + time.Second - 10*time.Minute} {
		l.clock.Advance(step)
		l.ct.Reap(1 << 20)
		l.r.Tick()
	}
	_, d := fields(l.forward(wan0, tcpPkt(r, ext, fACK, 5001, 1001, "still there"), lan0))
	want(t, "destination after 2h4m idle", d, a)
	s, _ := fields(l.forward(lan0, tcpPkt(a, r, fACK, 1001, 5012, "yes"), wan0))
	want(t, "source after 2h4m idle", s, ext)
	// The mapping lived on because its connection did (port 40000 is
	// free again, so a dead mapping would have given 40000).
	s, _ = fields(l.forward(lan0, tcpPkt(a, at(remote2, 443), fSYN, 1, 0, ""), wan0))
	want(t, "new connection's source", s, ext)
	if st := l.st.Stats(); st.Mappings != 1 || st.Resyncs != 0 {
		t.Errorf("stats %+v: want 1 mapping, no resync", st)
	}
}

// Exhaustion: with a range of 10 ports the 11th internal endpoint is
// refused (counted as nat-exhausted, answered with admin-prohibited per
// RFC 5508 REQ-8), and the 10 existing connections keep working.
func TestExhaustionRangeOf10(t *testing.T) {
	l := newLab(t, baseConfig+`
[[nat.postrouting.rule]]
out = "wan0"
proto = "udp"
action = "snat"
to = "203.0.113.2:20000-20009"
`, nil)
	var kinds []packet.RejectKind
	l.env.Rejecter = func(p *packet.Packet, _ pipeline.Injector) { kinds = append(kinds, p.RejectWith) }
	used := map[uint16]bool{}
	var ext []ep
	for i := uint16(0); i < 10; i++ {
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 30000+i), at(remote, 53), "x"), wan0))
		if s.port < 20000 || s.port > 20009 || used[s.port] {
			t.Fatalf("port %d: outside the range or given twice", s.port)
		}
		used[s.port] = true
		ext = append(ext, s)
	}
	r := l.send(lan0, udpPkt(at(hostA, 30010), at(remote, 53), "x"))
	if r.verdict != pipeline.Reject || r.drop != packet.DropNATExhausted {
		t.Fatalf("11th: %s %s, want reject nat-exhausted", r.verdict, r.drop)
	}
	if len(kinds) != 1 || kinds[0] != packet.RejectAdminProhibited {
		t.Errorf("answers %v, want one admin-prohibited", kinds)
	}
	if st := l.st.Stats(); st.Exhausted != 1 {
		t.Errorf("exhausted counter %d", st.Exhausted)
	}
	for i, e := range ext {
		_, d := fields(l.forward(wan0, udpPkt(at(remote, 53), e, "a"), lan0))
		want(t, "reply destination", d, at(hostA, 30000+uint16(i)))
		s, _ := fields(l.forward(lan0, udpPkt(at(hostA, 30000+uint16(i)), at(remote2, 53), "x"), wan0))
		want(t, "existing mapping", s, e)
	}
}

// Fully random and random ports are not the preserved ones, and stay in
// range.
func TestRandomFlags(t *testing.T) {
	for _, flag := range []string{"random", "fully_random"} {
		t.Run(flag, func(t *testing.T) {
			l := newLab(t, baseConfig+`
[[nat.postrouting.rule]]
out = "wan0"
proto = "tcp"
action = "snat"
to = "203.0.113.2:1024-65535"
`+flag+` = true
`, &nat.Options{Seed: 7})
			kept := 0
			seen := map[uint16]bool{}
			for i := uint16(0); i < 20; i++ {
				s, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40000+i), at(remote, 80), fSYN, 1, 0, ""), wan0))
				if s.port == 40000+i {
					kept++
				}
				seen[s.port] = true
			}
			if kept > 1 || len(seen) != 20 {
				t.Errorf("%d ports kept, %d distinct: want random distinct ports", kept, len(seen))
			}
			// fully_random: a second connection of one endpoint gets its own port.
			s1, _ := fields(l.forward(lan0, tcpPkt(at(hostB, 50000), at(remote, 80), fSYN, 1, 0, ""), wan0))
			s2, _ := fields(l.forward(lan0, tcpPkt(at(hostB, 50000), at(remote2, 80), fSYN, 1, 0, ""), wan0))
			if (s1 == s2) != (flag == "random") {
				t.Errorf("%s: second connection %v, first %v", flag, s2, s1)
			}
		})
	}
}

// Several DNAT addresses: persistent keeps a client on one server.
func TestDNATRangePersistent(t *testing.T) {
	l := newLab(t, baseConfig+`
[[nat.prerouting.rule]]
in = "wan0"
proto = "tcp"
dport = 443
action = "dnat"
to = "192.168.1.100-192.168.1.103"
persistent = true
`, nil)
	var first [4]byte
	for i := uint16(0); i < 10; i++ {
		_, d := fields(l.forward(wan0, tcpPkt(at(remote, 40000+i), at(router, 443), fSYN, 1, 0, ""), lan0))
		if i == 0 {
			first = d.a
		} else if d.a != first {
			t.Fatalf("connection %d went to %v, the first to %v", i, d.a, first)
		}
		if d.port != 443 {
			t.Errorf("port %d, want 443 kept", d.port)
		}
	}
	_ = header.ProtoTCP
}

// [nat_behavior] in the configuration sets the filtering (REQ-8), the
// mapping timeout (REQ-5) and hairpinning (REQ-9), and a reload changes
// them: a packet the default filtering drops is admitted once the file
// says endpoint-independent.
func TestNATBehaviorFromConfig(t *testing.T) {
	l := newLab(t, masqConfig+"\n[nat_behavior]\nmapping_timeout = \"7m\"\nhairpin = false\n", nil)
	if o := l.st.Options(); o.Filtering != nat.AddressAndPortDependent || o.MappingTimeout != 7*time.Minute || !o.NoHairpin {
		t.Fatalf("options from the file: %+v", o)
	}
	ext, _ := fields(l.forward(lan0, udpPkt(at(hostA, 40000), at(remote, 53), "x"), wan0))
	if r := l.send(wan0, udpPkt(at(remote2, 53), ext, "in")); r.verdict != pipeline.Drop || r.drop != packet.DropNATFiltered {
		t.Fatalf("a stranger under address-and-port-dependent filtering: %s %s", r.verdict, r.drop)
	}
	cfg, err := config.Parse("lab.toml", []byte(masqConfig+"\n[nat_behavior]\nfiltering = \"endpoint-independent\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if o := l.st.Options(); o.Filtering != nat.EndpointIndependent || o.MappingTimeout != 5*time.Minute || o.NoHairpin {
		t.Fatalf("options after the reload: %+v", o)
	}
	r := l.send(wan0, udpPkt(at(remote2, 53), ext, "in"))
	if r.verdict != pipeline.Continue || r.outIf != lan0 {
		t.Fatalf("a stranger after the reload to endpoint-independent: %s %s", r.verdict, r.drop)
	}
}
