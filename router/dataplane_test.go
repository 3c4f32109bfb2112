package router

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	_ "fwd/decode"
	"fwd/header"
	"fwd/netio/fake"
	"fwd/packet"
	"fwd/pipeline"
)

const dpConfig = `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"
mtu = 1500

[[route]]
to = "0.0.0.0/0"
via = "203.0.113.1"
dev = "wan0"
`

var (
	hostMAC     = net.HardwareAddr{2, 0, 0, 0, 0, 0x10}
	upstreamMAC = net.HardwareAddr{2, 0, 0, 0, 0, 0xfe}
)

type dpHarness struct {
	lan, wan *fake.Device
	d        *Dataplane
	cancel   context.CancelFunc
	done     chan error
}

func startDataplane(t *testing.T) *dpHarness {
	t.Helper()
	cfg, err := config.Parse("dp.toml", []byte(dpConfig))
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Config: cfg, Clock: pipeline.WallClock{}, Pool: packet.NewPool(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	order := []pipeline.Slot{
		{Hook: packet.Prerouting, ID: "stage.parse"},
		{Hook: packet.Prerouting, ID: "stage.route"},
		{Hook: packet.Input, ID: "stage.local"},
		{Hook: packet.Output, ID: "stage.route"},
	}
	pl, err := pipeline.Build(env, order)
	if err != nil {
		t.Fatal(err)
	}
	h := &dpHarness{lan: fake.New(), wan: fake.New(), done: make(chan error, 1)}
	h.d = NewDataplane(env, pl, []FrameDevice{h.lan, h.wan})
	h.d.TickEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.lan.Close()
		h.wan.Close()
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Skip the gratuitous announcements.
	for _, dev := range []*fake.Device{h.lan, h.wan} {
		if f := dev.Get(time.Second); f == nil || layers.EthernetType(f[12])<<8|layers.EthernetType(f[13]) != layers.EthernetTypeARP {
			t.Fatalf("no gratuitous ARP at start: %x", f)
		}
	}
	return h
}

func frame(t *testing.T, src, dst net.HardwareAddr, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	if _, ok := ls[0].(*layers.ARP); ok {
		eth.EthernetType = layers.EthernetTypeARP
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func dpARPFrame(t *testing.T, op uint16, sha net.HardwareAddr, spa, tpa net.IP, dst net.HardwareAddr, tha net.HardwareAddr) []byte {
	return frame(t, sha, dst, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: sha, SourceProtAddress: spa.To4(), DstHwAddress: tha, DstProtAddress: tpa.To4()})
}

func udpFrame(t *testing.T, src, dst net.IP, size int, df bool) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.To4(), DstIP: dst.To4(), Id: 77}
	if df {
		ip.Flags = layers.IPv4DontFragment
	}
	u := &layers.UDP{SrcPort: 4000, DstPort: 5000}
	u.SetNetworkLayerForChecksum(ip)
	return frame(t, hostMAC, macOf("lan0"), ip, u, gopacket.Payload(bytes.Repeat([]byte{0xab}, size)))
}

func decode(f []byte) gopacket.Packet {
	return gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
}

func TestDataplaneARPAndForwarding(t *testing.T) {
	h := startDataplane(t)
	lanMAC := macOf("lan0")
	wanMAC := macOf("wan0")
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// The LAN host asks for its gateway and gets fwd's lan0 MAC.
	h.lan.Put(dpARPFrame(t, layers.ARPRequest, hostMAC, net.IPv4(192, 168, 1, 10), net.IPv4(192, 168, 1, 1), bcast, net.HardwareAddr{0, 0, 0, 0, 0, 0}))
	f := h.lan.Get(time.Second)
	a, _ := decode(f).Layer(layers.LayerTypeARP).(*layers.ARP)
	if a == nil || a.Operation != layers.ARPReply || !bytes.Equal(a.SourceHwAddress, lanMAC) {
		t.Fatalf("ARP reply: %v", decode(f))
	}

	// A datagram to the internet waits for the upstream's MAC ...
	h.lan.Put(udpFrame(t, net.IPv4(192, 168, 1, 10), net.IPv4(198, 51, 100, 20), 100, true))
	f = h.wan.Get(time.Second)
	a, _ = decode(f).Layer(layers.LayerTypeARP).(*layers.ARP)
	if a == nil || a.Operation != layers.ARPRequest || !net.IP(a.DstProtAddress).Equal(net.IPv4(203, 0, 113, 1)) {
		t.Fatalf("want an ARP request for the next hop, got %v", decode(f))
	}
	// ... and leaves as soon as the upstream answers.
	h.wan.Put(dpARPFrame(t, layers.ARPReply, upstreamMAC, net.IPv4(203, 0, 113, 1), net.IPv4(203, 0, 113, 2), wanMAC, wanMAC))
	f = h.wan.Get(time.Second)
	p := decode(f)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if eth == nil || ip == nil || !bytes.Equal(eth.DstMAC, upstreamMAC) || !bytes.Equal(eth.SrcMAC, wanMAC) || ip.Protocol != layers.IPProtocolUDP {
		t.Fatalf("forwarded frame: %v", p)
	}

	// A 3000-byte datagram without DF leaves in MTU-sized fragments.
	h.lan.Put(udpFrame(t, net.IPv4(192, 168, 1, 10), net.IPv4(198, 51, 100, 20), 3000, false))
	var total int
	for i := 0; i < 3; i++ {
		f = h.wan.Get(time.Second)
		if f == nil {
			t.Fatalf("fragment %d missing", i)
		}
		ip, _ := decode(f).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || len(f)-14 > 1500 || ip.Id != 77 {
			t.Fatalf("fragment %d: %v", i, decode(f))
		}
		total += int(ip.Length) - 20
		if (i < 2) != (ip.Flags&layers.IPv4MoreFragments != 0) {
			t.Fatalf("fragment %d MF wrong", i)
		}
	}
	if total != 3008 {
		t.Fatalf("fragments carry %d bytes, want 3008", total)
	}

	// Pinging the gateway gets an echo reply back to the host's MAC.
	ping := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(192, 168, 1, 10).To4(), DstIP: net.IPv4(192, 168, 1, 1).To4()}
	h.lan.Put(frame(t, hostMAC, lanMAC, ping, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 9, Seq: 1}, gopacket.Payload("ping")))
	// The host's entry was learned from its request (STALE), so fwd uses
	// it and confirms it with a unicast probe first.
	f = h.lan.Get(time.Second)
	if a, _ := decode(f).Layer(layers.LayerTypeARP).(*layers.ARP); a != nil {
		f = h.lan.Get(time.Second)
	}
	p = decode(f)
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	eth, _ = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if ic == nil || ic.TypeCode.Type() != 0 || ic.Id != 9 || !bytes.Equal(eth.DstMAC, hostMAC) {
		t.Fatalf("echo reply: %v", p)
	}

	st := h.d.Pipeline.Stats()
	if st.IfIn[0] < 3 || st.IfOut[1] < 2 {
		t.Fatalf("counters: in %v out %v", st.IfIn, st.IfOut)
	}
}

// Frames that are neither ARP nor IPv4 are counted, not forwarded.
func TestDataplaneCountsOtherEtherTypes(t *testing.T) {
	h := startDataplane(t)
	f := make([]byte, 60)
	copy(f[6:], hostMAC)
	f[12], f[13] = 0x86, 0xdd // IPv6
	h.lan.Put(f)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if h.d.Pipeline.Stats().Drops[packet.DropNotIPv4] == 1 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("drop.not-ipv4 did not count the IPv6 frame")
}

var _ = header.EtherTypeIPv4

func macOf(name string) net.HardwareAddr {
	m := DeriveMAC(name)
	return net.HardwareAddr(m[:])
}
