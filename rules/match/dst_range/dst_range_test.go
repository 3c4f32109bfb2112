package dst_range_test

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

// to is a TCP SYN to addr.
func to(addr string) *packet.Packet {
	return tcp("198.51.100.1", 40000, addr, 443, header.TCPFlagSYN)
}

func TestMatch(t *testing.T) {
	const r = `dst_range = "10.0.0.5-10.0.0.20"`
	tests := []struct {
		name string
		keys string
		pkt  *packet.Packet
		want bool
	}{
		{"first", r, to("10.0.0.5"), true},
		{"last", r, to("10.0.0.20"), true},
		{"inside", r, to("10.0.0.9"), true},
		{"below", r, to("10.0.0.4"), false},
		{"above", r, to("10.0.0.21"), false},
		{"other byte", r, to("10.1.0.9"), false},
		{"other address not looked at", `dst_range = "198.51.100.0-198.51.100.9"`, to("10.0.0.9"), false},
		{"across octets", `dst_range = "10.0.0.250-10.0.1.5"`, to("10.0.1.0"), true},
		{"negated inside", `dst_range = "!10.0.0.5-10.0.0.20"`, to("10.0.0.9"), false},
		{"negated outside", `dst_range = "!10.0.0.5-10.0.0.20"`, to("10.0.0.21"), true},
		{"whole space", `dst_range = "0.0.0.0-255.255.255.255"`, to("255.255.255.255"), true},
		{"icmp", r, icmp("10.0.0.9", "10.0.0.9", header.ICMPEcho, 0), true},
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

// TestIndexed: a run of 8 or more dst_range rules is looked up through an
// index, with the verdicts of a linear walk.
func TestIndexed(t *testing.T) {
	src := "[filter.forward]\npolicy = \"drop\"\n"
	for i := range 10 {
		lo, hi := strconv.Itoa(i*10), strconv.Itoa(i*10+4)
		src += "\n[[filter.forward.rule]]\ndst_range = \"10.0.0." + lo + "-10.0.0." + hi + "\"\naction = \"accept\"\n"
	}
	rs, err := compile(src)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	if st := rs.Stats(c); st.IndexedRules != 10 {
		t.Fatalf("stats %+v, want the 10 rules indexed", st)
	}
	for last := 0; last < 100; last++ {
		pkt := to("10.0.0." + strconv.Itoa(last))
		v, r := rs.Eval(c, pkt, nil)
		lv, lr := rs.EvalLinear(c, pkt, nil)
		if v != lv || r != lr {
			t.Errorf("10.0.0.%d: indexed %s %v, linear %s %v", last, v, r, lv, lr)
		}
		if want := last%10 <= 4; (v == rules.Accept) != want {
			t.Errorf("10.0.0.%d: verdict %s", last, v)
		}
		if v == rules.Accept && r.Num != last/10+1 {
			t.Errorf("10.0.0.%d: decided by rule %d", last, r.Num)
		}
	}
}

// TestNoAllocs: evaluating a dst_range rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	hit, miss := to("10.0.0.9"), to("10.0.0.99")
	for _, keys := range []string{`dst_range = "10.0.0.5-10.0.0.20"`, `dst_range = "!10.0.0.5-10.0.0.20"`} {
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
	rs, c := chain(b, `dst_range = "10.0.0.5-10.0.0.20"`)
	pkt := to("10.0.0.9")
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
