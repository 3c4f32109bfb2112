package router

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	"fwd/header"
	"fwd/netio/fake"
	"fwd/netio/tap"
	"fwd/packet"
	"fwd/pipeline"
)

// gsoFake is a fake.Device with a virtio header slot: frames are Put and
// recorded as header (tap.VirtioNetHdrLen bytes) then frame, as a TAP
// with IFF_VNET_HDR reads and writes them.
type gsoFake struct {
	*fake.Device
	types uint8
	pass  uint8
}

func (g *gsoFake) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := g.Device.Read(bufs, sizes, offset-tap.VirtioNetHdrLen)
	for i := 0; i < n; i++ {
		sizes[i] -= tap.VirtioNetHdrLen
	}
	return n, err
}

func (g *gsoFake) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		clear(b[offset-tap.VirtioNetHdrLen : offset])
	}
	return g.Device.Write(bufs, offset-tap.VirtioNetHdrLen)
}

func (g *gsoFake) WriteVnet(bufs [][]byte, offset int) (int, error) {
	return g.Device.Write(bufs, offset-tap.VirtioNetHdrLen)
}

func (g *gsoFake) GSOTypes() uint8 { return g.types }

func (g *gsoFake) SegmentGSO(frame, hdr []byte, bufs [][]byte, sizes []int, offset int) (int, error) {
	var h tap.VirtioNetHdr
	h.Decode(hdr)
	return tap.Segment(frame, h, bufs, sizes, offset)
}

func (g *gsoFake) SetPassGSO(mask uint8) uint8 {
	g.pass = mask & g.types
	return g.pass
}

// udpSuper builds a USO super-frame from the LAN host to the server as the
// kernel hands it over: virtio header, then the frame with the UDP length
// of the whole and the pseudo-header sum in the checksum field.
func udpSuper(t *testing.T, payload, seg int) []byte {
	f := udpFrame(t, net.IPv4(192, 168, 1, 10), net.IPv4(198, 51, 100, 20), payload, true)
	ip := header.IPv4(f[14:])
	binary.BigEndian.PutUint16(f[34+6:], header.PseudoHeaderChecksum(header.ProtoUDP, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(f)-34)))
	h := tap.VirtioNetHdr{Flags: tap.VirtioNetHdrFNeedsCsum, GSOType: tap.VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: uint16(seg), CsumStart: 34, CsumOffset: 6}
	out := make([]byte, tap.VirtioNetHdrLen, tap.VirtioNetHdrLen+len(f))
	h.Encode(out)
	return append(out, f...)
}

func startGSODataplane(t *testing.T, wanTypes uint8) (lan, wan *gsoFake, d *Dataplane) {
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
	lan = &gsoFake{Device: fake.New(), types: tap.PassTCP | tap.PassUDP}
	wan = &gsoFake{Device: fake.New(), types: wanTypes}
	d = NewDataplane(env, pl, []FrameDevice{lan, wan})
	d.TickEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		lan.Close()
		wan.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for _, dev := range []*gsoFake{lan, wan} {
		if f := dev.Get(time.Second); len(f) < 24 || f[22] != 0x08 || f[23] != 0x06 {
			t.Fatalf("no gratuitous ARP at start: %x", f)
		}
	}
	// The upstream router's MAC, so forwarded frames leave at once.
	wanMAC := macOf("wan0")
	arp := dpARPFrame(t, layers.ARPReply, upstreamMAC, net.IPv4(203, 0, 113, 1), net.IPv4(203, 0, 113, 2), wanMAC, wanMAC)
	wan.Put(append(make([]byte, tap.VirtioNetHdrLen), arp...))
	deadline := time.Now().Add(time.Second)
	for {
		if _, ok := d.ARP.Resolve(1, [4]byte{203, 0, 113, 1}, time.Now().UnixNano()); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("upstream MAC not learned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return lan, wan, d
}

// getIP returns the next frame (virtio header first) the device wrote
// that is not ARP, or nil.
func (g *gsoFake) getIP(t *testing.T) []byte {
	for {
		f := g.Get(time.Second)
		if f == nil || len(f) < 24 || f[22] != 0x08 || f[23] != 0x06 {
			return f
		}
	}
}

// checkUDP asserts that frame (no virtio header) is a UDP datagram from
// the LAN host to the server with a right checksum and payload bytes.
func checkUDP(t *testing.T, frame []byte, payload int) {
	t.Helper()
	ip := header.IPv4(frame[14:])
	if int(ip.TotalLength()) != len(frame)-14 || ip.TotalLength() != uint16(20+8+payload) {
		t.Fatalf("datagram of %d bytes, want %d of payload", ip.TotalLength(), payload)
	}
	if header.Checksum(frame[14:34], 0) != 0xffff {
		t.Fatal("bad IP header checksum")
	}
	ph := header.PseudoHeaderChecksum(header.ProtoUDP, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(frame)-34))
	if header.Checksum(frame[34:], ph) != 0xffff {
		t.Fatal("bad UDP checksum")
	}
	if !bytes.Equal(frame[42:], bytes.Repeat([]byte{0xab}, payload)) {
		t.Fatal("payload changed")
	}
}

func TestDataplaneGSO(t *testing.T) {
	const payload, seg = 10000, 1400
	t.Run("passed whole", func(t *testing.T) {
		lan, wan, d := startGSODataplane(t, tap.PassTCP|tap.PassUDP)
		if lan.pass != tap.PassTCP|tap.PassUDP {
			t.Fatalf("lan passes %b, want TCP and UDP", lan.pass)
		}
		lan.Put(udpSuper(t, payload, seg))
		out := wan.getIP(t)
		if out == nil {
			t.Fatal("nothing forwarded")
		}
		var h tap.VirtioNetHdr
		h.Decode(out)
		want := tap.VirtioNetHdr{Flags: tap.VirtioNetHdrFNeedsCsum, GSOType: tap.VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: seg, CsumStart: 34, CsumOffset: 6}
		if h != want {
			t.Fatalf("virtio header %+v, want %+v", h, want)
		}
		frame := out[tap.VirtioNetHdrLen:]
		if !bytes.Equal(frame[0:6], upstreamMAC) || len(frame) != 14+20+8+payload {
			t.Fatalf("frame to %x of %d bytes", frame[0:6], len(frame))
		}
		// What the kernel will make of it: datagrams of seg bytes, each
		// with a right checksum.
		bufs := make([][]byte, 8)
		for i := range bufs {
			bufs[i] = make([]byte, 2000)
		}
		sizes := make([]int, 8)
		n, err := tap.Segment(frame, h, bufs, sizes, 0)
		if err != nil || n != 8 {
			t.Fatalf("Segment: %d, %v", n, err)
		}
		for i := 0; i < n; i++ {
			checkUDP(t, bufs[i][:sizes[i]], min(seg, payload-i*seg))
		}
		if got := d.Pipeline.Stats().IfOut[1]; got != 1 {
			t.Fatalf("if.wan0.out %d, want 1 (one datagram through the pipeline)", got)
		}
	})
	t.Run("tcp with the ECN bit keeps it", func(t *testing.T) {
		lan, wan, _ := startGSODataplane(t, tap.PassTCP|tap.PassUDP)
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(192, 168, 1, 10).To4(), DstIP: net.IPv4(198, 51, 100, 20).To4(), Flags: layers.IPv4DontFragment}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 1, ACK: true, CWR: true, Window: 1000}
		tcp.SetNetworkLayerForChecksum(ip)
		f := frame(t, hostMAC, macOf("lan0"), ip, tcp, gopacket.Payload(bytes.Repeat([]byte{0xab}, 4000)))
		h := tap.VirtioNetHdr{Flags: tap.VirtioNetHdrFNeedsCsum, GSOType: tap.VirtioNetHdrGSOTCPv4 | tap.VirtioNetHdrGSOECN, HdrLen: 54, GSOSize: 1000, CsumStart: 34, CsumOffset: 16}
		in := make([]byte, tap.VirtioNetHdrLen, tap.VirtioNetHdrLen+len(f))
		h.Encode(in)
		lan.Put(append(in, f...))
		out := wan.getIP(t)
		if out == nil {
			t.Fatal("nothing forwarded")
		}
		var got tap.VirtioNetHdr
		got.Decode(out)
		if got != h {
			t.Fatalf("virtio header %+v, want %+v", got, h)
		}
	})
	t.Run("cut when the egress takes no USO", func(t *testing.T) {
		lan, wan, _ := startGSODataplane(t, tap.PassTCP)
		if lan.pass != tap.PassTCP {
			t.Fatalf("lan passes %b, want TCP only (no device takes UDP whole)", lan.pass)
		}
		// Read would cut it; a device passing it anyway is cut on egress.
		lan.pass = tap.PassUDP
		lan.Put(udpSuper(t, payload, seg))
		for i := 0; i < 8; i++ {
			out := wan.getIP(t)
			if out == nil {
				t.Fatalf("datagram %d missing", i)
			}
			if !bytes.Equal(out[:tap.VirtioNetHdrLen], make([]byte, tap.VirtioNetHdrLen)) {
				t.Fatalf("datagram %d has virtio header %x", i, out[:tap.VirtioNetHdrLen])
			}
			checkUDP(t, out[tap.VirtioNetHdrLen:], min(seg, payload-i*seg))
		}
	})
}

// The TAP device is what the dataplane passes super-frames with.
var _ GSODevice = (*tap.Device)(nil)

// FuzzGSOHeaders: any virtio header and datagram bytes give markGSO and
// gsoHeaders an answer, never a panic, and headers gsoHeaders accepts lie
// inside the datagram.
func FuzzGSOHeaders(f *testing.F) {
	h := make([]byte, tap.VirtioNetHdrLen)
	(&tap.VirtioNetHdr{GSOType: tap.VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: 1400}).Encode(h)
	dg := make([]byte, 28+3000)
	dg[0], dg[9] = 0x45, header.ProtoUDP
	f.Add(h, dg)
	(&tap.VirtioNetHdr{GSOType: tap.VirtioNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448}).Encode(h)
	tcp := make([]byte, 52+3000)
	tcp[0], tcp[9], tcp[32] = 0x45, header.ProtoTCP, 8<<4
	f.Add(h, tcp)
	pool := packet.NewPool()
	f.Fuzz(func(t *testing.T, hdr, dg []byte) {
		if len(hdr) < tap.VirtioNetHdrLen || len(dg) > packet.MaxSize {
			return
		}
		p := pool.Get()
		defer pool.Put(p)
		p.Reset()
		p.Load(dg)
		markGSO(p, hdr)
		if p.Meta&metaGSO == 0 {
			return
		}
		if int(p.MaxFrag) > len(p.Data) {
			t.Fatalf("MaxFrag %d past the datagram (%d)", p.MaxFrag, len(p.Data))
		}
		ihl, l4 := gsoHeaders(p.Data, uint8(p.Meta>>metaTypeShift))
		if ihl+l4 > len(p.Data) {
			t.Fatalf("headers %d+%d past the datagram (%d)", ihl, l4, len(p.Data))
		}
	})
}

// A multi-queue TAP gets a worker per queue.
var _ MultiQueueDevice = (*tap.Device)(nil)
