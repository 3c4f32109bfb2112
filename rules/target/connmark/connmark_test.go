package connmark_test

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

// TestDo: each operation on a packet with mark 0x1234 whose connection
// has mark 0xabcd. A changed connection mark is flagged for conntrack to
// store (CTMarkDirty).
func TestDo(t *testing.T) {
	tests := []struct {
		name         string
		op           string
		mark, ctmark uint32
		dirty        bool
	}{
		{"set", `set_mark = 5`, 0x1234, 0x5, true},
		{"set under a mask", `set_mark = "0x7/0xff"`, 0x1234, 0xab07, true},
		{"save", `save_mark = true`, 0x1234, 0x1234, true},
		{"save under a mask", "save_mark = true\nmask = \"0xff\"", 0x1234, 0xab34, true},
		{"restore", `restore_mark = true`, 0xabcd, 0xabcd, false},
		{"restore under a mask", "restore_mark = true\nmask = \"0xf0\"", 0x12c4, 0xabcd, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile("[[mangle.prerouting.rule]]\naction = \"connmark\"\n" + tc.op + "\n")
			if err != nil {
				t.Fatal(err)
			}
			pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagACK)
			pkt.Mark, pkt.CTMark = 0x1234, 0xabcd
			v, r := rs.Eval(rs.Builtin(rules.TableMangle, packet.Prerouting), pkt, nil)
			if v != rules.Accept || r != nil {
				t.Errorf("verdict %s by %v: connmark is not terminal, the policy decides", v, r)
			}
			if pkt.Mark != tc.mark || pkt.CTMark != tc.ctmark || pkt.CTMarkDirty != tc.dirty {
				t.Errorf("mark %#x, ct mark %#x, dirty %v; want %#x, %#x, %v", pkt.Mark, pkt.CTMark, pkt.CTMarkDirty, tc.mark, tc.ctmark, tc.dirty)
			}
		})
	}
}

// TestRestoreThenMatch: the usual pair, restore on the way in and match
// the packet mark after it.
func TestRestoreThenMatch(t *testing.T) {
	rs, err := compile(`
[[mangle.prerouting.rule]]
action = "connmark"
restore_mark = true

[[mangle.prerouting.rule]]
mark = 0
ct_state = "new"
action = "mark"
set_mark = 7

[[mangle.prerouting.rule]]
mark = 7
action = "connmark"
save_mark = true
`)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableMangle, packet.Prerouting)
	first := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
	first.CTState = packet.CTNew
	rs.Eval(c, first, nil)
	if first.Mark != 7 || first.CTMark != 7 || !first.CTMarkDirty {
		t.Fatalf("first packet: mark %#x, ct mark %#x, dirty %v; want 7, 7, true", first.Mark, first.CTMark, first.CTMarkDirty)
	}
	// conntrack hands the stored mark to the connection's next packet.
	next := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagACK)
	next.CTState, next.CTMark = packet.CTEstablished, first.CTMark
	rs.Eval(c, next, nil)
	if next.Mark != 7 {
		t.Errorf("next packet: mark %#x, want 7 restored", next.Mark)
	}
}

// TestNoAllocs: connmark allocates nothing.
func TestNoAllocs(t *testing.T) {
	for _, op := range []string{`set_mark = "0x1/0xff"`, `save_mark = true`, `restore_mark = true`} {
		rs, err := compile("[[mangle.prerouting.rule]]\naction = \"connmark\"\n" + op + "\n")
		if err != nil {
			t.Fatal(err)
		}
		c := rs.Builtin(rules.TableMangle, packet.Prerouting)
		pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagACK)
		if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", op, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile("[[mangle.prerouting.rule]]\naction = \"connmark\"\nrestore_mark = true\n")
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableMangle, packet.Prerouting)
	pkt := tcp("10.8.0.5", 40000, "198.51.100.1", 443, header.TCPFlagACK)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
