package ct_state_test

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
	tests := []struct {
		name  string
		keys  string
		state packet.CTState
		want  bool
	}{
		{"new", `ct_state = "new"`, packet.CTNew, true},
		{"new on established", `ct_state = "new"`, packet.CTEstablished, false},
		{"established", `ct_state = ["established", "related"]`, packet.CTEstablished, true},
		{"related", `ct_state = ["established", "related"]`, packet.CTRelated, true},
		{"list miss", `ct_state = ["established", "related"]`, packet.CTNew, false},
		{"invalid", `ct_state = "invalid"`, packet.CTInvalid, true},
		{"untracked", `ct_state = "untracked"`, packet.CTUntracked, true},
		{"untracked is not new", `ct_state = "new"`, packet.CTUntracked, false},
		{"negated", `ct_state = "!new"`, packet.CTNew, false},
		{"negated miss", `ct_state = "!new"`, packet.CTEstablished, true},
		{"negated list", `ct_state = "!established,related"`, packet.CTRelated, false},
		// Without conntrack the packet has no state: only negations match.
		{"no conntrack", `ct_state = "new,established,related,invalid,untracked"`, packet.CTNone, false},
		{"no conntrack negated", `ct_state = "!invalid"`, packet.CTNone, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
			pkt.CTState = tc.state
			if got := matched(rs, c, pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInvalidDrop: a packet conntrack called invalid that a ct_state rule
// drops is counted as drop.ct-invalid, not as an ordinary rule drop.
func TestInvalidDrop(t *testing.T) {
	rs, err := compile("[[filter.forward.rule]]\nct_state = \"invalid\"\naction = \"drop\"\n")
	if err != nil {
		t.Fatal(err)
	}
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
	pkt.CTState = packet.CTInvalid
	v, r := rs.Eval(rs.Builtin(rules.TableFilter, packet.Forward), pkt, nil)
	if v != rules.Drop || r == nil || pkt.Drop != packet.DropCTInvalid {
		t.Errorf("verdict %s by %v, drop reason %v; want drop by rule 1, %v", v, r, pkt.Drop, packet.DropCTInvalid)
	}
}

// TestNoAllocs: evaluating a ct_state rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	for _, keys := range []string{`ct_state = ["established", "related"]`, `ct_state = "!new"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			pkt.CTState = packet.CTEstablished
			matched(rs, c, pkt)
			pkt.CTState = packet.CTNew
			matched(rs, c, pkt)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `ct_state = ["established", "related"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
	pkt.CTState = packet.CTEstablished
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
