package mac_src_test

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
	host := [6]byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}
	other := [6]byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcd}
	tests := []struct {
		name string
		keys string
		mac  [6]byte
		want bool
	}{
		{"same", `mac_src = "00:11:22:aa:bb:cc"`, host, true},
		{"upper case rule", `mac_src = "00:11:22:AA:BB:CC"`, host, true},
		{"other", `mac_src = "00:11:22:aa:bb:cc"`, other, false},
		{"unknown source", `mac_src = "00:11:22:aa:bb:cc"`, [6]byte{}, false},
		{"negated", `mac_src = "!00:11:22:aa:bb:cc"`, host, false},
		{"negated other", `mac_src = "!00:11:22:aa:bb:cc"`, other, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
			pkt.SrcMAC = tc.mac
			if got := matched(rs, c, pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating a mac_src rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, c := chain(t, `mac_src = "00:11:22:aa:bb:cc"`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() {
		pkt.SrcMAC = [6]byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}
		matched(rs, c, pkt)
		pkt.SrcMAC[5] = 0
		matched(rs, c, pkt)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `mac_src = "00:11:22:aa:bb:cc"`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	pkt.SrcMAC = [6]byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
