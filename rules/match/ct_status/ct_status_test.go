package ct_status_test

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
	const (
		seen      = packet.CTStatusSeenReply
		assured   = packet.CTStatusAssured
		confirmed = packet.CTStatusConfirmed
		snat      = packet.CTStatusSNAT
		dnat      = packet.CTStatusDNAT
	)
	tests := []struct {
		name   string
		keys   string
		status packet.CTStatus
		want   bool
	}{
		{"bit set", `ct_status = "assured"`, confirmed | seen | assured, true},
		{"bit clear", `ct_status = "assured"`, confirmed | seen, false},
		{"any of the list", `ct_status = ["snat", "dnat"]`, confirmed | dnat, true},
		{"none of the list", `ct_status = ["snat", "dnat"]`, confirmed | seen, false},
		{"expected", `ct_status = "expected"`, packet.CTStatusExpected, true},
		{"no connection", `ct_status = "confirmed"`, 0, false},
		{"negated", `ct_status = "!assured"`, confirmed, true},
		{"negated miss", `ct_status = "!assured"`, assured, false},
		{"negated list: none set", `ct_status = "!snat,dnat"`, confirmed | seen, true},
		{"negated list: one set", `ct_status = "!snat,dnat"`, confirmed | snat, false},
		{"negated no connection", `ct_status = "!seen_reply"`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, c := chain(t, tc.keys)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
			pkt.CTStatus = tc.status
			if got := matched(rs, c, pkt); got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoAllocs: evaluating a ct_status rule allocates nothing.
func TestNoAllocs(t *testing.T) {
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
	for _, keys := range []string{`ct_status = ["snat", "dnat"]`, `ct_status = "!assured"`} {
		rs, c := chain(t, keys)
		if n := testing.AllocsPerRun(100, func() {
			pkt.CTStatus = packet.CTStatusDNAT
			matched(rs, c, pkt)
			pkt.CTStatus = packet.CTStatusAssured
			matched(rs, c, pkt)
		}); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", keys, n)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rs, c := chain(b, `ct_status = ["snat", "dnat"]`)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagACK)
	pkt.CTStatus = packet.CTStatusConfirmed | packet.CTStatusDNAT
	b.ReportAllocs()
	for b.Loop() {
		matched(rs, c, pkt)
	}
}
