package mark_test

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

// TestDo: each operation on a packet that arrives with mark 0x1234.
func TestDo(t *testing.T) {
	tests := []struct {
		name string
		op   string
		want uint32
	}{
		{"set", `set_mark = 5`, 0x5},
		{"set under a mask", `set_mark = "0x7/0xff"`, 0x1207},
		{"set under a mask, value outside it", `set_mark = "0x10000/0xff"`, 0x11200},
		{"and", `and_mark = "0xff00"`, 0x1200},
		{"or", `or_mark = "0x10001"`, 0x11235},
		{"xor", `xor_mark = "0xff"`, 0x12cb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile("[[mangle.prerouting.rule]]\naction = \"mark\"\n" + tc.op + "\n")
			if err != nil {
				t.Fatal(err)
			}
			pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
			pkt.Mark = 0x1234
			v, r := rs.Eval(rs.Builtin(rules.TableMangle, packet.Prerouting), pkt, nil)
			if v != rules.Accept || r != nil {
				t.Errorf("verdict %s by %v: mark is not terminal, the policy decides", v, r)
			}
			if pkt.Mark != tc.want {
				t.Errorf("mark %#x, want %#x", pkt.Mark, tc.want)
			}
		})
	}
}

// TestLaterRules: the rules after a mark rule see the new mark: the next
// rule of its chain, and a later table (past an indexed run of dport
// rules).
func TestLaterRules(t *testing.T) {
	src := `
[[mangle.prerouting.rule]]
src = "10.8.0.0/16"
action = "mark"
set_mark = "0x1/0xff"

[[mangle.prerouting.rule]]
mark = "0x1/0xff"
action = "mark"
or_mark = "0x100"
`
	for i := range 8 {
		src += "\n[[filter.forward.rule]]\ndport = " + string(rune('1'+i)) + "\naction = \"drop\"\n"
	}
	src += "\n[[filter.forward.rule]]\nmark = \"0x101\"\naction = \"accept\"\n\n[filter.forward]\npolicy = \"drop\"\n"
	rs, err := compile(src)
	if err != nil {
		t.Fatal(err)
	}
	pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	var tr rules.Tracer
	rs.Eval(rs.Builtin(rules.TableMangle, packet.Prerouting), pkt, &tr)
	if pkt.Mark != 0x101 || len(tr.Logged) != 2 {
		t.Fatalf("mark %#x after mangle, %d rules fired; want 0x101 and 2", pkt.Mark, len(tr.Logged))
	}
	if v, r := rs.Eval(rs.Builtin(rules.TableFilter, packet.Forward), pkt, nil); v != rules.Accept || r == nil || r.Num != 9 {
		t.Errorf("filter: verdict %s by %v, want accept by rule 9", v, r)
	}
}

// TestNoAllocs: marking allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile("[[mangle.prerouting.rule]]\naction = \"mark\"\nset_mark = \"0x1/0xff\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableMangle, packet.Prerouting)
	pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile("[[mangle.prerouting.rule]]\naction = \"mark\"\nset_mark = \"0x1/0xff\"\n")
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableMangle, packet.Prerouting)
	pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
