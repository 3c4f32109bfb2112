package dport_test

import (
	"net/netip"
	"strconv"
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

// udp is an empty UDP datagram from src:sport to dst:dport.
func udp(src string, sport uint16, dst string, dport uint16) *packet.Packet {
	l4 := make([]byte, header.UDPSize)
	header.UDP(l4).Encode(sport, dport, header.UDPSize)
	return datagram(src, dst, header.ProtoUDP, l4)
}

// icmp is an ICMP message of type and code from src to dst.
func icmp(src, dst string, typ, code uint8) *packet.Packet {
	l4 := make([]byte, header.ICMPv4Size)
	header.ICMPv4(l4).Encode(typ, code, 0x12340001)
	return datagram(src, dst, header.ProtoICMP, l4)
}

// chain compiles a filter forward chain with policy drop holding one rule
// (keys, action accept): the verdict Accept means the rule matched.
func chain(t testing.TB, keys string) (*rules.Ruleset, *rules.Chain) {
	t.Helper()
	rs, err := compile("[filter.forward]\npolicy = \"drop\"\n\n[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail)
	if err != nil {
		t.Fatal(err)
	}
	return rs, rs.Builtin(rules.TableFilter, packet.Forward)
}

// matched evaluates pkt through the one-rule chain of chain.
func matched(rs *rules.Ruleset, c *rules.Chain, pkt *packet.Packet) bool {
	v, _ := rs.Eval(c, pkt, nil)
	return v == rules.Accept
}

func TestMatch(t *testing.T) {
	to := func(dport uint16) *packet.Packet {
		return tcp("10.1.1.1", 40000, "192.0.2.7", dport, header.TCPFlagSYN)
	}
	dns := udp("10.1.1.1", 5353, "192.0.2.7", 53)
	ping := icmp("10.1.1.1", "192.0.2.7", header.ICMPEcho, 0)
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"port", `dport = 22`, to(22), true},
		{"port miss", `dport = 22`, to(23), false},
		{"source port not looked at", `dport = 40000`, to(22), false},
		{"udp", `dport = 53`, dns, true},
		{"tcp rule on udp", "proto = \"tcp\"\ndport = 53", dns, false},
		{"no ports", `dport = "0-65535"`, ping, false},
		{"negated no ports", `dport = "!53"`, ping, false},
		{"range low", `dport = "8000-8099"`, to(8000), true},
		{"range high", `dport = "8000-8099"`, to(8099), true},
		{"range below", `dport = "8000-8099"`, to(7999), false},
		{"range above", `dport = "8000-8099"`, to(8100), false},
		{"port 0", `dport = 0`, to(0), true},
		{"port 65535", `dport = "1024:65535"`, to(65535), true},
		{"list", `dport = [80, 443, "8000-8099"]`, to(443), true},
		{"list range", `dport = [80, 443, "8000-8099"]`, to(8042), true},
		{"list miss", `dport = [80, 443, "8000-8099"]`, to(22), false},
		{"negated", `dport = "!22"`, to(22), false},
		{"negated miss", `dport = "!22"`, to(80), true},
		{"negated list", `dport = "!80,443"`, to(443), false},
		{"set", `dport = "@ports"`, to(8050), true},
		{"set miss", `dport = "@ports"`, to(8100), false},
		{"negated set", `dport = "!@ports"`, to(22), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			if got := matched(rs, c, tc.pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIndexed: a run of 8 or more dport rules is looked up through an
// index, with the verdicts of a linear walk.
func TestIndexed(t *testing.T) {
	src := "[filter.forward]\npolicy = \"drop\"\n"
	for p := 1000; p < 1010; p++ {
		src += "\n[[filter.forward.rule]]\ndport = " + strconv.Itoa(p) + "\naction = \"accept\"\n"
	}
	rs, err := compile(src)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	if st := rs.Stats(c); st.IndexedRules != 10 {
		t.Fatalf("stats %+v, want the 10 rules indexed", st)
	}
	for _, port := range []uint16{999, 1000, 1005, 1009, 1010} {
		pkt := tcp("10.1.1.1", 40000, "192.0.2.7", port, header.TCPFlagSYN)
		v, r := rs.Eval(c, pkt, nil)
		lv, lr := rs.EvalLinear(c, pkt, nil)
		if v != lv || r != lr {
			t.Errorf("port %d: indexed %s %v, linear %s %v", port, v, r, lv, lr)
		}
		if want := port >= 1000 && port < 1010; (v == rules.Accept) != want {
			t.Errorf("port %d: verdict %s", port, v)
		}
		if v == rules.Accept && r.Num != int(port)-999 {
			t.Errorf("port %d: decided by rule %d", port, r.Num)
		}
	}
}

// TestNoAllocs: evaluating a dport rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	hit := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	miss := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	for _, keys := range []string{`dport = 443`, `dport = "!80,8000-8099"`, `dport = "@ports"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, hit)
			matched(rs, c, miss)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `dport = [80, 443, "8000-8099"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 8042, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
