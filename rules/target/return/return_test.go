package returnchain_test

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

const walk = `
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
src = "10.0.0.0/8"
action = "return"

[[filter.forward.rule]]
action = "jump"
target = "check"

[[filter.forward.rule]]
proto = "tcp"
action = "accept"

[[filter.check.rule]]
dport = 443
action = "return"

[[filter.check.rule]]
action = "drop"
`

// TestWalk: return in a user chain goes back after the jump; in a
// built-in chain the policy decides.
func TestWalk(t *testing.T) {
	rs, err := compile(walk)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	tests := []struct {
		name  string
		src   string
		dport uint16
		want  rules.Verdict
		chain string // the deciding rule's chain; "" = the policy
		num   int
	}{
		{"return from a built-in chain", "10.1.1.1", 443, rules.Drop, "", 0},
		{"return from a user chain", "192.0.2.1", 443, rules.Accept, "forward", 3},
		{"no return", "192.0.2.1", 80, rules.Drop, "check", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tcp(tc.src, 40000, "198.51.100.1", tc.dport, header.TCPFlagSYN)
			v, r := rs.Eval(c, pkt, nil)
			chain, num := "", 0
			if r != nil {
				chain, num = r.Chain.Name, r.Num
			}
			if v != tc.want || chain != tc.chain || num != tc.num {
				t.Errorf("verdict %s by %s:%d, want %s by %s:%d", v, chain, num, tc.want, tc.chain, tc.num)
			}
			if r == nil && pkt.Drop != packet.DropPolicy {
				t.Errorf("drop reason %v, want %v", pkt.Drop, packet.DropPolicy)
			}
		})
	}
	if p, _ := rs.PolicyCounters(c); p != 1 {
		t.Errorf("the policy counted %d packets, want 1", p)
	}
}

// TestNoAllocs: returning allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile(walk)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	a, b := tcp("10.1.1.1", 40000, "198.51.100.1", 443, header.TCPFlagSYN), tcp("192.0.2.1", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() {
		rs.Eval(c, a, nil)
		rs.Eval(c, b, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile(walk)
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	pkt := tcp("192.0.2.1", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
