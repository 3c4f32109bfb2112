package gotochain_test

import (
	"net/netip"
	"strconv"
	"strings"
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

// walk: input jumps to dispatch, which goes to web or ssh by port.
// Falling off (or returning from) a chain entered by goto goes back to
// where dispatch was jumped from, after the jump: input:2.
const walk = `
[filter.input]
policy = "drop"

[[filter.input.rule]]
action = "jump"
target = "dispatch"

[[filter.input.rule]]
proto = "tcp"
dport = 8080
action = "accept"

[[filter.input.rule]]
proto = "tcp"
dport = 25
action = "goto"
target = "ssh"

[[filter.dispatch.rule]]
proto = "tcp"
dport = [80, 8080]
action = "goto"
target = "web"

[[filter.dispatch.rule]]
proto = "tcp"
dport = [22, 25]
action = "goto"
target = "ssh"

[[filter.dispatch.rule]]
action = "drop"

[[filter.web.rule]]
dst = "192.0.2.80"
action = "accept"

[[filter.ssh.rule]]
src = "192.168.1.0/24"
action = "accept"

[[filter.ssh.rule]]
action = "return"
`

func TestWalk(t *testing.T) {
	rs, err := compile(walk)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	tests := []struct {
		name   string
		src    string
		dst    string
		dport  uint16
		want   rules.Verdict
		by     string // chain:number of the deciding rule; "" = the policy
		chains string
	}{
		{"goto and accept", "203.0.113.9", "192.0.2.80", 80, rules.Accept, "web:1", "input dispatch web"},
		{"fall off: back after the jump, not to dispatch", "203.0.113.9", "192.0.2.81", 8080, rules.Accept, "input:2", "input dispatch web"},
		{"return: back after the jump", "203.0.113.9", "192.0.2.81", 22, rules.Drop, "", "input dispatch ssh"},
		{"goto from a built-in chain: the policy", "203.0.113.9", "192.0.2.81", 25, rules.Drop, "", "input dispatch ssh ssh"},
		{"not taken", "203.0.113.9", "192.0.2.81", 443, rules.Drop, "dispatch:3", "input dispatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr rules.Tracer
			v, r := rs.Eval(c, tcp(tc.src, 40000, tc.dst, tc.dport, header.TCPFlagSYN), &tr)
			by := ""
			if r != nil {
				by = r.Chain.Name + ":" + strconv.Itoa(r.Num)
			}
			var chains []string
			for _, ch := range tr.Chains {
				chains = append(chains, ch.Name)
			}
			if v != tc.want || by != tc.by || strings.Join(chains, " ") != tc.chains {
				t.Errorf("verdict %s by %q through %v; want %s by %q through %s", v, by, chains, tc.want, tc.by, tc.chains)
			}
		})
	}
}

// TestNoAllocs: a walk through goto allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile(walk)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	web, ssh := tcp("203.0.113.9", 40000, "192.0.2.81", 8080, header.TCPFlagSYN), tcp("203.0.113.9", 40000, "192.0.2.81", 22, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() {
		rs.Eval(c, web, nil)
		rs.Eval(c, ssh, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile(walk)
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	pkt := tcp("203.0.113.9", 40000, "192.0.2.80", 80, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
