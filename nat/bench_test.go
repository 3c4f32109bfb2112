package nat_test

import (
	"testing"

	"fwd/conntrack"
	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
)

// established sets up one SNATed connection per protocol and returns, for
// each, a packet of it as it reaches the nat stage at hook (conntrack has
// run: pkt.CT, CTReply and CTStatus are set) and its original bytes.
type estCase struct {
	name string
	hook packet.Hook
	pkt  *packet.Packet
	orig []byte
}

func establish(tb testing.TB) (*lab, []estCase) {
	l := newLab(tb, masqConfig, nil)
	// hostB holds the ports first so hostA's are translated (address and
	// port both change).
	takePort(l, true, 40000)
	takePort(l, false, 5000)
	l.forward(lan0, echo(hostB, remote, header.ICMPEcho, 9, 1), wan0)

	extT, _ := fields(l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1000, 0, ""), wan0))
	l.forward(wan0, tcpPkt(at(remote, 80), extT, fSYN|fACK, 5000, 1001, ""), lan0)
	l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fACK, 1001, 5001, ""), wan0)
	extU, _ := fields(l.forward(lan0, udpPkt(at(hostA, 5000), at(remote, 53), "q"), wan0))
	extI, _ := fields(l.forward(lan0, echo(hostA, remote, header.ICMPEcho, 9, 1), wan0))

	mk := func(name string, hook packet.Hook, b []byte) estCase {
		pkt := packet.New(b)
		if pkt.Parsed.Decode(pkt.Data) == 0 {
			tb.Fatalf("%s: bad packet", name)
		}
		pkt.Hook = hook
		l.ct.Track(pkt)
		if _, ok := pkt.CT.(*conntrack.Conn); !ok || pkt.CTStatus&packet.CTStatusSNAT == 0 {
			tb.Fatalf("%s: not an SNATed connection's packet (state %s)", name, pkt.CTState)
		}
		return estCase{name, hook, pkt, append([]byte(nil), b...)}
	}
	return l, []estCase{
		mk("tcp/reply/prerouting", packet.Prerouting, tcpPkt(at(remote, 80), extT, fACK, 5001, 1001, "0123456789")),
		mk("tcp/original/postrouting", packet.Postrouting, tcpPkt(at(hostA, 40000), at(remote, 80), fACK, 1001, 5001, "0123456789")),
		mk("udp/reply/prerouting", packet.Prerouting, udpPkt(at(remote, 53), extU, "answer")),
		mk("icmp/reply/prerouting", packet.Prerouting, echo(remote, router, header.ICMPEchoReply, extI.port, 1)),
	}
}

func stageAt(tb testing.TB, l *lab, hook packet.Hook) *nat.Stage {
	s := &nat.Stage{}
	if err := s.Provision(&pipeline.Context{Env: l.env, Hook: hook}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// reset puts the packet back as it arrived (bytes and summary).
func (c *estCase) reset() {
	copy(c.pkt.Data, c.orig)
	c.pkt.Parsed.Decode(c.pkt.Data)
}

func TestTranslateNoAllocs(t *testing.T) {
	l, cases := establish(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := stageAt(t, l, c.hook)
			c.reset()
			if v := s.Process(c.pkt); v != pipeline.Continue {
				t.Fatalf("verdict %s", v)
			}
			if string(c.pkt.Data) == string(c.orig) {
				t.Fatalf("packet not translated")
			}
			checkSums(t, c.pkt.Data)
			n := testing.AllocsPerRun(1000, func() {
				copy(c.pkt.Data, c.orig)
				s.Process(c.pkt)
			})
			if n != 0 {
				t.Errorf("%v allocations per packet", n)
			}
		})
	}
}

// BenchmarkTranslateEstablished is the per-packet cost of the nat stage on
// a packet of an established, translated connection: the address and the
// port (or identifier) rewritten with incremental checksums. Each
// iteration restores the packet's bytes (a 40-70 byte copy) so every
// iteration really rewrites.
func BenchmarkTranslateEstablished(b *testing.B) {
	l, cases := establish(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := stageAt(b, l, c.hook)
			c.reset()
			p := &c.pkt.Parsed
			src, dst, sp, dp, id := p.Src, p.Dst, p.SrcPort, p.DstPort, p.ICMPID
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(c.pkt.Data, c.orig)
				p.Src, p.Dst, p.SrcPort, p.DstPort, p.ICMPID = src, dst, sp, dp, id
				s.Process(c.pkt)
			}
		})
	}
}

// BenchmarkTranslateUntranslated is the cost for a connection NAT does not
// touch (one status test).
func BenchmarkTranslateUntranslated(b *testing.B) {
	l := newLab(b, baseConfig, nil)
	l.forward(lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1000, 0, ""), wan0)
	l.forward(wan0, tcpPkt(at(remote, 80), at(hostA, 40000), fSYN|fACK, 5000, 1001, ""), lan0)
	pkt := packet.New(tcpPkt(at(hostA, 40000), at(remote, 80), fACK, 1001, 5001, ""))
	pkt.Parsed.Decode(pkt.Data)
	l.ct.Track(pkt)
	if pkt.CTState != packet.CTEstablished {
		b.Fatalf("state %s", pkt.CTState)
	}
	s := stageAt(b, l, packet.Prerouting)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Process(pkt)
	}
}
