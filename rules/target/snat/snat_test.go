package snat_test

import (
	"net/netip"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
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
[[nat.postrouting.rule]]
src = "192.168.1.0/24"
proto = "tcp"
action = "snat"
to = "203.0.113.2-203.0.113.3:20000-29999"
persistent = true

[[nat.postrouting.rule]]
src = "192.168.1.0/24"
action = "snat"
to = "203.0.113.2"
`

// TestSpec: the target leaves its NAT spec on the packet and ends the nat
// table's walk; the nat stage does the translation.
func TestSpec(t *testing.T) {
	rs, err := compile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableNAT, packet.Postrouting)
	tests := []struct {
		name string
		pkt  *packet.Packet
		want *rules.NAT // nil: no rule
	}{
		{"tcp: range and ports", tcp("192.168.1.20", 40000, "198.51.100.1", 443, header.TCPFlagSYN), &rules.NAT{
			Kind: rules.SNAT, HasAddr: true, AddrMin: netip.MustParseAddr("203.0.113.2"), AddrMax: netip.MustParseAddr("203.0.113.3"),
			HasPorts: true, PortMin: 20000, PortMax: 29999, Persistent: true,
			Chain: "postrouting", Num: 1, Pos: config.Pos{File: "t.toml", Line: 2, Col: 1},
		}},
		{"udp: the address only", udp("192.168.1.20", 5353, "198.51.100.1", 53), &rules.NAT{
			Kind: rules.SNAT, HasAddr: true, AddrMin: netip.MustParseAddr("203.0.113.2"), AddrMax: netip.MustParseAddr("203.0.113.2"),
			Chain: "postrouting", Num: 2, Pos: config.Pos{File: "t.toml", Line: 9, Col: 1},
		}},
		{"not from the LAN", tcp("10.0.0.1", 40000, "198.51.100.1", 443, header.TCPFlagSYN), nil},
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

// TestFirstPacket: through the nat-table stage, only a connection's first
// packet gets the spec; conntrack carries the binding for the rest.
func TestFirstPacket(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.New("stage.rules.nat")
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Config: cfg, Clock: pipeline.NewVirtual(time.Unix(0, 0))}
	if err := m.(pipeline.Provisioner).Provision(&pipeline.Context{Env: env, Hook: packet.Postrouting}); err != nil {
		t.Fatal(err)
	}
	st := m.(pipeline.Stage)
	for _, tc := range []struct {
		state packet.CTState
		spec  bool
	}{{packet.CTNew, true}, {packet.CTNone, true}, {packet.CTEstablished, false}, {packet.CTRelated, false}} {
		pkt := udp("192.168.1.20", 5353, "198.51.100.1", 53)
		pkt.CTState = tc.state
		if v := st.Process(pkt); v != pipeline.Continue {
			t.Errorf("state %s: stage verdict %v, want continue", tc.state, v)
		}
		if (pkt.NAT != nil) != tc.spec {
			t.Errorf("state %s: NAT spec %v, want one: %v", tc.state, pkt.NAT, tc.spec)
		}
	}
}

// TestNoAllocs: choosing the spec allocates nothing.
func TestNoAllocs(t *testing.T) {
	rs, err := compile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableNAT, packet.Postrouting)
	pkt := tcp("192.168.1.20", 40000, "198.51.100.1", 443, header.TCPFlagSYN)
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
	c := rs.Builtin(rules.TableNAT, packet.Postrouting)
	pkt := udp("192.168.1.20", 5353, "198.51.100.1", 53)
	b.ReportAllocs()
	for b.Loop() {
		rs.Eval(c, pkt, nil)
	}
}
