package drop_test

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

// TestVerdict: drop ends the walk with a named drop reason: "rule", or
// "ct-invalid" for a packet conntrack called invalid; the policy's drop
// is "policy".
func TestVerdict(t *testing.T) {
	rs, err := compile(`
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
proto = "tcp"
dport = 23
action = "drop"

[[filter.forward.rule]]
proto = "tcp"
dport = 23
action = "accept"
`)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	tests := []struct {
		name   string
		dport  uint16
		state  packet.CTState
		rule   int // deciding rule; 0 = the policy
		reason packet.DropReason
	}{
		{"rule", 23, packet.CTNew, 1, packet.DropRule},
		{"rule, invalid", 23, packet.CTInvalid, 1, packet.DropCTInvalid},
		{"policy", 80, packet.CTNew, 0, packet.DropPolicy},
		{"policy, invalid", 80, packet.CTInvalid, 0, packet.DropCTInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", tc.dport, header.TCPFlagSYN)
			pkt.CTState = tc.state
			v, r := rs.Eval(c, pkt, nil)
			num := 0
			if r != nil {
				num = r.Num
			}
			if v != rules.Drop || num != tc.rule || pkt.Drop != tc.reason {
				t.Errorf("verdict %s by rule %d, reason %v; want drop by rule %d, reason %v", v, num, pkt.Drop, tc.rule, tc.reason)
			}
		})
	}
	if p, b := rs.Counters(c.Rules[0]); p != 2 || b != 80 {
		t.Errorf("rule 1 counted %d packets, %d bytes; want 2, 80", p, b)
	}
	if p, _ := rs.Counters(c.Rules[1]); p != 0 {
		t.Errorf("rule 2 ran after drop: %d packets", p)
	}
}

// TestNoAllocs: a dropping walk allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile("[[filter.forward.rule]]\naction = \"drop\"\n")
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
	rs, err := compile("[[filter.forward.rule]]\naction = \"drop\"\n")
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
