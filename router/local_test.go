package router

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func localConfig() *config.Config {
	cfg := config.Default()
	cfg.Interfaces = []config.Interface{
		{Index: 0, Name: "lan0", Addr: netip.MustParsePrefix("192.168.1.1/24"), MTU: 1500},
		{Index: 1, Name: "wan0", Addr: netip.MustParsePrefix("203.0.113.2/24"), MTU: 1500},
	}
	cfg.Routes = []config.Route{
		{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("203.0.113.1"), Dev: "wan0"},
	}
	return cfg
}

// ipDatagram serializes IPv4 + the given layers with gopacket.
func ipDatagram(t testing.TB, src, dst string, ipOpts bool, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 57, Id: 4242, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	if ipOpts {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	}
	switch l := ls[0].(type) {
	case *layers.ICMPv4:
		ip.Protocol = layers.IPProtocolICMPv4
	case *layers.TCP:
		ip.Protocol = layers.IPProtocolTCP
		l.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		ip.Protocol = layers.IPProtocolUDP
		l.SetNetworkLayerForChecksum(ip)
	}
	buf := gopacket.NewSerializeBuffer()
	all := append([]gopacket.SerializableLayer{ip}, ls...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func echoRequest(t testing.TB, src, dst string, ipOpts bool) []byte {
	return ipDatagram(t, src, dst, ipOpts,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x1234, Seq: 7},
		gopacket.Payload("abcdefghijklmnopqrstuvwxyz0123456789"))
}

func newLocal(t testing.TB) *LocalStage {
	s := new(LocalStage)
	if err := s.Provision(&pipeline.Context{Env: &pipeline.Env{Config: localConfig()}, Hook: packet.Input}); err != nil {
		t.Fatal(err)
	}
	return s
}

func parsed(t testing.TB, d []byte, inIf int16) *packet.Packet {
	t.Helper()
	p := packet.New(d)
	if p.Parsed.Decode(p.Data) == 0 {
		t.Fatalf("test datagram does not parse: %v", p.Parsed.Reason)
	}
	p.InIf = inIf
	p.Hook = packet.Input
	return p
}

func TestLocalStage(t *testing.T) {
	badEcho := echoRequest(t, "192.168.1.10", "192.168.1.1", false)
	badEcho[len(badEcho)-1] ^= 0xff
	tests := []struct {
		name     string
		datagram []byte
		want     pipeline.Verdict
		drop     packet.DropReason
		reject   packet.RejectKind
	}{
		{name: "echo request", datagram: echoRequest(t, "192.168.1.10", "192.168.1.1", false), want: pipeline.Accept},
		{name: "echo request with ip options", datagram: echoRequest(t, "192.168.1.10", "192.168.1.1", true), want: pipeline.Accept},
		{name: "echo request to the other address", datagram: echoRequest(t, "192.168.1.10", "203.0.113.2", false), want: pipeline.Accept},
		{name: "echo with bad checksum", datagram: badEcho, want: pipeline.Drop, drop: packet.DropBadL4Checksum},
		{name: "echo to broadcast", datagram: echoRequest(t, "192.168.1.10", "192.168.1.255", false), want: pipeline.Drop, drop: packet.DropLocal},
		{name: "echo from broadcast source", datagram: echoRequest(t, "255.255.255.255", "192.168.1.1", false), want: pipeline.Drop, drop: packet.DropLocal},
		{name: "echo reply", datagram: ipDatagram(t, "192.168.1.10", "192.168.1.1", false,
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0)}), want: pipeline.Drop, drop: packet.DropLocal},
		{name: "tcp syn", datagram: ipDatagram(t, "192.168.1.10", "192.168.1.1", false, &layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true, Window: 100}),
			want: pipeline.Reject, drop: packet.DropLocal, reject: packet.RejectTCPReset},
		{name: "tcp rst", datagram: ipDatagram(t, "192.168.1.10", "192.168.1.1", false, &layers.TCP{SrcPort: 40000, DstPort: 22, RST: true}),
			want: pipeline.Drop, drop: packet.DropLocal},
		{name: "udp", datagram: ipDatagram(t, "192.168.1.10", "192.168.1.1", false, &layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("q")),
			want: pipeline.Reject, drop: packet.DropLocal, reject: packet.RejectPortUnreach},
		{name: "udp broadcast", datagram: ipDatagram(t, "192.168.1.10", "255.255.255.255", false, &layers.UDP{SrcPort: 68, DstPort: 67}, gopacket.Payload("d")),
			want: pipeline.Drop, drop: packet.DropLocal},
		{name: "other protocol", datagram: func() []byte {
			d := ipDatagram(t, "192.168.1.10", "192.168.1.1", false, &layers.UDP{SrcPort: 1, DstPort: 2})
			d[9] = 47 // GRE
			header.IPv4(d).UpdateChecksum()
			return d
		}(), want: pipeline.Drop, drop: packet.DropLocal},
	}
	s := newLocal(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parsed(t, tt.datagram, 0)
			v := s.Process(p)
			if v != tt.want || p.Drop != tt.drop || p.RejectWith != tt.reject {
				t.Fatalf("verdict %v drop %v reject %v; want %v %v %v", v, p.Drop, p.RejectWith, tt.want, tt.drop, tt.reject)
			}
			if v != pipeline.Accept {
				return
			}
			checkEchoReply(t, tt.datagram, p)
		})
	}
}

// checkEchoReply verifies p holds the reply to the echo request req.
func checkEchoReply(t testing.TB, req []byte, p *packet.Packet) {
	t.Helper()
	if p.Hook != packet.Output || !p.Local || p.OutIf != packet.NoIf || p.InIf != 0 || p.CT != nil {
		t.Fatalf("reply metadata: hook %v local %v outIf %d inIf %d", p.Hook, p.Local, p.OutIf, p.InIf)
	}
	rq := gopacket.NewPacket(req, layers.LayerTypeIPv4, gopacket.Default)
	rp := gopacket.NewPacket(p.Data, layers.LayerTypeIPv4, gopacket.Default)
	qip := rq.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ip, ok := rp.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, ok2 := rp.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || !ok2 {
		t.Fatalf("reply does not decode: %v", rp.ErrorLayer())
	}
	qic := rq.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ip.SrcIP.Equal(qip.DstIP) || !ip.DstIP.Equal(qip.SrcIP) || ip.TTL != header.BuildTTL || len(ip.Options) != 0 {
		t.Fatalf("reply IP %v -> %v ttl %d opts %v", ip.SrcIP, ip.DstIP, ip.TTL, ip.Options)
	}
	if ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ic.Id != qic.Id || ic.Seq != qic.Seq || string(ic.Payload) != string(qic.Payload) {
		t.Fatalf("reply ICMP %v id %d seq %d payload %q", ic.TypeCode, ic.Id, ic.Seq, ic.Payload)
	}
	if header.Checksum(p.Data[:20], 0) != 0xffff || !header.ICMPv4(p.Data[20:]).IsChecksumValid() {
		t.Fatal("reply checksums do not verify")
	}
	if p.Parsed.Proto != packet.ICMP || p.Parsed.ICMPType != header.ICMPEchoReply || p.Parsed.Src != [4]byte(qip.DstIP.To4()) {
		t.Fatalf("Parsed not updated: %+v", p.Parsed)
	}
}

// captureOut records what a runner delivers and discards.
type captureOut struct {
	delivered []*packet.Packet
	discarded []*packet.Packet
}

func (c *captureOut) Deliver(p *packet.Packet) { c.delivered = append(c.delivered, p) }
func (c *captureOut) Discard(p *packet.Packet, _ pipeline.Verdict) {
	c.discarded = append(c.discarded, p)
}

// TestLocalEchoThroughRunner runs an echo request through the real runner
// with the route and local stages: the reply leaves by OUTPUT, routed back
// out of the LAN to the pinger, or via the gateway for a far pinger.
func TestLocalEchoThroughRunner(t *testing.T) {
	env := &pipeline.Env{Config: localConfig(), Clock: pipeline.NewVirtual(time.Unix(1e9, 0)), Pool: packet.NewPool()}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Cleanup()
	tests := []struct {
		name     string
		src, dst string
		inIf     int16
		outIf    int16
		nextHop  [4]byte
	}{
		{name: "from the LAN", src: "192.168.1.10", dst: "192.168.1.1", inIf: 0, outIf: 0, nextHop: [4]byte{192, 168, 1, 10}},
		{name: "from the internet", src: "198.51.100.20", dst: "203.0.113.2", inIf: 1, outIf: 1, nextHop: [4]byte{203, 0, 113, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &captureOut{}
			r := pl.NewRunner(out)
			req := echoRequest(t, tt.src, tt.dst, false)
			p := packet.New(req)
			p.InIf = tt.inIf
			// The parse stage may not be linked into this test binary.
			p.Parsed.Decode(p.Data)
			r.Run([]*packet.Packet{p})
			if len(out.delivered) != 1 {
				t.Fatalf("delivered %d, discarded %d (drop %v)", len(out.delivered), len(out.discarded), p.Drop)
			}
			d := out.delivered[0]
			if d.OutIf != tt.outIf || d.NextHop != tt.nextHop {
				t.Fatalf("reply out of %d via %v, want %d via %v", d.OutIf, d.NextHop, tt.outIf, tt.nextHop)
			}
			checkEchoReplyData(t, req, d)
		})
	}
}

func checkEchoReplyData(t testing.TB, req []byte, p *packet.Packet) {
	t.Helper()
	rp := gopacket.NewPacket(p.Data, layers.LayerTypeIPv4, gopacket.Default)
	ic, ok := rp.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply {
		t.Fatalf("delivered packet is not an echo reply: %x", p.Data)
	}
	if header.IPv4(p.Data).SourceAddress() != header.IPv4(req).DestinationAddress() {
		t.Fatal("reply not from the pinged address")
	}
}

func TestLocalEchoNoAllocs(t *testing.T) {
	s := newLocal(t)
	req := echoRequest(t, "192.168.1.10", "192.168.1.1", false)
	p := packet.New(req)
	if a := testing.AllocsPerRun(200, func() {
		p.Load(req)
		p.Parsed.Decode(p.Data)
		p.Hook = packet.Input
		if s.Process(p) != pipeline.Accept {
			t.Fatal("not answered")
		}
	}); a != 0 {
		t.Fatalf("echo reply allocates %v", a)
	}
}

func BenchmarkLocalEcho(b *testing.B) {
	s := newLocal(b)
	req := echoRequest(b, "192.168.1.10", "192.168.1.1", false)
	p := packet.New(req)
	b.ReportAllocs()
	for b.Loop() {
		p.Load(req)
		p.Parsed.Decode(p.Data)
		s.Process(p)
	}
}
