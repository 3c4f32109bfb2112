package conntrack

import (
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

func TestUDP(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	req := func() *packet.Packet { return decode(t, buildUDP(cliAddr, srvAddr, 5353, 53, 30)) }
	rep := func() *packet.Packet { return decode(t, buildUDP(srvAddr, cliAddr, 53, 5353, 90)) }
	key := Tuple{Src: cliAddr, Dst: srvAddr, SrcPort: 5353, DstPort: 53, Proto: header.ProtoUDP}
	steps := []struct {
		name    string
		advance time.Duration
		pkt     func() *packet.Packet
		ct      packet.CTState
		reply   bool
		timeout int64
		assured bool
	}{
		{"query", 0, req, packet.CTNew, false, 30, false},
		{"query again", time.Second / 2, req, packet.CTNew, false, 30, false},
		{"answer", time.Second / 2, rep, packet.CTEstablished, true, 30, false},
		{"within 2s", time.Second / 2, req, packet.CTEstablished, false, 30, false},
		{"after 2s: a stream", 2 * time.Second, req, packet.CTEstablished, false, 120, true},
		{"answer in stream", time.Second, rep, packet.CTEstablished, true, 120, true},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		pkt := s.pkt()
		run(tab, pkt)
		if pkt.CTState != s.ct || pkt.CTReply != s.reply {
			t.Fatalf("%s: %v reply=%v", s.name, pkt.CTState, pkt.CTReply)
		}
		e, _, ok := tab.Lookup(key)
		if !ok {
			t.Fatalf("%s: no entry", s.name)
		}
		if got := e.Timeout(clk.Now()); got != s.timeout {
			t.Errorf("%s: timeout %d, want %d", s.name, got, s.timeout)
		}
		if (e.Status&packet.CTStatusAssured != 0) != s.assured {
			t.Errorf("%s: status %v", s.name, StatusNames(e.Status))
		}
	}
	clk.Advance(121 * time.Second)
	if _, _, ok := tab.Lookup(key); ok {
		t.Fatal("entry outlived udp_stream")
	}
	// After expiry a reply is not ESTABLISHED: it is a new flow.
	pkt := rep()
	run(tab, pkt)
	if pkt.CTState != packet.CTNew {
		t.Fatalf("reply after expiry: %v", pkt.CTState)
	}
}

// TestUDPClash: two first packets of one flow in one batch (both tracked
// before either is confirmed) leave exactly one entry, and both pass.
func TestUDPClash(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	var pkts [8]*packet.Packet
	for i := range pkts {
		pkts[i] = decode(t, buildUDP(cliAddr, srvAddr, 5353, 53, 30))
		if v := tab.Track(pkts[i]); v != pipeline.Continue || pkts[i].CTState != packet.CTNew {
			t.Fatalf("track %d: %v %v", i, v, pkts[i].CTState)
		}
	}
	for i := range pkts {
		if v := tab.Confirm(pkts[i]); v != pipeline.Continue {
			t.Fatalf("confirm %d: %v", i, v)
		}
	}
	if n := tab.Count(); n != 1 {
		t.Fatalf("%d entries", n)
	}
	st := tab.Stats()
	if st.Insert != 1 || st.ClashResolve != 7 {
		t.Fatalf("insert=%d clash_resolve=%d", st.Insert, st.ClashResolve)
	}
	for i := range pkts {
		if pkts[i].CT != pkts[0].CT {
			t.Fatalf("packet %d on another entry", i)
		}
	}
	e, _, _ := tab.Lookup(Tuple{Src: cliAddr, Dst: srvAddr, SrcPort: 5353, DstPort: 53, Proto: header.ProtoUDP})
	if e.Packets[0] != 8 {
		t.Fatalf("packets %d", e.Packets[0])
	}
}

func TestICMPQueries(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	echo := func(src, dst [4]byte, typ uint8, id uint16) *packet.Packet {
		return decode(t, buildICMP(src, dst, typ, 0, uint32(id)<<16|1, []byte("abcdefgh")))
	}
	tests := []struct {
		name  string
		pkt   *packet.Packet
		ct    packet.CTState
		reply bool
		count int
	}{
		{"request", echo(cliAddr, srvAddr, header.ICMPEcho, 7), packet.CTNew, false, 1},
		{"reply", echo(srvAddr, cliAddr, header.ICMPEchoReply, 7), packet.CTEstablished, true, 1},
		{"next request", echo(cliAddr, srvAddr, header.ICMPEcho, 7), packet.CTEstablished, false, 1},
		{"reply with another id", echo(srvAddr, cliAddr, header.ICMPEchoReply, 8), packet.CTInvalid, false, 1},
		{"unsolicited reply", echo(rtrAddr, cliAddr, header.ICMPEchoReply, 7), packet.CTInvalid, false, 1},
		{"router advertisement", decode(t, buildICMP(rtrAddr, cliAddr, header.ICMPRouterAdvert, 0, 0, nil)), packet.CTInvalid, false, 1},
		{"timestamp request", echo(cliAddr, srvAddr, header.ICMPTimestamp, 9), packet.CTNew, false, 2},
		{"timestamp reply", echo(srvAddr, cliAddr, header.ICMPTimestampReply, 9), packet.CTEstablished, true, 2},
	}
	for _, tc := range tests {
		run(tab, tc.pkt)
		if tc.pkt.CTState != tc.ct || tc.pkt.CTReply != tc.reply {
			t.Fatalf("%s: %v reply=%v", tc.name, tc.pkt.CTState, tc.pkt.CTReply)
		}
		if tab.Count() != tc.count {
			t.Fatalf("%s: %d entries", tc.name, tab.Count())
		}
	}
	clk.Advance(31 * time.Second)
	if tab.Reap(1<<16) != 2 || tab.Count() != 0 {
		t.Fatalf("icmp entries did not expire: %d", tab.Count())
	}
}

func TestICMPErrors(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	// A UDP flow client -> server, answered, with a mark.
	udpOut := buildUDP(cliAddr, srvAddr, 40000, 53, 20)
	udpBack := buildUDP(srvAddr, cliAddr, 53, 40000, 20)
	p := decode(t, udpOut)
	run(tab, p)
	tab.SetMark(p.CT.(*Conn), 77)
	run(tab, decode(t, udpBack))
	// A TCP flow with known windows.
	f := newFlow(t, tab, nil)
	f.send(O, fSYN, 1000, 0, 1000, 0, nil)
	f.send(R, fSYN|fACK, 5000, 1001, 1000, 0, nil)
	f.send(O, fACK, 1001, 5001, 1000, 0, nil)
	tcpOut := buildTCP(cliAddr, srvAddr, 40000, 80, fACK, 1001, 5001, 1000, nil, 0)
	tcpOutBad := buildTCP(cliAddr, srvAddr, 40000, 80, fACK, 1001+1<<30, 5001, 1000, nil, 0)
	// An echo request.
	echo := buildICMP(cliAddr, srvAddr, header.ICMPEcho, 0, 3<<16|1, []byte("12345678"))
	run(tab, decode(t, echo))
	orphan := buildUDP(cliAddr, [4]byte{10, 9, 9, 9}, 1, 2, 0)

	errTo := func(from [4]byte, typ, code uint8, orig []byte) *packet.Packet {
		b := make([]byte, 600)
		n := header.BuildICMPError(b, from, typ, code, 0, header.IPv4(orig))
		return decode(t, b[:n])
	}
	spoofed := func() *packet.Packet {
		// Quotes the client's packet but goes to a third host.
		return decode(t, buildICMP(srvAddr, [4]byte{192, 168, 1, 99}, header.ICMPDestUnreach, header.ICMPPortUnreach, 0, udpOut[:28]))
	}
	before := tab.Count()
	tests := []struct {
		name  string
		pkt   *packet.Packet
		ct    packet.CTState
		reply bool
		mark  uint32
	}{
		{"port unreachable from the server", errTo(srvAddr, header.ICMPDestUnreach, header.ICMPPortUnreach, udpOut), packet.CTRelated, true, 77},
		{"time exceeded from a router", errTo(rtrAddr, header.ICMPTimeExceeded, 0, udpOut), packet.CTRelated, true, 77},
		{"about the reply direction", errTo(rtrAddr, header.ICMPDestUnreach, header.ICMPHostUnreach, udpBack), packet.CTRelated, false, 77},
		{"frag needed for tcp in window", errTo(rtrAddr, header.ICMPDestUnreach, header.ICMPFragNeeded, tcpOut), packet.CTRelated, true, 0},
		{"tcp seq out of window", errTo(rtrAddr, header.ICMPDestUnreach, header.ICMPFragNeeded, tcpOutBad), packet.CTInvalid, false, 0},
		{"about an echo request", errTo(rtrAddr, header.ICMPTimeExceeded, 0, echo), packet.CTRelated, true, 0},
		{"orphan", errTo(rtrAddr, header.ICMPDestUnreach, header.ICMPHostUnreach, orphan), packet.CTInvalid, false, 0},
		{"outer destination mismatch", spoofed(), packet.CTInvalid, false, 0},
		{"redirect with a header only", decode(t, buildICMP(rtrAddr, cliAddr, header.ICMPRedirect, 1, 0, udpOut[:20])), packet.CTInvalid, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(tab, tc.pkt)
			if tc.pkt.CTState != tc.ct || tc.pkt.CTReply != tc.reply || tc.pkt.CTMark != tc.mark {
				t.Fatalf("%v reply=%v mark=%d", tc.pkt.CTState, tc.pkt.CTReply, tc.pkt.CTMark)
			}
			if (tc.pkt.CT == nil) != (tc.ct == packet.CTInvalid) {
				t.Fatalf("CT = %v", tc.pkt.CT)
			}
			if tab.Count() != before {
				t.Fatalf("an ICMP error made an entry")
			}
		})
	}
}

func TestOtherProto(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	gre := func(src, dst [4]byte) *packet.Packet {
		b := make([]byte, 24)
		header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: 24, TTL: 64, Protocol: 47, Src: src, Dst: dst})
		return decode(t, b)
	}
	p := gre(cliAddr, srvAddr)
	run(tab, p)
	q := gre(srvAddr, cliAddr)
	run(tab, q)
	if p.CTState != packet.CTNew || q.CTState != packet.CTEstablished || !q.CTReply {
		t.Fatalf("%v %v", p.CTState, q.CTState)
	}
	clk.Advance(599 * time.Second)
	if tab.Count() != 1 {
		t.Fatal("generic expired early")
	}
	clk.Advance(2 * time.Second)
	tab.Reap(1 << 16)
	if tab.Count() != 0 {
		t.Fatal("generic did not expire")
	}
}

func TestUntrackable(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	b := buildUDP(cliAddr, srvAddr, 1, 2, 100)
	header.IPv4(b).SetFlagsFragmentOffset(header.IPv4FlagMF)
	header.IPv4(b).UpdateChecksum()
	p := decode(t, b)
	run(tab, p)
	if p.CTState != packet.CTInvalid || tab.Count() != 0 {
		t.Fatalf("fragment: %v", p.CTState)
	}
}
