package jump_test

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

// walk is an input chain that jumps to ssh for port 22 (which accepts
// the LAN and returns the rest), then to count (a rule without action:
// it only counts, and the walk falls off the chain's end back to input).
const walk = `
[filter.input]
policy = "drop"

[[filter.input.rule]]
proto = "tcp"
dport = 22
action = "jump"
target = "ssh"

[[filter.input.rule]]
action = "jump"
target = "count"

[[filter.input.rule]]
proto = "tcp"
dport = 80
action = "accept"

[[filter.ssh.rule]]
src = "192.168.1.0/24"
action = "accept"

[[filter.ssh.rule]]
action = "return"

[[filter.ssh.rule]]
action = "accept"

[[filter.count.rule]]
proto = "tcp"
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
		dport  uint16
		want   rules.Verdict
		by     string // chain:number of the deciding rule; "" = the policy
		chains string // the chains the walk entered
	}{
		{"jump and accept there", "192.168.1.5", 22, rules.Accept, "ssh:1", "input ssh"},
		{"return to the next rule", "203.0.113.9", 22, rules.Drop, "", "input ssh count"},
		{"fall off a user chain", "203.0.113.9", 80, rules.Accept, "input:3", "input count"},
		{"policy", "203.0.113.9", 443, rules.Drop, "", "input count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr rules.Tracer
			v, r := rs.Eval(c, tcp(tc.src, 40000, "192.0.2.7", tc.dport, header.TCPFlagSYN), &tr)
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
	// The jump rules count every packet they sent into their chain.
	if p, _ := rs.Counters(c.Rules[0]); p != 2 {
		t.Errorf("jump to ssh counted %d packets, want 2", p)
	}
	if p, _ := rs.Counters(c.Rules[1]); p != 3 {
		t.Errorf("jump to count counted %d packets, want 3", p)
	}
	if p, _ := rs.Counters(rs.Chain(rules.TableFilter, "count").Rules[0]); p != 3 {
		t.Errorf("count:1 counted %d packets, want 3", p)
	}
}

// TestDeepest: a walk through MaxDepth nested chains and back.
func TestDeepest(t *testing.T) {
	s := "[filter.input]\npolicy = \"drop\"\n\n[[filter.input.rule]]\naction = \"jump\"\ntarget = \"c1\"\n\n[[filter.input.rule]]\naction = \"accept\"\n"
	for i := 1; i < rules.MaxDepth; i++ {
		s += "\n[[filter.c" + strconv.Itoa(i) + ".rule]]\naction = \"jump\"\ntarget = \"c" + strconv.Itoa(i+1) + "\"\n"
	}
	s += "\n[[filter.c" + strconv.Itoa(rules.MaxDepth) + ".rule]]\naction = \"return\"\n"
	rs, err := compile(s)
	if err != nil {
		t.Fatal(err)
	}
	var tr rules.Tracer
	v, r := rs.Eval(rs.Builtin(rules.TableFilter, packet.Input), tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN), &tr)
	if v != rules.Accept || r == nil || r.Chain.Name != "input" || r.Num != 2 || len(tr.Chains) != rules.MaxDepth+1 {
		t.Errorf("verdict %s by %v through %d chains; want accept by input:2 through %d", v, r, len(tr.Chains), rules.MaxDepth+1)
	}
}

// TestNoAllocs: jumping and returning allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile(walk)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	in, out := tcp("192.168.1.5", 40000, "192.0.2.7", 22, header.TCPFlagSYN), tcp("203.0.113.9", 40000, "192.0.2.7", 22, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() {
		rs.Eval(c, in, nil)
		rs.Eval(c, out, nil)
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
	pkt := tcp("203.0.113.9", 40000, "192.0.2.7", 22, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
