package tcp_option_test

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

// Option bytes (RFC 9293 §3.1, RFC 7323, RFC 2018).
var (
	mss    = []byte{2, 4, 0x05, 0xb4}              // MSS 1460
	nop    = []byte{1}                             // no-operation
	ws     = []byte{3, 3, 7}                       // window scale 7
	sackOK = []byte{4, 2}                          // SACK permitted
	ts     = []byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 0} // timestamps
	eol    = []byte{0}                             // end of option list
)

// seg is a TCP SYN carrying the option bytes opts, padded with zeros to
// a multiple of 4.
func seg(opts ...[]byte) *packet.Packet {
	var o []byte
	for _, x := range opts {
		o = append(o, x...)
	}
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	l4 := make([]byte, header.TCPMinSize+len(o))
	header.TCP(l4).Encode(&header.TCPFields{SrcPort: 40000, DstPort: 443, DataOffset: uint8(len(l4)), Flags: header.TCPFlagSYN, Window: 64240})
	copy(l4[header.TCPMinSize:], o)
	return datagram("10.1.1.1", "192.0.2.7", header.ProtoTCP, l4)
}

func TestMatch(t *testing.T) {
	linux := seg(mss, sackOK, ts, nop, ws) // what a Linux SYN carries
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"first", `tcp_option = "mss"`, linux, true},
		{"after a 10-byte option", `tcp_option = "wscale"`, linux, true},
		{"absent", `tcp_option = "sack"`, linux, false},
		{"any of", `tcp_option = ["sack", "timestamp"]`, linux, true},
		{"no options", `tcp_option = "mss"`, seg(), false},
		{"nop", `tcp_option = 1`, linux, true},
		{"unknown kind", `tcp_option = 30`, seg([]byte{30, 4, 1, 2}), true},
		{"after end of list", `tcp_option = "mss"`, seg(ws, eol, mss), false},
		{"end of list itself", `tcp_option = 0`, seg(mss, eol), true},
		{"bad length stops", `tcp_option = "mss"`, seg([]byte{30, 1}, mss), false},
		{"length past header", `tcp_option = "sack"`, seg(nop, nop, []byte{30, 40}), false},
		{"negated absent", `tcp_option = "!sack"`, linux, true},
		{"negated present", `tcp_option = "!mss"`, linux, false},
		{"negated no options", `tcp_option = "!mss"`, seg(), true},
		{"not tcp", `tcp_option = "!mss"`, udp("10.1.1.1", 40000, "192.0.2.7", 53), false},
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

// TestNoAllocs: walking the options allocates nothing.
func TestNoAllocs(t *testing.T) {
	with, without := seg(mss, sackOK, ts, nop, ws), seg(mss)
	for _, keys := range []string{`tcp_option = "wscale"`, `tcp_option = "!timestamp,sack"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			matched(rs, c, with)
			matched(rs, c, without)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `tcp_option = "wscale"`)
	pkt := seg(mss, sackOK, ts, nop, ws)
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
