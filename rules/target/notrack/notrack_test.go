package notrack_test

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

// udp is an empty UDP datagram from src:sport to dst:dport.
func udp(src string, sport uint16, dst string, dport uint16) *packet.Packet {
	l4 := make([]byte, header.UDPSize)
	header.UDP(l4).Encode(sport, dport, header.UDPSize)
	return datagram(src, dst, header.ProtoUDP, l4)
}

const conf = `
[[raw.prerouting.rule]]
proto = "udp"
dport = 53
action = "notrack"

[[raw.prerouting.rule]]
ct_state = "untracked"
action = "drop"
`

// TestDo: notrack marks the packet untracked and the walk goes on: the
// next rule sees the state.
func TestDo(t *testing.T) {
	rs, err := compile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableRaw, packet.Prerouting)
	dns := udp("192.168.1.20", 5353, "192.168.1.1", 53)
	var tr rules.Tracer
	v, r := rs.Eval(c, dns, &tr)
	if dns.CTState != packet.CTUntracked {
		t.Errorf("state %s, want untracked", dns.CTState)
	}
	if v != rules.Drop || r == nil || r.Num != 2 || len(tr.Logged) != 1 {
		t.Errorf("verdict %s by %v (%d fired): want drop by rule 2 after notrack fired", v, r, len(tr.Logged))
	}
	other := udp("192.168.1.20", 5353, "192.168.1.1", 123)
	if v, _ := rs.Eval(c, other, nil); v != rules.Accept || other.CTState != packet.CTNone {
		t.Errorf("other traffic: verdict %s, state %s; want accept, none", v, other.CTState)
	}
}

// TestNoAllocs: notrack allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile("[[raw.prerouting.rule]]\naction = \"notrack\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableRaw, packet.Prerouting)
	pkt := udp("192.168.1.20", 5353, "192.168.1.1", 53)
	if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile("[[raw.prerouting.rule]]\naction = \"notrack\"\n")
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableRaw, packet.Prerouting)
	pkt := udp("192.168.1.20", 5353, "192.168.1.1", 53)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
