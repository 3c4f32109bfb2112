package dst_test

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
	syn := func(src, dst string, dport uint16) *packet.Packet {
		return tcp(src, 40000, dst, dport, header.TCPFlagSYN)
	}
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"address", `dst = "192.0.2.7"`, syn("10.1.1.1", "192.0.2.7", 443), true},
		{"address miss", `dst = "192.0.2.7"`, syn("10.1.1.1", "192.0.2.8", 443), false},
		{"source not looked at", `dst = "10.1.1.1"`, syn("10.1.1.1", "192.0.2.7", 443), false},
		{"prefix first", `dst = "192.0.2.0/24"`, syn("10.1.1.1", "192.0.2.0", 443), true},
		{"prefix last", `dst = "192.0.2.0/24"`, syn("10.1.1.1", "192.0.2.255", 443), true},
		{"prefix above", `dst = "192.0.2.0/24"`, syn("10.1.1.1", "192.0.3.0", 443), false},
		{"udp", `dst = "192.0.2.0/24"`, udp("10.1.1.1", 5353, "192.0.2.53", 53), true},
		{"icmp", `dst = "192.0.2.0/24"`, icmp("10.1.1.1", "192.0.2.1", header.ICMPEcho, 0), true},
		{"list", `dst = ["198.51.100.1", "192.0.2.0/25"]`, syn("10.1.1.1", "192.0.2.100", 443), true},
		{"list miss", `dst = ["198.51.100.1", "192.0.2.0/25"]`, syn("10.1.1.1", "192.0.2.200", 443), false},
		{"negated hit", `dst = "!192.0.2.0/24"`, syn("10.1.1.1", "192.0.2.7", 443), false},
		{"negated miss", `dst = "!192.0.2.0/24"`, syn("10.1.1.1", "198.51.100.1", 443), true},
		{"net set", `dst = "@nets"`, syn("192.0.2.7", "10.200.0.1", 443), true},
		{"net set negated", `dst = "!@nets"`, syn("192.0.2.7", "10.200.0.1", 443), false},
		{"addr set", `dst = "@hosts"`, syn("10.1.1.1", "192.0.2.7", 443), true},
		{"addr_port set", `dst = "@svc"`, syn("10.1.1.1", "192.0.2.7", 443), true},
		{"addr_port set wrong port", `dst = "@svc"`, syn("10.1.1.1", "192.0.2.7", 80), false},
		{"addr_port set uses dport", `dst = "@svc"`, tcp("10.1.1.1", 443, "192.0.2.7", 80, header.TCPFlagSYN), false},
		{"addr_port set udp", `dst = "@svc"`, udp("10.1.1.1", 5000, "192.0.2.7", 443), true},
		{"addr_port set icmp", `dst = "@svc"`, icmp("10.1.1.1", "192.0.2.7", header.ICMPEcho, 0), false},
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

// TestNoAllocs: evaluating a dst rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	hit := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	miss := tcp("10.1.1.1", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	for _, keys := range []string{`dst = "192.0.2.0/24"`, `dst = "!@hosts"`, `dst = "@svc"`} {
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
	rs, c := chain(b, `dst = ["198.51.100.1", "192.0.2.0/24"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
