package redirect_test

import (
	"net/netip"
	"testing"

	"fwd/config"
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

const conf = `
[[nat.prerouting.rule]]
proto = "tcp"
dport = 80
action = "redirect"
to_ports = 3128

[[nat.prerouting.rule]]
proto = "udp"
dport = 53
action = "redirect"
`

// TestSpec: the target leaves its NAT spec on the packet (the address is
// the ingress interface's, chosen by the nat stage) and ends the walk.
func TestSpec(t *testing.T) {
	rs, err := compile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableNAT, packet.Prerouting)
	tests := []struct {
		name string
		pkt  *packet.Packet
		want *rules.NAT // nil: no rule
	}{
		{"to the proxy port", tcp("192.168.1.20", 40000, "198.51.100.1", 80, header.TCPFlagSYN), &rules.NAT{
			Kind: rules.Redirect, HasPorts: true, PortMin: 3128, PortMax: 3128,
			Chain: "prerouting", Num: 1, Pos: config.Pos{File: "t.toml", Line: 2, Col: 1},
		}},
		{"port kept", udp("192.168.1.20", 5353, "198.51.100.1", 53), &rules.NAT{
			Kind: rules.Redirect, Chain: "prerouting", Num: 2, Pos: config.Pos{File: "t.toml", Line: 8, Col: 1},
		}},
		{"other traffic", tcp("192.168.1.20", 40000, "198.51.100.1", 443, header.TCPFlagSYN), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, r := rs.Eval(c, tc.pkt, nil)
			if tc.want == nil {
				if v != rules.Accept || r != nil || tc.pkt.NAT != nil {
					t.Errorf("verdict %s by %v, NAT %v; want the policy's accept and no NAT", v, r, tc.pkt.NAT)
				}
				return
			}
			if v != rules.Accept || r == nil || r.Num != tc.want.Num {
				t.Fatalf("verdict %s by %v, want accept by rule %d", v, r, tc.want.Num)
			}
			n, ok := tc.pkt.NAT.(*rules.NAT)
			if !ok || *n != *tc.want {
				t.Errorf("pkt.NAT = %+v\nwant %+v", tc.pkt.NAT, tc.want)
			}
		})
	}
}

// TestNoAllocs: choosing the spec allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableNAT, packet.Prerouting)
	pkt := tcp("192.168.1.20", 40000, "198.51.100.1", 80, header.TCPFlagSYN)
	if n := testing.AllocsPerRun(100, func() {
		pkt.NAT = nil
		rs.Eval(c, pkt, nil)
	}); n != 0 {
		t.Errorf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEval(b *testing.B) {
	rs, err := compile(conf)
	if err != nil {
		b.Fatal(err)
	}
	c := rs.Builtin(rules.TableNAT, packet.Prerouting)
	pkt := tcp("192.168.1.20", 40000, "198.51.100.1", 80, header.TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
