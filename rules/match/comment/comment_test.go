package comment_test

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

// TestMatch: a comment never decides; the rule matches as its other keys
// say.
func TestMatch(t *testing.T) {
	syn := tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN)
	ping := icmp("10.1.1.1", "192.0.2.7", header.ICMPEcho, 0)
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"alone tcp", `comment = "everything"`, syn, true},
		{"alone icmp", `comment = "everything"`, ping, true},
		{"with a match", "comment = \"ssh\"\nproto = \"tcp\"", syn, true},
		{"with a match miss", "comment = \"ssh\"\nproto = \"tcp\"", ping, false},
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

// TestTrace: the comment names the deciding rule in traces.
func TestTrace(t *testing.T) {
	rs, c := chain(t, "comment = \"ssh from anywhere\"\nproto = \"tcp\"")
	var tr rules.Tracer
	v, r := rs.Eval(c, tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN), &tr)
	if r == nil || r.Comment != "ssh from anywhere" {
		t.Fatalf("deciding rule %+v", r)
	}
	want := `filter forward; rule forward:1 "ssh from anywhere" at t.toml:4:1 accept (verdict accept)`
	if got := tr.Note(v); got != want {
		t.Errorf("trace:\n got %q\nwant %q", got, want)
	}
}

// TestNoAllocs: a commented rule costs nothing more on the datapath.
func TestNoAllocs(t *testing.T) {
	rs, c := chain(t, "comment = \"ssh\"\nproto = \"tcp\"")
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() { matched(rs, c, pkt) }); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, "comment = \"ssh\"\nproto = \"tcp\"")
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
