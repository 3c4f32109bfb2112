package tap

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"fwd/header"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	testSrcIP  = net.IP{192, 168, 1, 10}
	testDstIP  = net.IP{198, 51, 100, 20}
)

func payloadBytes(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

type tcpSpec struct {
	id          uint16
	seq         uint32
	flags       uint8 // FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128
	opts        bool  // add NOP NOP timestamps
	payload     []byte
	ipOptionNOP bool
}

// buildTCP serializes Ethernet/IPv4/TCP with correct lengths and checksums.
func buildTCP(t testing.TB, s tcpSpec) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testSrcMAC, DstMAC: testDstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: s.id, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: testSrcIP, DstIP: testDstIP}
	if s.ipOptionNOP {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: s.seq, Ack: 12345, Window: 502,
		FIN: s.flags&1 != 0, SYN: s.flags&2 != 0, RST: s.flags&4 != 0, PSH: s.flags&8 != 0,
		ACK: s.flags&16 != 0, URG: s.flags&32 != 0, ECE: s.flags&64 != 0, CWR: s.flags&128 != 0}
	if s.opts {
		tcp.Options = []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 0, 0, 0, 2, 0}},
		}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func buildUDP(t testing.TB, id uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testSrcMAC, DstMAC: testDstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: testSrcIP, DstIP: testDstIP}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 5201}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// partial turns a frame with a full transport checksum into what the
// kernel hands a NEEDS_CSUM device: the checksum field holds the folded
// pseudo-header sum (Linux's ~tcp_v4_check(len, saddr, daddr, 0)).
func partial(frame []byte, l4Off, csumOff int, proto uint8) {
	ip := header.IPv4(frame[14:])
	l4Len := len(frame) - l4Off
	ph := header.PseudoHeaderChecksum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(l4Len))
	binary.BigEndian.PutUint16(frame[l4Off+csumOff:], ph)
}

func makeBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestSegmentTCPv4MatchesGopacket(t *testing.T) {
	tests := []struct {
		name     string
		mss      int
		payload  int
		flags    uint8
		opts     bool
		ipOpts   bool
		inPlace  bool
		wantSegs int
	}{
		{name: "exact multiple", mss: 1000, payload: 4000, flags: 0x18, wantSegs: 4},
		{name: "remainder", mss: 1448, payload: 10000, flags: 0x18, opts: true, wantSegs: 7},
		{name: "fin psh cwr only where they belong", mss: 500, payload: 1201, flags: 0x80 | 0x18 | 0x01, wantSegs: 3},
		{name: "one segment", mss: 1448, payload: 100, flags: 0x18, wantSegs: 1},
		{name: "no payload", mss: 1448, payload: 0, flags: 0x10, wantSegs: 1},
		{name: "ip options", mss: 700, payload: 2000, flags: 0x10, ipOpts: true, wantSegs: 3},
		{name: "in place", mss: 1448, payload: 64000, flags: 0x18, opts: true, inPlace: true, wantSegs: 45},
		{name: "tiny mss", mss: 1, payload: 5, flags: 0x18, wantSegs: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := payloadBytes(tt.payload)
			const id, seq = 0xfff0, 0xfffff000 // both wrap
			super := buildTCP(t, tcpSpec{id: id, seq: seq, flags: tt.flags, opts: tt.opts, payload: pl, ipOptionNOP: tt.ipOpts})
			ihl := int(super[14]&0xf) * 4
			l4 := 14 + ihl
			partial(super, l4, 16, header.ProtoTCP)
			h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOTCPv4,
				GSOSize: uint16(tt.mss), CsumStart: uint16(l4), CsumOffset: 16}
			const off = 16
			bufs, sizes := makeBufs(64, off+70000)
			frame := super
			if tt.inPlace {
				copy(bufs[0][off:], super)
				frame = bufs[0][off : off+len(super)]
			}
			n, err := Segment(frame, h, bufs, sizes, off)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantSegs {
				t.Fatalf("segments = %d, want %d", n, tt.wantSegs)
			}
			if c, _ := SegmentCount(super, h); c != n {
				t.Errorf("SegmentCount = %d, want %d", c, n)
			}
			var got []byte
			for k := 0; k < n; k++ {
				start := min(k*tt.mss, len(pl))
				end := min(start+tt.mss, len(pl))
				fl := tt.flags
				if k != n-1 {
					fl &^= 0x09
				}
				if k != 0 {
					fl &^= 0x80
				}
				want := buildTCP(t, tcpSpec{id: id + uint16(k), seq: seq + uint32(k*tt.mss), flags: fl, opts: tt.opts,
					payload: pl[start:end], ipOptionNOP: tt.ipOpts})
				want = want[:14+int(binary.BigEndian.Uint16(want[16:]))] // no link padding
				seg := bufs[k][off : off+sizes[k]]
				if !bytes.Equal(seg, want) {
					t.Fatalf("segment %d differs from gopacket's\n got %x\nwant %x", k, seg[:min(80, len(seg))], want[:min(80, len(want))])
				}
				p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
				tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if !ok {
					t.Fatalf("segment %d: no TCP layer: %v", k, p.ErrorLayer())
				}
				got = append(got, tl.Payload...)
			}
			if !bytes.Equal(got, pl) {
				t.Fatalf("reassembled payload differs (%d vs %d bytes)", len(got), len(pl))
			}
		})
	}
}

func TestSegmentUDPL4(t *testing.T) {
	pl := payloadBytes(3000)
	super := buildUDP(t, 7, pl)
	partial(super, 34, 6, header.ProtoUDP)
	h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOUDPL4, GSOSize: 1400, CsumStart: 34, CsumOffset: 6}
	bufs, sizes := makeBufs(8, 2000)
	n, err := Segment(super, h, bufs, sizes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("segments = %d, want 3", n)
	}
	for k := 0; k < n; k++ {
		want := buildUDP(t, 7+uint16(k), pl[k*1400:min((k+1)*1400, len(pl))])
		if got := bufs[k][:sizes[k]]; !bytes.Equal(got, want) {
			t.Errorf("datagram %d differs from gopacket's\n got %x\nwant %x", k, got[:42], want[:42])
		}
	}
}

func TestSegmentErrors(t *testing.T) {
	good := buildTCP(t, tcpSpec{seq: 1, flags: 0x18, payload: payloadBytes(3000)})
	h := VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1000, CsumStart: 34, CsumOffset: 16}
	udp := buildUDP(t, 1, payloadBytes(100))
	arp := append([]byte(nil), good...)
	arp[12], arp[13] = 0x08, 0x06
	badDoff := append([]byte(nil), good...)
	badDoff[34+12] = 0xf0 // 60-byte TCP header: past the options there is payload, still valid...
	badDoff = badDoff[:34+40]
	tests := []struct {
		name  string
		frame []byte
		h     VirtioNetHdr
		nbufs int
		size  int
		want  error
	}{
		{name: "ufo unsupported", frame: good, h: VirtioNetHdr{GSOType: VirtioNetHdrGSOUDP, GSOSize: 1000}, nbufs: 8, size: 2000, want: ErrUnsupportedGSO},
		{name: "tcpv6 unsupported", frame: good, h: VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv6, GSOSize: 1000}, nbufs: 8, size: 2000, want: ErrUnsupportedGSO},
		{name: "zero gso size", frame: good, h: VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv4}, nbufs: 8, size: 2000, want: ErrBadGSOFrame},
		{name: "not ipv4", frame: arp, h: h, nbufs: 8, size: 2000, want: ErrBadGSOFrame},
		{name: "protocol mismatch", frame: udp, h: h, nbufs: 8, size: 2000, want: ErrBadGSOFrame},
		{name: "tcp header past end", frame: badDoff, h: h, nbufs: 8, size: 2000, want: ErrBadGSOFrame},
		{name: "truncated", frame: good[:40], h: h, nbufs: 8, size: 2000, want: ErrBadGSOFrame},
		{name: "too few buffers", frame: good, h: h, nbufs: 2, size: 2000, want: ErrTooManySegs},
		{name: "short buffers", frame: good, h: h, nbufs: 8, size: 500, want: ErrShortBuffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bufs, sizes := makeBufs(tt.nbufs, tt.size)
			n, err := Segment(tt.frame, tt.h, bufs, sizes, 0)
			if err != tt.want || n != 0 {
				t.Fatalf("Segment = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

func TestCompleteChecksum(t *testing.T) {
	tcp := buildTCP(t, tcpSpec{seq: 99, flags: 0x18, opts: true, payload: payloadBytes(777)})
	udp := buildUDP(t, 3, payloadBytes(33))
	tests := []struct {
		name    string
		frame   []byte
		l4, off int
		proto   uint8
	}{
		{name: "tcp", frame: tcp, l4: 34, off: 16, proto: header.ProtoTCP},
		{name: "udp", frame: udp, l4: 34, off: 6, proto: header.ProtoUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := append([]byte(nil), tt.frame...)
			partial(f, tt.l4, tt.off, tt.proto)
			if bytes.Equal(f, tt.frame) {
				t.Fatal("partial checksum equals the full one; test is vacuous")
			}
			if err := CompleteChecksum(f, tt.l4, tt.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f, tt.frame) {
				t.Fatalf("checksum %x, want %x", f[tt.l4+tt.off:tt.l4+tt.off+2], tt.frame[tt.l4+tt.off:tt.l4+tt.off+2])
			}
		})
	}
	if err := CompleteChecksum(make([]byte, 40), 34, 6); err != ErrBadCsumOffsets {
		t.Fatalf("out of range offsets: %v", err)
	}
}

// TestSegmentNoAllocs: the read path segments without allocating.
func TestSegmentNoAllocs(t *testing.T) {
	super := buildTCP(t, tcpSpec{seq: 1, flags: 0x18, payload: payloadBytes(20000)})
	h := VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1448}
	bufs, sizes := makeBufs(16, 2000)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := Segment(super, h, bufs, sizes, 0); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("Segment allocates %v times", a)
	}
}

func BenchmarkSegment(b *testing.B) {
	super := buildTCP(b, tcpSpec{seq: 1, flags: 0x18, opts: true, payload: payloadBytes(65000)})
	h := VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1448}
	bufs, sizes := makeBufs(64, 2000)
	b.SetBytes(int64(len(super)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Segment(super, h, bufs, sizes, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSegment feeds arbitrary frames and virtio headers to Segment and
// checks that a frame it accepts comes out as well-formed segments that
// carry its payload exactly once.
func FuzzSegment(f *testing.F) {
	f.Add(buildTCP(f, tcpSpec{seq: 1, flags: 0x19, opts: true, payload: payloadBytes(300)}), uint8(VirtioNetHdrGSOTCPv4), uint16(100))
	f.Add(buildTCP(f, tcpSpec{seq: 1, flags: 0x10, ipOptionNOP: true, payload: payloadBytes(10)}), uint8(VirtioNetHdrGSOTCPv4), uint16(3))
	f.Add(buildUDP(f, 1, payloadBytes(200)), uint8(VirtioNetHdrGSOUDPL4), uint16(60))
	f.Add([]byte{}, uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, frame []byte, gsoType uint8, gsoSize uint16) {
		h := VirtioNetHdr{GSOType: gsoType, GSOSize: gsoSize}
		orig := append([]byte(nil), frame...)
		bufs, sizes := makeBufs(32, 2048)
		n, err := Segment(frame, h, bufs, sizes, 4)
		if !bytes.Equal(orig, frame) {
			t.Fatal("Segment changed its input")
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with %d segments", err, n)
			}
			return
		}
		g, _ := parseGSO(frame, &h)
		var pl []byte
		for k := 0; k < n; k++ {
			seg := bufs[k][4 : 4+sizes[k]]
			if len(seg) < g.hdrLen || len(seg)-g.hdrLen > int(gsoSize) {
				t.Fatalf("segment %d: %d bytes, header %d, mss %d", k, len(seg), g.hdrLen, gsoSize)
			}
			ip := header.IPv4(seg[g.l3:])
			if int(ip.TotalLength()) != len(seg)-g.l3 {
				t.Fatalf("segment %d: total length %d, have %d", k, ip.TotalLength(), len(seg)-g.l3)
			}
			if header.Checksum(seg[g.l3:g.l4], 0) != 0xffff {
				t.Fatalf("segment %d: bad IP checksum", k)
			}
			src, dst := ip.SourceAddress(), ip.DestinationAddress()
			ph := header.PseudoHeaderChecksum(g.proto, src, dst, uint16(len(seg)-g.l4))
			if header.Checksum(seg[g.l4:], ph) != 0xffff {
				t.Fatalf("segment %d: bad transport checksum", k)
			}
			pl = append(pl, seg[g.hdrLen:]...)
		}
		if !bytes.Equal(pl, frame[g.hdrLen:g.end]) {
			t.Fatal("segments do not carry the payload exactly once")
		}
	})
}
