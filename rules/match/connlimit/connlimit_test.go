package connlimit_test

import (
	"net/netip"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

// datagram builds and decodes an IPv4 datagram from src to dst carrying
// the transport header l4 as protocol proto.
func datagram(src, dst string, proto uint8, l4 []byte) *packet.Packet {
	b := make([]byte, header.IPv4MinSize+len(l4))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: proto,
		Src: netip.MustParseAddr(src).As4(), Dst: netip.MustParseAddr(dst).As4(),
	})
	copy(b[header.IPv4MinSize:], l4)
	p := packet.New(b)
	p.Parsed.Decode(p.Data)
	return p
}

// tcp is a TCP segment with flags from src:sport to dst:dport.
func tcp(src string, sport uint16, dst string, dport uint16, flags uint8) *packet.Packet {
	l4 := make([]byte, header.TCPMinSize)
	header.TCP(l4).Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Flags: flags, Window: 64240})
	return datagram(src, dst, header.ProtoTCP, l4)
}

// udp is an empty UDP datagram from src:sport to dst:dport.
func udp(src string, sport uint16, dst string, dport uint16) *packet.Packet {
	l4 := make([]byte, header.UDPSize)
	header.UDP(l4).Encode(sport, dport, header.UDPSize)
	return datagram(src, dst, header.ProtoUDP, l4)
}

const (
	syn    = header.TCPFlagSYN
	ack    = header.TCPFlagACK
	fin    = header.TCPFlagFIN | header.TCPFlagACK
	rst    = header.TCPFlagRST
	synack = header.TCPFlagSYN | header.TCPFlagACK
)

// counter compiles a filter forward chain (policy accept) with one rule
// (keys, action drop) on a virtual clock.
type counter struct {
	t     *testing.T
	rs    *rules.Ruleset
	c     *rules.Chain
	clock *pipeline.Virtual
}

func newCounter(t *testing.T, keys string) *counter {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte("[[filter.forward.rule]]\n"+keys+"\naction = \"drop\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	clock := pipeline.NewVirtual(time.Unix(1700000000, 0))
	rs, err := rules.CompileWith(cfg, nil, rules.Options{Env: &pipeline.Env{Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	return &counter{t, rs, rs.Builtin(rules.TableFilter, packet.Forward), clock}
}

// send evaluates a TCP segment src:sport -> dst:80 (or its reply when
// reply is set) in conntrack state st and reports whether the rule
// matched.
func (k *counter) send(src string, sport uint16, dst string, flags uint8, st packet.CTState, reply bool) bool {
	var pkt *packet.Packet
	if reply {
		pkt = tcp(dst, 80, src, sport, flags)
	} else {
		pkt = tcp(src, sport, dst, 80, flags)
	}
	pkt.CTState, pkt.CTReply = st, reply
	v, _ := k.rs.Eval(k.c, pkt, nil)
	return v == rules.Drop
}

// open starts a connection from src:sport and reports whether the rule
// matched its SYN.
func (k *counter) open(src string, sport uint16) bool {
	return k.send(src, sport, "192.0.2.80", syn, packet.CTNew, false)
}

// TestAbove: the rule matches a source's connections beyond the limit;
// closing one makes room.
func TestAbove(t *testing.T) {
	k := newCounter(t, `connlimit = 2`)
	if k.open("10.0.0.1", 1001) || k.open("10.0.0.1", 1002) {
		t.Fatal("the first two connections matched connlimit = 2")
	}
	if !k.open("10.0.0.1", 1003) {
		t.Error("the third connection did not match")
	}
	if k.open("10.0.0.2", 1001) {
		t.Error("another source's first connection matched")
	}
	// 10.0.0.1 closes its connections: a RST and a FIN take them out.
	k.send("10.0.0.1", 1001, "192.0.2.80", rst, packet.CTEstablished, false)
	k.send("10.0.0.1", 1002, "192.0.2.80", fin, packet.CTEstablished, true) // the server's FIN
	k.send("10.0.0.1", 1003, "192.0.2.80", rst, packet.CTNew, false)
	if k.open("10.0.0.1", 1004) || k.open("10.0.0.1", 1005) {
		t.Error("after closing, 10.0.0.1 is still over the limit")
	}
}

// TestRetransmit: the same connection counts once, however many of its
// packets pass.
func TestRetransmit(t *testing.T) {
	k := newCounter(t, `connlimit = 1`)
	for range 3 {
		if k.open("10.0.0.1", 1001) {
			t.Fatal("a retransmitted SYN counted as another connection")
		}
	}
	k.send("10.0.0.1", 1001, "192.0.2.80", synack, packet.CTEstablished, true)
	k.send("10.0.0.1", 1001, "192.0.2.80", ack, packet.CTEstablished, false)
	if !k.open("10.0.0.1", 1002) {
		t.Error("a second connection did not match connlimit = 1")
	}
}

// TestTimeout: a connection no packet of which passed the rule for the
// timeout is forgotten; packets either way keep it.
func TestTimeout(t *testing.T) {
	k := newCounter(t, `connlimit = { above = 1, timeout = "1m" }`)
	k.open("10.0.0.1", 1001)
	k.open("10.0.0.1", 1002) // over the limit, and counted
	for range 5 {
		k.clock.Advance(50 * time.Second)
		k.send("10.0.0.1", 1001, "192.0.2.80", ack, packet.CTEstablished, true) // the server keeps 1001 alive
	}
	if !k.open("10.0.0.1", 1003) {
		t.Fatal("1001 was forgotten although its replies passed")
	}
	k.clock.Advance(61 * time.Second)
	if k.open("10.0.0.1", 1004) {
		t.Error("after a minute of silence the connections are still counted")
	}
}

// TestModes: counts per destination, per prefix, and upto.
func TestModes(t *testing.T) {
	k := newCounter(t, `connlimit = { above = 1, mode = "dst" }`)
	if k.send("10.0.0.1", 1001, "192.0.2.80", syn, packet.CTNew, false) ||
		!k.send("10.0.0.2", 1001, "192.0.2.80", syn, packet.CTNew, false) {
		t.Error("mode dst: two sources to one server were not counted together")
	}
	if k.send("10.0.0.2", 1002, "192.0.2.81", syn, packet.CTNew, false) {
		t.Error("mode dst: another server shares the count")
	}

	k = newCounter(t, `connlimit = { above = 1, prefix = 24 }`)
	if k.open("10.0.0.1", 1001) || !k.open("10.0.0.99", 1001) {
		t.Error("prefix 24: two hosts of a /24 were not counted together")
	}
	if k.open("10.0.1.1", 1001) {
		t.Error("prefix 24: the next /24 shares the count")
	}

	k = newCounter(t, `connlimit = { upto = 1 }`)
	if !k.open("10.0.0.1", 1001) || k.open("10.0.0.1", 1002) {
		t.Error("upto 1: want a match for the first connection only")
	}
}

// TestNoConntrack: without conntrack (state none) every first-seen
// connection counts.
func TestNoConntrack(t *testing.T) {
	k := newCounter(t, `connlimit = 1`)
	if k.send("10.0.0.1", 1001, "192.0.2.80", syn, packet.CTNone, false) ||
		!k.send("10.0.0.1", 1002, "192.0.2.80", syn, packet.CTNone, false) {
		t.Error("without conntrack, two connections were not counted")
	}
}

// TestUDP: UDP flows count by their ports too.
func TestUDP(t *testing.T) {
	k := newCounter(t, "proto = \"udp\"\nconnlimit = 1")
	eval := func(sport uint16) bool {
		pkt := udp("10.0.0.1", sport, "192.0.2.53", 53)
		pkt.CTState = packet.CTNew
		v, _ := k.rs.Eval(k.c, pkt, nil)
		return v == rules.Drop
	}
	if eval(5000) || eval(5000) || !eval(5001) {
		t.Error("UDP flows: want the second flow, not the repeated first, over connlimit = 1")
	}
}

// TestNoAllocs: packets of connections already counted allocate nothing.
func TestNoAllocs(t *testing.T) {
	k := newCounter(t, `connlimit = 10`)
	k.open("10.0.0.1", 1001)
	k.open("10.0.0.1", 1002)
	a := tcp("10.0.0.1", 1001, "192.0.2.80", 80, ack)
	b := tcp("192.0.2.80", 80, "10.0.0.1", 1002, ack)
	a.CTState, b.CTState, b.CTReply = packet.CTEstablished, packet.CTEstablished, true
	if n := testing.AllocsPerRun(1000, func() {
		k.clock.Advance(time.Millisecond)
		k.rs.Eval(k.c, a, nil)
		k.rs.Eval(k.c, b, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	cfg, _ := config.Parse("t.toml", []byte("[[filter.forward.rule]]\nconnlimit = 100\naction = \"drop\"\n"))
	rs, err := rules.CompileWith(cfg, nil, rules.Options{Env: &pipeline.Env{Clock: pipeline.NewVirtual(time.Unix(1, 0))}})
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	for p := range uint16(10) {
		pkt := tcp("10.0.0.1", 1000+p, "192.0.2.80", 80, syn)
		pkt.CTState = packet.CTNew
		rs.Eval(c, pkt, nil)
	}
	pkt := tcp("10.0.0.1", 1000, "192.0.2.80", 80, ack)
	pkt.CTState = packet.CTEstablished
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
