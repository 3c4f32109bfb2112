package header_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/header"
)

// btSerialize builds a datagram with gopacket (lengths and checksums
// computed).
func btSerialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func btIP(proto layers.IPProtocol, src, dst string) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 9, TOS: 0x2b, Id: 0x1234, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// btDecode decodes b with gopacket and fails on any decoding error; it
// checks the IP header checksum independently.
func btDecode(t *testing.T, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if header.Checksum(b[:ip.IHL*4], 0) != 0xffff {
		t.Fatalf("bad IP header checksum")
	}
	if int(ip.Length) != len(b) {
		t.Fatalf("IP length %d, datagram %d", ip.Length, len(b))
	}
	return p
}

func TestBuildICMPError(t *testing.T) {
	src := [4]byte{192, 0, 2, 1}
	smallIP := btIP(layers.IPProtocolUDP, "198.51.100.7", "203.0.113.9")
	smallUDP := &layers.UDP{SrcPort: 5000, DstPort: 53}
	smallUDP.SetNetworkLayerForChecksum(smallIP)
	small := btSerialize(t, smallIP, smallUDP, gopacket.Payload(bytes.Repeat([]byte{'x'}, 30)))
	bigIP := btIP(layers.IPProtocolUDP, "198.51.100.7", "203.0.113.9")
	bigIP.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
	bigUDP := &layers.UDP{SrcPort: 5000, DstPort: 53}
	bigUDP.SetNetworkLayerForChecksum(bigIP)
	big := btSerialize(t, bigIP, bigUDP, gopacket.Payload(bytes.Repeat([]byte{'y'}, 1400)))
	tests := []struct {
		name      string
		orig      []byte
		typ, code uint8
		rest      uint32
		wantQuote int
	}{
		{"whole small datagram quoted", small, header.ICMPDestUnreach, header.ICMPPortUnreach, 0, len(small)},
		{"large datagram cut to 576", big, header.ICMPTimeExceeded, header.ICMPTTLExceeded, 0, 576 - 28},
		{"frag needed carries mtu", big, header.ICMPDestUnreach, header.ICMPFragNeeded, 1280, 576 - 28},
		{"header only", small[:20], header.ICMPDestUnreach, header.ICMPNetUnreach, 0, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 1500)
			n := header.BuildICMPError(dst, src, tc.typ, tc.code, tc.rest, header.IPv4(tc.orig))
			if n != 28+tc.wantQuote {
				t.Fatalf("length %d, want %d", n, 28+tc.wantQuote)
			}
			p := btDecode(t, dst[:n])
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if ip.TTL != 64 || ip.Protocol != layers.IPProtocolICMPv4 || !ip.SrcIP.Equal(net.IP(src[:])) ||
				!ip.DstIP.Equal(net.ParseIP("198.51.100.7")) || ip.TOS != 0xc0|0x2b&0x1e {
				t.Fatalf("ip header %+v", ip)
			}
			ic := header.ICMPv4(dst[20:n])
			if !ic.IsChecksumValid() {
				t.Fatal("bad ICMP checksum")
			}
			if ic.Type() != tc.typ || ic.Code() != tc.code {
				t.Fatalf("type/code %d/%d", ic.Type(), ic.Code())
			}
			if tc.code == header.ICMPFragNeeded && ic.MTU() != uint16(tc.rest) {
				t.Fatalf("mtu %d", ic.MTU())
			}
			if !bytes.Equal(ic[8:], tc.orig[:tc.wantQuote]) {
				t.Fatal("quote differs from the original")
			}
		})
	}
	if n := header.BuildICMPError(make([]byte, 48), src, 3, 3, 0, header.IPv4(small)); n != 48 {
		t.Fatalf("short dst: %d", n)
	}
	if n := header.BuildICMPError(make([]byte, 40), src, 3, 3, 0, header.IPv4(small[:10])); n != 0 {
		t.Fatalf("truncated orig accepted: %d", n)
	}
	if n := header.BuildICMPError(make([]byte, 47), src, 3, 3, 0, header.IPv4(small)); n != 0 {
		t.Fatalf("dst without room for the header accepted: %d", n)
	}
}

func TestBuildEchoReply(t *testing.T) {
	req := btSerialize(t, btIP(layers.IPProtocolICMPv4, "198.51.100.7", "192.0.2.1"),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 0x881c, Seq: 3},
		gopacket.Payload("abcdefghijklmnopq"))
	dst := make([]byte, 1500)
	n := header.BuildEchoReply(dst, header.IPv4(req))
	if n != len(req) {
		t.Fatalf("length %d want %d", n, len(req))
	}
	p := btDecode(t, dst[:n])
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ip.SrcIP.Equal(net.ParseIP("192.0.2.1")) || !ip.DstIP.Equal(net.ParseIP("198.51.100.7")) {
		t.Fatalf("addresses %v -> %v", ip.SrcIP, ip.DstIP)
	}
	if ic.TypeCode.Type() != 0 || ic.Id != 0x881c || ic.Seq != 3 || string(ic.Payload) != "abcdefghijklmnopq" {
		t.Fatalf("icmp %+v", ic)
	}
	if !header.ICMPv4(dst[20:n]).IsChecksumValid() {
		t.Fatal("bad checksum")
	}
	notEcho := append([]byte(nil), req...)
	notEcho[20] = 13
	if header.BuildEchoReply(dst, header.IPv4(notEcho)) != 0 {
		t.Fatal("answered a non-echo")
	}
	if header.BuildEchoReply(dst[:30], header.IPv4(req)) != 0 {
		t.Fatal("wrote past a short dst")
	}
}

func TestBuildTCPReset(t *testing.T) {
	seg := func(flags string, seq, ack uint32, payload int) []byte {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Window: 100}
		for _, f := range flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			case 'P':
				tcp.PSH = true
			}
		}
		ip := btIP(layers.IPProtocolTCP, "198.51.100.7", "203.0.113.9")
		tcp.SetNetworkLayerForChecksum(ip)
		return btSerialize(t, ip, tcp, gopacket.Payload(bytes.Repeat([]byte{'d'}, payload)))
	}
	tests := []struct {
		name             string
		in               []byte
		wantSeq, wantAck uint32
		wantACK          bool
	}{
		{"syn", seg("S", 1000, 0, 0), 0, 1001, true},
		{"syn with data", seg("S", 1000, 0, 10), 0, 1011, true},
		{"fin without ack", seg("F", 5000, 0, 3), 0, 5004, true},
		{"syn fin", seg("SF", 7, 0, 0), 0, 9, true},
		{"bare data", seg("P", 0xfffffff0, 0, 32), 0, 0x10, true},
		{"ack takes seg.ack", seg("A", 1000, 777, 0), 777, 0, false},
		{"psh ack with data", seg("PA", 1000, 99999, 100), 99999, 0, false},
		{"fin ack", seg("FA", 1000, 5, 0), 5, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 64)
			n := header.BuildTCPReset(dst, header.IPv4(tc.in))
			if n != 40 {
				t.Fatalf("length %d", n)
			}
			p := btDecode(t, dst[:n])
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ip.SrcIP.Equal(net.ParseIP("203.0.113.9")) || !ip.DstIP.Equal(net.ParseIP("198.51.100.7")) {
				t.Fatalf("addresses %v -> %v", ip.SrcIP, ip.DstIP)
			}
			if tcp.SrcPort != 80 || tcp.DstPort != 40000 || !tcp.RST || tcp.SYN || tcp.FIN || tcp.PSH {
				t.Fatalf("tcp %+v", tcp)
			}
			if tcp.Seq != tc.wantSeq || tcp.ACK != tc.wantACK || (tc.wantACK && tcp.Ack != tc.wantAck) {
				t.Fatalf("seq %d ack %v/%d, want %d %v/%d", tcp.Seq, tcp.ACK, tcp.Ack, tc.wantSeq, tc.wantACK, tc.wantAck)
			}
			if !header.TCP(dst[20:40]).IsChecksumValid([4]byte{203, 0, 113, 9}, [4]byte{198, 51, 100, 7}) {
				t.Fatal("bad TCP checksum")
			}
		})
	}
	if header.BuildTCPReset(make([]byte, 64), header.IPv4(seg("RA", 1, 2, 0))) != 0 {
		t.Fatal("answered a reset")
	}
	if header.BuildTCPReset(make([]byte, 39), header.IPv4(seg("S", 1, 0, 0))) != 0 {
		t.Fatal("wrote into a short dst")
	}
	short := seg("S", 1, 0, 0)[:30]
	if header.BuildTCPReset(make([]byte, 64), header.IPv4(short)) != 0 {
		t.Fatal("answered a truncated segment")
	}
}

func TestBuildNoAllocs(t *testing.T) {
	req := btSerialize(t, btIP(layers.IPProtocolICMPv4, "198.51.100.7", "192.0.2.1"),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload("ping"))
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}
	ip := btIP(layers.IPProtocolTCP, "198.51.100.7", "203.0.113.9")
	tcp.SetNetworkLayerForChecksum(ip)
	syn := btSerialize(t, ip, tcp)
	dst := make([]byte, 1500)
	a := testing.AllocsPerRun(100, func() {
		header.BuildICMPError(dst, [4]byte{1, 2, 3, 4}, 3, 3, 0, header.IPv4(req))
		header.BuildEchoReply(dst, header.IPv4(req))
		header.BuildTCPReset(dst, header.IPv4(syn))
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

// FuzzBuild feeds arbitrary bytes as the original datagram to every
// builder: no panic, nothing written past dst, and whatever is built is a
// valid datagram with good checksums that gopacket decodes.
func FuzzBuild(f *testing.F) {
	f.Add([]byte("\x45\x00\x00\x1c\x00\x01\x00\x00\x40\x01\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02\x08\x00\xf7\xff\x00\x00\x00\x00"), 100)
	f.Add([]byte("\x45\x00\x00\x28\x00\x01\x40\x00\x40\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02\x00\x50\x01\xbb\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\x20\x00\x00\x00\x00\x00"), 40)
	f.Add([]byte("\x46\x00\x00\x10"), 600)
	f.Fuzz(func(t *testing.T, orig []byte, room int) {
		if room < 0 || room > 2000 {
			return
		}
		if len(orig) >= 20 {
			// Give the header a good checksum half the time, so the
			// validating builders get past it.
			if orig[len(orig)-1]&1 == 0 && int(orig[0]&0xf)*4 <= len(orig) && orig[0]&0xf >= 5 {
				header.IPv4(orig).UpdateChecksum()
			}
		}
		dst := make([]byte, room+16)
		for i := range dst {
			dst[i] = 0xee
		}
		check := func(name string, n int) {
			if n == 0 {
				return
			}
			if n > room {
				t.Fatalf("%s: %d bytes into %d", name, n, room)
			}
			for _, c := range dst[room:] {
				if c != 0xee {
					t.Fatalf("%s wrote past dst", name)
				}
			}
			ip := header.IPv4(dst[:n])
			if ip.Validate() != header.ReasonNone || int(ip.TotalLength()) != n {
				t.Fatalf("%s: invalid datagram", name)
			}
			if ip.Protocol() == header.ProtoICMP && !header.ICMPv4(ip.Payload()).IsChecksumValid() {
				t.Fatalf("%s: bad ICMP checksum", name)
			}
			if ip.Protocol() == header.ProtoTCP && !header.TCP(ip.Payload()).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress()) {
				t.Fatalf("%s: bad TCP checksum", name)
			}
			if p := gopacket.NewPacket(dst[:n], layers.LayerTypeIPv4, gopacket.Default); p.Layer(layers.LayerTypeIPv4) == nil {
				t.Fatalf("%s: gopacket cannot decode", name)
			}
		}
		check("icmp error", header.BuildICMPError(dst[:room], [4]byte{1, 2, 3, 4}, 3, 1, 0, header.IPv4(orig)))
		check("echo reply", header.BuildEchoReply(dst[:room], header.IPv4(orig)))
		check("tcp reset", header.BuildTCPReset(dst[:room], header.IPv4(orig)))
	})
}
