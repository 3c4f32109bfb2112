package src_test

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
	syn := func(src string, sport uint16, dst string) *packet.Packet {
		return tcp(src, sport, dst, 443, header.TCPFlagSYN)
	}
	ping := func(src, dst string) *packet.Packet { return icmp(src, dst, header.ICMPEcho, 0) }
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"address", `src = "10.1.1.1"`, syn("10.1.1.1", 40000, "192.0.2.7"), true},
		{"address miss", `src = "10.1.1.1"`, syn("10.1.1.2", 40000, "192.0.2.7"), false},
		{"destination not looked at", `src = "192.0.2.7"`, syn("10.1.1.1", 40000, "192.0.2.7"), false},
		{"prefix first", `src = "10.0.0.0/8"`, syn("10.0.0.0", 40000, "192.0.2.7"), true},
		{"prefix last", `src = "10.0.0.0/8"`, syn("10.255.255.255", 40000, "192.0.2.7"), true},
		{"prefix below", `src = "10.0.0.0/8"`, syn("9.255.255.255", 40000, "192.0.2.7"), false},
		{"prefix above", `src = "10.0.0.0/8"`, syn("11.0.0.0", 40000, "192.0.2.7"), false},
		{"everything", `src = "0.0.0.0/0"`, syn("255.255.255.255", 1, "192.0.2.7"), true},
		{"icmp", `src = "10.0.0.0/8"`, ping("10.1.1.1", "192.0.2.7"), true},
		{"list second", `src = ["192.0.2.1", "10.1.0.0/16"]`, syn("10.1.9.9", 40000, "192.0.2.7"), true},
		{"list miss", `src = ["192.0.2.1", "10.1.0.0/16"]`, syn("10.2.0.1", 40000, "192.0.2.7"), false},
		{"negated hit", `src = "!10.0.0.0/8"`, syn("10.1.1.1", 40000, "192.0.2.7"), false},
		{"negated miss", `src = "!10.0.0.0/8"`, syn("172.16.0.1", 40000, "192.0.2.7"), true},
		{"negated list", `src = "!10.0.0.1,10.0.0.2"`, syn("10.0.0.2", 40000, "192.0.2.7"), false},
		{"net set", `src = "@nets"`, syn("10.9.9.9", 40000, "192.0.2.7"), true},
		{"net set miss", `src = "@nets"`, syn("192.0.2.7", 40000, "10.9.9.9"), false},
		{"addr set", `src = "@hosts"`, syn("192.0.2.7", 40000, "10.9.9.9"), true},
		{"addr set negated", `src = "!@hosts"`, syn("192.0.2.7", 40000, "10.9.9.9"), false},
		{"addr_port set", `src = "@svc"`, syn("192.0.2.7", 443, "10.9.9.9"), true},
		{"addr_port set wrong port", `src = "@svc"`, syn("192.0.2.7", 444, "10.9.9.9"), false},
		{"addr_port set no ports", `src = "@svc"`, ping("192.0.2.7", "10.9.9.9"), false},
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

// TestNoAllocs: evaluating a src rule allocates nothing, for prefixes and
// sets, hit or miss.
func TestNoAllocs(t *testing.T) {
	hit := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	miss := tcp("172.16.0.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	for _, keys := range []string{`src = ["192.0.2.1", "10.1.0.0/16"]`, `src = "!@nets"`, `src = "@svc"`} {
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
	rs, c := chain(b, `src = ["192.0.2.1", "10.1.0.0/16"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
