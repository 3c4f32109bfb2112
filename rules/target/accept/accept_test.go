package accept_test

import (
	"net/netip"
	"testing"

	"fwd/header"
	"fwd/packet"
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

// TestVerdict: accept decides the table's walk: later rules do not run,
// the policy is not consulted, and the rule counts the packet.
func TestVerdict(t *testing.T) {
	rs, err := compile(`
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
proto = "tcp"
action = "accept"

[[filter.forward.rule]]
action = "drop"
`)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	v, r := rs.Eval(c, pkt, nil)
	if v != rules.Accept || r == nil || r.Num != 1 {
		t.Fatalf("verdict %s by %v, want accept by rule 1", v, r)
	}
	if pkt.Drop != packet.DropNone {
		t.Errorf("accept left drop reason %v", pkt.Drop)
	}
	if p, b := rs.Counters(r); p != 1 || b != uint64(len(pkt.Data)) {
		t.Errorf("rule 1 counted %d packets, %d bytes; want 1, %d", p, b, len(pkt.Data))
	}
	if p, _ := rs.Counters(c.Rules[1]); p != 0 {
		t.Errorf("rule 2 ran after accept: %d packets", p)
	}
	if p, _ := rs.PolicyCounters(c); p != 0 {
		t.Errorf("the policy counted %d packets after accept", p)
	}
}

// TestFromUserChain: accept in a user chain decides for the built-in
// chain that jumped there.
func TestFromUserChain(t *testing.T) {
	rs, err := compile(`
[filter.input]
policy = "drop"

[[filter.input.rule]]
action = "jump"
target = "web"

[[filter.web.rule]]
proto = "tcp"
dport = 443
action = "accept"
`)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	v, r := rs.Eval(c, tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN), nil)
	if v != rules.Accept || r == nil || r.Chain.Name != "web" {
		t.Errorf("verdict %s by %v, want accept by web:1", v, r)
	}
	if v, r := rs.Eval(c, tcp("10.1.1.1", 40000, "192.0.2.7", 80, header.TCPFlagSYN), nil); v != rules.Drop || r != nil {
		t.Errorf("port 80: verdict %s by %v, want the policy's drop", v, r)
	}
}

// TestNoAllocs: an accepting walk allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile("[[filter.forward.rule]]\naction = \"accept\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile("[[filter.forward.rule]]\naction = \"accept\"\n")
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
