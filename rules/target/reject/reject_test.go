package reject_test

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

// TestVerdict: reject ends the walk with the Reject verdict, the drop
// reason "reject" and the answer icmperr is to send.
func TestVerdict(t *testing.T) {
	rs, err := compile(`
[[filter.input.rule]]
proto = "tcp"
dport = 113
action = "reject"
reject_with = "tcp-reset"

[[filter.input.rule]]
proto = "udp"
action = "reject"

[[filter.input.rule]]
proto = "tcp"
action = "reject"
reject_with = "icmp-host-prohibited"

[[filter.input.rule]]
action = "accept"
`)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	tests := []struct {
		name string
		pkt  *packet.Packet
		rule int
		with packet.RejectKind
	}{
		{"tcp reset", tcp("10.1.1.1", 40000, "192.0.2.7", 113, header.TCPFlagSYN), 1, packet.RejectTCPReset},
		{"default port unreachable", udp("10.1.1.1", 40000, "192.0.2.7", 53), 2, packet.RejectPortUnreach},
		{"prohibited", tcp("10.1.1.1", 40000, "192.0.2.7", 22, header.TCPFlagSYN), 3, packet.RejectHostProhibited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, r := rs.Eval(c, tc.pkt, nil)
			if v != rules.Reject || r == nil || r.Num != tc.rule {
				t.Fatalf("verdict %s by %v, want reject by rule %d", v, r, tc.rule)
			}
			if tc.pkt.RejectWith != tc.with || tc.pkt.Drop != packet.DropReject {
				t.Errorf("reject with %v, reason %v; want %v, %v", tc.pkt.RejectWith, tc.pkt.Drop, tc.with, packet.DropReject)
			}
		})
	}
}

// TestNoAllocs: a rejecting walk allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile("[[filter.input.rule]]\nproto = \"tcp\"\naction = \"reject\"\nreject_with = \"tcp-reset\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile("[[filter.input.rule]]\naction = \"reject\"\n")
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Input)
	pkt := udp("10.1.1.1", 40000, "192.0.2.7", 53)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
