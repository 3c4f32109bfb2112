package tcp_flags_test

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
	const (
		fin = header.TCPFlagFIN
		syn = header.TCPFlagSYN
		rst = header.TCPFlagRST
		psh = header.TCPFlagPSH
		ack = header.TCPFlagACK
		urg = header.TCPFlagURG
		ece = header.TCPFlagECE
		cwr = header.TCPFlagCWR
	)
	const sfar = `tcp_flags = { mask = ["syn", "ack", "fin", "rst"], set = ["syn"] }`
	const xmas = `tcp_flags = { mask = ["all"], set = ["fin", "psh", "urg"] }`
	const synfin = `tcp_flags = { mask = ["syn", "fin"], set = ["syn", "fin"] }`
	tests := []struct {
		name  string
		keys  string
		flags uint8
		want  bool
	}{
		{"syn", `syn = true`, syn, true},
		{"syn with ecn", `syn = true`, syn | ece | cwr, true},
		{"syn ack is not syn", `syn = true`, syn | ack, false},
		{"ack is not syn", `syn = true`, ack, false},
		{"syn rst is not syn", `syn = true`, syn | rst, false},
		{"not syn on ack", `syn = false`, ack, true},
		{"not syn on syn", `syn = false`, syn, false},
		{"mask set", sfar, syn | psh, true},
		{"mask set miss", sfar, syn | fin, false},
		{"xmas", xmas, fin | psh | urg, true},
		{"xmas needs exactly", xmas, fin | psh | urg | ack, false},
		{"syn fin", synfin, syn | fin | ack, true},
		{"syn fin miss", synfin, syn, false},
		{"inverted", `tcp_flags = { mask = ["rst"], set = ["rst"], invert = true }`, ack, true},
		{"inverted miss", `tcp_flags = { mask = ["rst"], set = ["rst"], invert = true }`, rst | ack, false},
		{"none set", `tcp_flags = { mask = ["all"], set = ["none"] }`, 0, true},
		{"none set miss", `tcp_flags = { mask = ["all"], set = ["none"] }`, ack, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			if got := matched(rs, c, tcp("10.1.1.1", 40000, "192.0.2.7", 443, tc.flags)); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNotTCP: only TCP segments have flags; other packets never match,
// inverted or not.
func TestNotTCP(t *testing.T) {
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	for _, keys := range []string{`syn = true`, `syn = false`, `tcp_flags = { mask = ["all"], set = ["none"], invert = true }`} {
		rs, c := chain(t, keys)
		if matched(rs, c, pkt) {
			t.Errorf("%s matched a UDP datagram", keys)
		}
	}
}

// TestNoAllocs: evaluating a tcp_flags rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	synPkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	ackPkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
	for _, keys := range []string{`syn = true`, `tcp_flags = { mask = ["syn", "rst"], set = ["syn", "rst"], invert = true }`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, synPkt)
			matched(rs, c, ackPkt)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `syn = true`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
