package icmperr

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// inject collects what the generator injects.
type inject struct {
	pool *packet.Pool
	got  []*packet.Packet
}

func (f *inject) NewPacket() *packet.Packet { return f.pool.Get() }
func (f *inject) Inject(p *packet.Packet)   { f.got = append(f.got, p) }

func testConfig() *config.Config {
	c := config.Default()
	c.Interfaces = []config.Interface{
		{Index: 0, Name: "lan", Addr: netip.MustParsePrefix("192.168.1.1/24"), MTU: 1500},
		{Index: 1, Name: "wan", Addr: netip.MustParsePrefix("203.0.113.2/24"), MTU: 1400},
	}
	c.ICMP = config.ICMP{RatePerSec: 2, RateBurst: 3}
	return c
}

func newGen(t testing.TB) (*Generator, *pipeline.Virtual, *inject) {
	t.Helper()
	clk := pipeline.NewVirtual(time.Unix(1000, 0))
	pool := packet.NewPool()
	return New(testConfig(), clk, pool), clk, &inject{pool: pool}
}

// udpPacket builds a parsed UDP datagram from src to dst that arrived on
// interface inIf.
func udpPacket(t testing.TB, src, dst string, inIf int16, mutate func(ip *layers.IPv4)) *packet.Packet {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 7, Protocol: layers.IPProtocolUDP, Id: 99,
		SrcIP: netip.MustParseAddr(src).AsSlice(), DstIP: netip.MustParseAddr(dst).AsSlice()}
	if mutate != nil {
		mutate(ip)
	}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 33434}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(make([]byte, 40))); err != nil {
		t.Fatal(err)
	}
	p := packet.New(buf.Bytes())
	if p.Parsed.Decode(p.Data) == 0 {
		t.Fatalf("bad test packet: %v", p.Parsed.Reason)
	}
	p.InIf = inIf
	return p
}

func icmpOf(t *testing.T, p *packet.Packet) (*layers.IPv4, *layers.ICMPv4) {
	t.Helper()
	g := gopacket.NewPacket(p.Data, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := g.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || ic == nil {
		t.Fatalf("not ICMP: %x", p.Data)
	}
	if !header.ICMPv4(p.Data[20:]).IsChecksumValid() || header.Checksum(p.Data[:20], 0) != 0xffff {
		t.Fatal("bad checksum")
	}
	return ip, ic
}

func TestRejectKinds(t *testing.T) {
	tests := []struct {
		kind      packet.RejectKind
		typ, code uint8
	}{
		{packet.RejectNone, 3, 3},
		{packet.RejectPortUnreach, 3, 3},
		{packet.RejectNetUnreach, 3, 0},
		{packet.RejectHostUnreach, 3, 1},
		{packet.RejectProtoUnreach, 3, 2},
		{packet.RejectAdminProhibited, 3, 13},
		{packet.RejectNetProhibited, 3, 9},   // iptables icmp-net-prohibited
		{packet.RejectHostProhibited, 3, 10}, // iptables icmp-host-prohibited
		{packet.RejectTTLExceeded, 11, 0},
		{packet.RejectReassemblyTimeout, 11, 1},
		{packet.RejectTCPReset, 3, 3}, // not TCP: the default answer
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			g, _, inj := newGen(t)
			p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, nil)
			p.RejectWith = tc.kind
			g.Reject(p, inj)
			if len(inj.got) != 1 {
				t.Fatalf("%d answers", len(inj.got))
			}
			ip, ic := icmpOf(t, inj.got[0])
			if ic.TypeCode.Type() != tc.typ || ic.TypeCode.Code() != tc.code {
				t.Fatalf("type/code %v", ic.TypeCode)
			}
			if ip.SrcIP.String() != "192.168.1.1" || ip.DstIP.String() != "192.168.1.50" {
				t.Fatalf("%v -> %v", ip.SrcIP, ip.DstIP)
			}
			if string(ic.Payload) != string(p.Data) {
				t.Fatal("quote is not the whole (short) datagram")
			}
			if inj.got[0].InIf != 0 {
				t.Fatal("answer does not name the interface it concerns")
			}
		})
	}
}

func TestSourceAddress(t *testing.T) {
	g, _, inj := newGen(t)
	p := udpPacket(t, "198.51.100.9", "192.168.1.50", 1, nil)
	g.Reject(p, inj)
	p2 := udpPacket(t, "198.51.100.9", "192.168.1.50", packet.NoIf, nil)
	g.Reject(p2, inj)
	if len(inj.got) != 2 {
		t.Fatalf("%d answers", len(inj.got))
	}
	if ip, _ := icmpOf(t, inj.got[0]); ip.SrcIP.String() != "203.0.113.2" {
		t.Fatalf("from the wan side: source %v", ip.SrcIP)
	}
	if ip, _ := icmpOf(t, inj.got[1]); ip.SrcIP.String() != "192.168.1.50" {
		t.Fatalf("no interface: source %v, want the original destination", ip.SrcIP)
	}
}

func TestNeverSend(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		mutate   func(*layers.IPv4)
		pkt      func(*packet.Packet)
		want     Rule
	}{
		{"to limited broadcast", "192.168.1.50", "255.255.255.255", nil, nil, RuleDstBroadcast},
		{"to directed broadcast", "192.168.1.50", "192.168.1.255", nil, nil, RuleDstBroadcast},
		{"to multicast", "192.168.1.50", "224.0.0.251", nil, nil, RuleDstMulticast},
		{"link-layer broadcast", "192.168.1.50", "192.168.1.1", nil, func(p *packet.Packet) { p.LinkBroadcast = true }, RuleLinkBroadcast},
		{"non-first fragment", "192.168.1.50", "198.51.100.9", func(ip *layers.IPv4) { ip.FragOffset = 4 }, nil, RuleNonFirstFrag},
		{"source 0.0.0.0", "0.0.0.0", "198.51.100.9", nil, nil, RuleBadSource},
		{"source in 0/8", "0.1.2.3", "198.51.100.9", nil, nil, RuleBadSource},
		{"loopback source", "127.0.0.1", "198.51.100.9", nil, nil, RuleBadSource},
		{"broadcast source", "255.255.255.255", "198.51.100.9", nil, nil, RuleBadSource},
		{"subnet broadcast source", "192.168.1.255", "198.51.100.9", nil, nil, RuleBadSource},
		{"multicast source", "239.1.2.3", "198.51.100.9", nil, nil, RuleBadSource},
		{"class E source", "240.0.0.1", "198.51.100.9", nil, nil, RuleBadSource},
		{"a packet fwd made", "192.168.1.50", "198.51.100.9", nil, func(p *packet.Packet) { p.Local = true }, RuleLocal},
		{"first fragment is answered", "192.168.1.50", "198.51.100.9", func(ip *layers.IPv4) { ip.Flags = layers.IPv4MoreFragments }, nil, RuleNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _, inj := newGen(t)
			p := udpPacket(t, tc.src, tc.dst, 0, tc.mutate)
			if tc.pkt != nil {
				tc.pkt(p)
			}
			g.Reject(p, inj)
			if tc.want == RuleNone {
				if len(inj.got) != 1 {
					t.Fatalf("not answered")
				}
				return
			}
			if len(inj.got) != 0 || g.Suppressed[tc.want].Load() != 1 {
				t.Fatalf("answered %d, suppressed %v", len(inj.got), g.Suppressed[tc.want].Load())
			}
		})
	}
	t.Run("about an ICMP error", func(t *testing.T) {
		g, _, inj := newGen(t)
		orig := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, nil)
		g.Reject(orig, inj)
		errPkt := inj.got[0]
		errPkt.Parsed.Decode(errPkt.Data)
		errPkt.Local = false
		errPkt.InIf = 0
		g.Reject(errPkt, inj)
		if len(inj.got) != 1 || g.Suppressed[RuleICMPError].Load() != 1 {
			t.Fatal("answered an ICMP error")
		}
	})
	t.Run("about an echo request", func(t *testing.T) {
		g, _, inj := newGen(t)
		b := make([]byte, 28)
		header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: 28, TTL: 1, Protocol: 1,
			Src: [4]byte{192, 168, 1, 50}, Dst: [4]byte{198, 51, 100, 9}})
		header.ICMPv4(b[20:]).Encode(header.ICMPEcho, 0, 0x10001)
		p := packet.New(b)
		p.Parsed.Decode(p.Data)
		p.InIf = 0
		p.RejectWith = packet.RejectTTLExceeded
		g.Reject(p, inj)
		if len(inj.got) != 1 {
			t.Fatal("a query must be answered")
		}
	})
}

func TestRateLimit(t *testing.T) {
	g, clk, inj := newGen(t) // 2 a second, bursts of 3
	send := func(src string) int {
		before := len(inj.got)
		g.Reject(udpPacket(t, src, "198.51.100.9", 0, nil), inj)
		return len(inj.got) - before
	}
	sent := 0
	for i := 0; i < 10; i++ {
		sent += send("192.168.1.50")
	}
	if sent != 3 || g.RateLimited.Load() != 7 {
		t.Fatalf("burst: sent %d, limited %d", sent, g.RateLimited.Load())
	}
	if send("192.168.1.51") != 1 {
		t.Fatal("another destination has its own bucket")
	}
	clk.Advance(499 * time.Millisecond)
	if send("192.168.1.50") != 0 {
		t.Fatal("a token before 500ms")
	}
	clk.Advance(time.Millisecond)
	if send("192.168.1.50") != 1 || send("192.168.1.50") != 0 {
		t.Fatal("one token per 500ms")
	}
	clk.Advance(time.Hour)
	sent = 0
	for i := 0; i < 10; i++ {
		sent += send("192.168.1.50")
	}
	if sent != 3 {
		t.Fatalf("refill caps at the burst: %d", sent)
	}
	if g.Drops()[packet.DropICMPRateLimit] != g.RateLimited.Load() {
		t.Fatal("drop counter")
	}
	// Frag-needed is never limited.
	for i := 0; i < 10; i++ {
		p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, nil)
		p.RejectWith = packet.RejectFragNeeded
		p.OutIf = 1
		n := len(inj.got)
		g.Reject(p, inj)
		if len(inj.got) != n+1 {
			t.Fatal("frag-needed rate limited")
		}
	}
}

func TestLimiterBounded(t *testing.T) {
	l := NewLimiter(1, 1, 64, 1)
	for i := 0; i < 100000; i++ {
		l.Allow([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, int64(i))
	}
	if len(l.slots) != 64 {
		t.Fatal("table grew")
	}
	if NewLimiter(0, 5, 0, 0) != nil || !(*Limiter)(nil).Allow([4]byte{1}, 0) {
		t.Fatal("rate 0 must be unlimited")
	}
}

func TestFragNeededCarriesMTU(t *testing.T) {
	g, _, inj := newGen(t)
	p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, func(ip *layers.IPv4) { ip.Flags = layers.IPv4DontFragment })
	p.OutIf = 1
	p.RejectWith = packet.RejectFragNeeded
	g.Reject(p, inj)
	_, ic := icmpOf(t, inj.got[0])
	if ic.TypeCode.Type() != 3 || ic.TypeCode.Code() != 4 || header.ICMPv4(inj.got[0].Data[20:]).MTU() != 1400 {
		t.Fatalf("%v mtu %d", ic.TypeCode, header.ICMPv4(inj.got[0].Data[20:]).MTU())
	}
}

func TestTCPReset(t *testing.T) {
	g, _, inj := newGen(t)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: netip.MustParseAddr("192.168.1.50").AsSlice(), DstIP: netip.MustParseAddr("198.51.100.9").AsSlice()}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 25, SYN: true, Seq: 100}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp)
	p := packet.New(buf.Bytes())
	p.Parsed.Decode(p.Data)
	p.InIf = 0
	p.RejectWith = packet.RejectTCPReset
	for i := 0; i < 10; i++ {
		g.Reject(p, inj)
	}
	if len(inj.got) != 10 {
		t.Fatalf("%d resets (resets are not rate limited)", len(inj.got))
	}
	gp := gopacket.NewPacket(inj.got[0].Data, layers.LayerTypeIPv4, gopacket.Default)
	rst := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !rst.RST || !rst.ACK || rst.Ack != 101 || rst.SrcPort != 25 || rst.DstPort != 40000 {
		t.Fatalf("reset %+v", rst)
	}
}

func TestTTLStage(t *testing.T) {
	env := &pipeline.Env{Config: testConfig(), Clock: pipeline.NewVirtual(time.Unix(1, 0)), Pool: packet.NewPool()}
	st := new(TTL)
	if err := st.Provision(&pipeline.Context{Env: env, Hook: packet.Forward}); err != nil {
		t.Fatal(err)
	}
	if env.Rejecter == nil || FromEnv(env) == nil {
		t.Fatal("the ttl stage did not install the rejecter")
	}
	for _, ttl := range []uint8{0, 1} {
		p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, func(ip *layers.IPv4) { ip.TTL = ttl })
		if v := st.Process(p); v != pipeline.Reject || p.Drop != packet.DropTTLExpired || p.RejectWith != packet.RejectTTLExceeded {
			t.Fatalf("ttl %d: %v %v %v", ttl, v, p.Drop, p.RejectWith)
		}
		inj := &inject{pool: env.Pool}
		env.Rejecter(p, inj)
		if _, ic := icmpOf(t, inj.got[0]); ic.TypeCode.Type() != 11 || ic.TypeCode.Code() != 0 {
			t.Fatalf("answer %v", ic.TypeCode)
		}
	}
	p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, func(ip *layers.IPv4) { ip.TTL = 2 })
	if v := st.Process(p); v != pipeline.Continue || p.IP().TTL() != 1 || p.Parsed.TTL != 1 {
		t.Fatalf("%v ttl %d", v, p.IP().TTL())
	}
	if header.Checksum(p.Data[:20], 0) != 0xffff {
		t.Fatal("checksum not updated")
	}
	if a := testing.AllocsPerRun(100, func() {
		p.Data[8] = 64
		p.IP().UpdateChecksum()
		st.Process(p)
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func TestRejectNoAllocs(t *testing.T) {
	g, _, inj := newGen(t)
	g.st.Load().limiter = nil // no rate limit (before any worker runs)
	p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, nil)
	inj.got = make([]*packet.Packet, 0, 1000)
	a := testing.AllocsPerRun(100, func() {
		g.Reject(p, inj)
		for _, q := range inj.got {
			inj.pool.Put(q)
		}
		inj.got = inj.got[:0]
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func TestReloadAndNFQueue(t *testing.T) {
	env := &pipeline.Env{Config: testConfig(), Clock: pipeline.NewVirtual(time.Unix(1, 0)), Pool: packet.NewPool()}
	g := Install(env)
	c := testConfig()
	c.Interfaces[0].Addr = netip.MustParsePrefix("10.9.9.1/24")
	commit, err := g.PrepareReload(c)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	inj := &inject{pool: env.Pool}
	g.Reject(udpPacket(t, "10.9.9.50", "198.51.100.9", 0, nil), inj)
	if ip, _ := icmpOf(t, inj.got[0]); ip.SrcIP.String() != "10.9.9.1" {
		t.Fatalf("after reload the source is %v", ip.SrcIP)
	}

	c.Dataplane.Mode = "nfqueue"
	env2 := &pipeline.Env{Config: c, Clock: env.Clock, Pool: env.Pool}
	st := new(TTL)
	st.Provision(&pipeline.Context{Env: env2, Hook: packet.Forward})
	p := udpPacket(t, "10.9.9.50", "198.51.100.9", 0, func(ip *layers.IPv4) { ip.TTL = 1 })
	if st.Process(p) != pipeline.Continue || p.IP().TTL() != 1 {
		t.Fatal("nfqueue mode: the kernel owns TTL")
	}
}

func BenchmarkReject(b *testing.B) {
	g, _, inj := newGen(b)
	g.st.Load().limiter = nil // no rate limit (before any worker runs)
	p := udpPacket(b, "192.168.1.50", "198.51.100.9", 0, nil)
	inj.got = make([]*packet.Packet, 0, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		g.Reject(p, inj)
		inj.pool.Put(inj.got[0])
		inj.got = inj.got[:0]
	}
}

func BenchmarkTTL(b *testing.B) {
	p := udpPacket(b, "192.168.1.50", "198.51.100.9", 0, nil)
	env := &pipeline.Env{Config: testConfig(), Clock: pipeline.NewVirtual(time.Unix(1, 0)), Pool: packet.NewPool()}
	st := new(TTL)
	if err := st.Provision(&pipeline.Context{Env: env, Hook: packet.Forward}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Data[8] = 64
		st.Process(p)
	}
}

func TestTTLStageFragNeeded(t *testing.T) {
	env := &pipeline.Env{Config: testConfig(), Clock: pipeline.NewVirtual(time.Unix(1, 0)), Pool: packet.NewPool()}
	st := new(TTL)
	st.Provision(&pipeline.Context{Env: env, Hook: packet.Forward})
	tests := []struct {
		name    string
		df      bool
		outIf   int16
		maxFrag uint16
		want    pipeline.Verdict
	}{
		{"DF, too big for the wan's 1400", true, 1, 0, pipeline.Reject},
		{"DF, fits the lan's 1500", true, 0, 0, pipeline.Continue},
		{"no DF: refragmented at the egress", false, 1, 0, pipeline.Continue},
		{"reassembled, fragments fit", true, 1, 600, pipeline.Continue},
		{"reassembled, a fragment too big", true, 0, 1501, pipeline.Reject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := udpPacket(t, "192.168.1.50", "198.51.100.9", 0, func(ip *layers.IPv4) {
				if tc.df {
					ip.Flags = layers.IPv4DontFragment
				}
			})
			// Grow it to 1460 bytes.
			big := make([]byte, 1460)
			copy(big, p.Data)
			header.IPv4(big).SetTotalLength(1460)
			p.Load(big)
			p.Parsed.Decode(p.Data)
			p.OutIf, p.MaxFrag, p.InIf = tc.outIf, tc.maxFrag, 0
			v := st.Process(p)
			if v != tc.want {
				t.Fatalf("verdict %v", v)
			}
			if v == pipeline.Continue {
				if p.IP().TTL() != 6 {
					t.Fatal("not decremented")
				}
				return
			}
			if p.Drop != packet.DropMTU || p.RejectWith != packet.RejectFragNeeded || p.IP().TTL() != 7 {
				t.Fatalf("%v %v ttl %d", p.Drop, p.RejectWith, p.IP().TTL())
			}
			inj := &inject{pool: env.Pool}
			env.Rejecter(p, inj)
			ic := header.ICMPv4(inj.got[0].Data[20:])
			if ic.Type() != 3 || ic.Code() != 4 || int(ic.MTU()) != []int{1500, 1400}[tc.outIf] {
				t.Fatalf("answer %d/%d mtu %d", ic.Type(), ic.Code(), ic.MTU())
			}
			if header.IPv4(ic.Payload()).SourceAddress() != [4]byte{192, 168, 1, 50} {
				t.Fatal("the quote is not the datagram as its sender wrote it")
			}
		})
	}
}
