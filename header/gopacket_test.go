package header_test

// Differential tests: random packets built by gopacket are read with our
// views and packet.Parsed.Decode, and packets built with our Encode are read
// back by gopacket. The generator is seeded, so a failure names its seed and
// iteration and reproduces.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/header"
	"fwd/packet"
)

const diffIterations = 3000

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serializeOpts, ls...); err != nil {
		t.Fatalf("gopacket serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func randAddr(r *rand.Rand) net.IP {
	return net.IPv4(byte(r.Intn(256)), byte(r.Intn(256)), byte(r.Intn(256)), byte(r.Intn(256))).To4()
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// randIPv4Options returns well-formed IPv4 options of at most 40 bytes:
// NOPs, record route, timestamp, router alert, security and an
// experimental kind, sometimes closed by End. Source routes (LSRR/SSRR) are
// left out: with them the transport pseudo header uses the final
// destination (RFC 1122 §4.1.3.4), which gopacket does and fwd does not.
func randIPv4Options(r *rand.Rand) []layers.IPv4Option {
	if r.Intn(3) == 0 {
		return nil
	}
	var opts []layers.IPv4Option
	room := 40
	for n := r.Intn(5); n > 0; n-- {
		var o layers.IPv4Option
		switch r.Intn(6) {
		case 0:
			o = layers.IPv4Option{OptionType: 1, OptionLength: 1}
		case 1: // record route, RFC 791: length 3+4k, pointer 4
			k := 1 + r.Intn(4)
			d := make([]byte, 1+4*k)
			d[0] = 4
			o = layers.IPv4Option{OptionType: 7, OptionLength: uint8(2 + len(d)), OptionData: d}
		case 2: // timestamp, RFC 791: pointer 5, flags 0
			k := 1 + r.Intn(4)
			d := make([]byte, 2+4*k)
			d[0] = 5
			o = layers.IPv4Option{OptionType: 68, OptionLength: uint8(2 + len(d)), OptionData: d}
		case 3: // router alert, RFC 2113
			o = layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}
		case 4: // security, RFC 1108
			o = layers.IPv4Option{OptionType: 130, OptionLength: 11, OptionData: randBytes(r, 9)}
		default: // experimental (RFC 4727), random data
			d := randBytes(r, r.Intn(7))
			o = layers.IPv4Option{OptionType: 30 | byte(r.Intn(2))<<7, OptionLength: uint8(2 + len(d)), OptionData: d}
		}
		if int(o.OptionLength) > room {
			break
		}
		room -= int(o.OptionLength)
		opts = append(opts, o)
	}
	if room > 0 && r.Intn(2) == 0 {
		opts = append(opts, layers.IPv4Option{OptionType: 0, OptionLength: 1})
	}
	return opts
}

func randIPv4(r *rand.Rand, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version:  4,
		TOS:      uint8(r.Intn(256)),
		Id:       uint16(r.Intn(65536)),
		Flags:    layers.IPv4Flag(r.Intn(2)) * layers.IPv4DontFragment,
		TTL:      uint8(1 + r.Intn(255)),
		Protocol: proto,
		SrcIP:    randAddr(r),
		DstIP:    randAddr(r),
		Options:  randIPv4Options(r),
	}
}

// wantTCPOpts records what randTCP put in the options, to check
// header.ParseTCPOptions against.
func randTCP(r *rand.Rand) (*layers.TCP, header.TCPOptions) {
	var want header.TCPOptions
	t := &layers.TCP{
		SrcPort: layers.TCPPort(r.Intn(65536)),
		DstPort: layers.TCPPort(r.Intn(65536)),
		Seq:     r.Uint32(),
		Ack:     r.Uint32(),
		Window:  uint16(r.Intn(65536)),
		Urgent:  uint16(r.Intn(65536)),
		FIN:     r.Intn(2) == 0, SYN: r.Intn(2) == 0, RST: r.Intn(2) == 0, PSH: r.Intn(2) == 0,
		ACK: r.Intn(2) == 0, URG: r.Intn(2) == 0, ECE: r.Intn(2) == 0, CWR: r.Intn(2) == 0,
		NS: r.Intn(2) == 0,
	}
	room := 40
	add := func(o layers.TCPOption) bool {
		n := 1
		if o.OptionType > 1 {
			n = 2 + len(o.OptionData)
			o.OptionLength = uint8(n)
		} else {
			o.OptionLength = 1
		}
		if n > room {
			return false
		}
		room -= n
		t.Options = append(t.Options, o)
		return true
	}
	for _, kind := range r.Perm(7) {
		if r.Intn(3) == 0 {
			continue
		}
		switch kind {
		case 0:
			v := uint16(r.Intn(65536))
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, v)}) {
				want.HasMSS, want.MSS = true, v
			}
		case 1:
			v := uint8(r.Intn(15))
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{v}}) {
				want.HasWScale, want.WindowScale = true, v
			}
		case 2:
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}) {
				want.SACKPermitted = true
			}
		case 3:
			n := 1 + r.Intn(4)
			if 2+8*n > room {
				n = (room - 2) / 8
			}
			if n <= 0 {
				continue
			}
			var d []byte
			var blocks [4]header.SACKBlock
			for i := range n {
				blocks[i] = header.SACKBlock{Left: r.Uint32(), Right: r.Uint32()}
				d = binary.BigEndian.AppendUint32(d, blocks[i].Left)
				d = binary.BigEndian.AppendUint32(d, blocks[i].Right)
			}
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: d}) {
				want.NumSACK, want.SACK = uint8(n), blocks
			}
		case 4:
			a, b := r.Uint32(), r.Uint32()
			d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, a), b)
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: d}) {
				want.HasTimestamp, want.TSVal, want.TSEcr = true, a, b
			}
		case 5:
			for n := r.Intn(3); n > 0; n-- {
				add(layers.TCPOption{OptionType: layers.TCPOptionKindNop})
			}
		case 6: // an experimental option (RFC 6994) that the parser must skip
			add(layers.TCPOption{OptionType: 254, OptionData: randBytes(r, r.Intn(6))})
		}
	}
	return t, want
}

func checkIPv4(t *testing.T, b []byte, gp *layers.IPv4) {
	t.Helper()
	ip := header.IPv4(b)
	if r := ip.Validate(); r != header.ReasonNone {
		t.Fatalf("Validate = %v, want none\n% x", r, b)
	}
	if r := header.ValidateOptions(ip.Options()); r != header.ReasonNone {
		t.Fatalf("ValidateOptions = %v, want none\n% x", r, ip.Options())
	}
	eq(t, "HeaderLength", ip.HeaderLength(), int(gp.IHL)*4)
	eq(t, "TOS", ip.TOS(), gp.TOS)
	eq(t, "TotalLength", ip.TotalLength(), gp.Length)
	eq(t, "ID", ip.ID(), gp.Id)
	eq(t, "FlagsFragmentOffset", ip.FlagsFragmentOffset(), uint16(gp.Flags)<<13|gp.FragOffset)
	eq(t, "FragmentOffset", ip.FragmentOffset(), int(gp.FragOffset)*8)
	eq(t, "More", ip.More(), gp.Flags&layers.IPv4MoreFragments != 0)
	eq(t, "DontFragment", ip.DontFragment(), gp.Flags&layers.IPv4DontFragment != 0)
	eq(t, "IsFragment", ip.IsFragment(), gp.Flags&layers.IPv4MoreFragments != 0 || gp.FragOffset != 0)
	eq(t, "TTL", ip.TTL(), gp.TTL)
	eq(t, "Protocol", ip.Protocol(), uint8(gp.Protocol))
	eq(t, "Checksum", ip.Checksum(), gp.Checksum)
	eq(t, "CalculateChecksum", ip.CalculateChecksum(), gp.Checksum)
	eq(t, "SourceAddress", ip4str(ip.SourceAddress()), gp.SrcIP.String())
	eq(t, "DestinationAddress", ip4str(ip.DestinationAddress()), gp.DstIP.String())
	eq(t, "Src", ip.Src().String(), gp.SrcIP.String())
	eq(t, "Dst", ip.Dst().String(), gp.DstIP.String())
	eqBytes(t, "Options", ip.Options(), gp.Contents[header.IPv4MinSize:])
	eqBytes(t, "Payload", ip.Payload(), gp.Payload)
}

func checkTCP(t *testing.T, b []byte, src, dst [4]byte, gp *layers.TCP, want header.TCPOptions) {
	t.Helper()
	tc := header.TCP(b)
	if r := tc.Validate(); r != header.ReasonNone {
		t.Fatalf("TCP Validate = %v", r)
	}
	eq(t, "SourcePort", tc.SourcePort(), uint16(gp.SrcPort))
	eq(t, "DestinationPort", tc.DestinationPort(), uint16(gp.DstPort))
	eq(t, "SequenceNumber", tc.SequenceNumber(), gp.Seq)
	eq(t, "AckNumber", tc.AckNumber(), gp.Ack)
	eq(t, "DataOffset", tc.DataOffset(), int(gp.DataOffset)*4)
	eq(t, "Flags", tc.Flags(), gpTCPFlags(gp))
	eq(t, "ReservedBits&1 (AE/NS)", tc.ReservedBits()&1 != 0, gp.NS)
	eq(t, "WindowSize", tc.WindowSize(), gp.Window)
	eq(t, "Checksum", tc.Checksum(), gp.Checksum)
	eq(t, "UrgentPointer", tc.UrgentPointer(), gp.Urgent)
	eqBytes(t, "Options", tc.Options(), gp.Contents[header.TCPMinSize:])
	eqBytes(t, "Payload", tc.Payload(), gp.Payload)
	eq(t, "IsChecksumValid", tc.IsChecksumValid(src, dst), true)
	eq(t, "CalculateChecksum", tc.CalculateChecksum(src, dst), gp.Checksum)
	var o header.TCPOptions
	header.ParseTCPOptions(tc.Options(), &o)
	eq(t, "TCPOptions", o, want)
	// The same from gopacket's option split.
	eq(t, "TCPOptions(gopacket)", optsFromGopacket(gp.Options), want)
}

func optsFromGopacket(opts []layers.TCPOption) header.TCPOptions {
	var o header.TCPOptions
	for _, op := range opts {
		switch op.OptionType {
		case layers.TCPOptionKindMSS:
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(op.OptionData)
		case layers.TCPOptionKindWindowScale:
			o.HasWScale, o.WindowScale = true, op.OptionData[0]
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			for j := 0; j+8 <= len(op.OptionData) && o.NumSACK < 4; j += 8 {
				o.SACK[o.NumSACK] = header.SACKBlock{Left: binary.BigEndian.Uint32(op.OptionData[j:]), Right: binary.BigEndian.Uint32(op.OptionData[j+4:])}
				o.NumSACK++
			}
		case layers.TCPOptionKindTimestamps:
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(op.OptionData)
			o.TSEcr = binary.BigEndian.Uint32(op.OptionData[4:])
		}
	}
	return o
}

func gpTCPFlags(gp *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{gp.FIN, gp.SYN, gp.RST, gp.PSH, gp.ACK, gp.URG, gp.ECE, gp.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = % x, want % x", what, got, want)
	}
}

func addr4(ip net.IP) [4]byte { return [4]byte(ip.To4()) }

// decodeGopacket decodes b as IPv4 and fails on a decoding error in the
// IP or transport layer (gopacket guesses application layers from ports,
// and random payloads fail those, which is no concern here).
func decodeGopacket(t *testing.T, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		ok := p.Layer(layers.LayerTypeIPv4) != nil && (p.Layer(layers.LayerTypeTCP) != nil ||
			p.Layer(layers.LayerTypeUDP) != nil || p.Layer(layers.LayerTypeICMPv4) != nil)
		if !ok {
			t.Fatalf("gopacket decode: %v\n% x", el.Error(), b)
		}
	}
	return p
}

// checkParsedCommon checks the IP part of a Parsed against gopacket.
func checkParsedCommon(t *testing.T, p *packet.Parsed, n int, gp *layers.IPv4) {
	t.Helper()
	eq(t, "Decode length", n, int(gp.Length))
	eq(t, "Reason", p.Reason, header.ReasonNone)
	eq(t, "IPProto", p.IPProto, uint8(gp.Protocol))
	eq(t, "TTL", p.TTL, gp.TTL)
	eq(t, "TOS", p.TOS, gp.TOS)
	eq(t, "HdrLen", int(p.HdrLen), int(gp.IHL)*4)
	eq(t, "Src", p.Src, addr4(gp.SrcIP))
	eq(t, "Dst", p.Dst, addr4(gp.DstIP))
	eq(t, "Length", p.Length, gp.Length)
	eq(t, "ID", p.ID, gp.Id)
	eq(t, "FragOff", p.FragOff, uint16(gp.Flags)<<13|gp.FragOffset)
	eq(t, "L4Off", int(p.L4Off), int(gp.IHL)*4)
}

func TestGopacketTCP(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := range diffIterations {
		ip := randIPv4(r, layers.IPProtocolTCP)
		tcp, want := randTCP(r)
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		payload := gopacket.Payload(randBytes(r, r.Intn(64)))
		b := serialize(t, ip, tcp, payload)
		// Link padding after the datagram must not change anything.
		padded := append(append([]byte(nil), b...), make([]byte, r.Intn(3)*7)...)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pk := decodeGopacket(t, b)
			gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			gtcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			checkIPv4(t, padded, gip)
			src, dst := addr4(gip.SrcIP), addr4(gip.DstIP)
			checkTCP(t, header.IPv4(padded).Payload(), src, dst, gtcp, want)

			var p packet.Parsed
			n := p.Decode(padded)
			checkParsedCommon(t, &p, n, gip)
			eq(t, "Proto", p.Proto, packet.TCP)
			eq(t, "SrcPort", p.SrcPort, uint16(gtcp.SrcPort))
			eq(t, "DstPort", p.DstPort, uint16(gtcp.DstPort))
			eq(t, "TCPFlags", p.TCPFlags, gpTCPFlags(gtcp))
			eq(t, "Seq", p.Seq, gtcp.Seq)
			eq(t, "Ack", p.Ack, gtcp.Ack)
			eq(t, "Window", p.Window, gtcp.Window)
			eq(t, "TCPHdrLen", int(p.TCPHdrLen), int(gtcp.DataOffset)*4)
			eq(t, "PayloadN", int(p.PayloadN), len(gtcp.Payload))
			eq(t, "TCPOpts", p.TCPOpts, want)
			if t.Failed() {
				t.Logf("packet % x", b)
			}
		})
		if t.Failed() {
			return
		}
	}
}

func TestGopacketUDP(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := range diffIterations {
		ip := randIPv4(r, layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: layers.UDPPort(r.Intn(65536)), DstPort: layers.UDPPort(r.Intn(65536))}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		b := serialize(t, ip, udp, gopacket.Payload(randBytes(r, r.Intn(100))))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pk := decodeGopacket(t, b)
			gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			gu := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			checkIPv4(t, b, gip)
			u := header.UDP(header.IPv4(b).Payload())
			src, dst := addr4(gip.SrcIP), addr4(gip.DstIP)
			eq(t, "Validate", u.Validate(), header.ReasonNone)
			eq(t, "SourcePort", u.SourcePort(), uint16(gu.SrcPort))
			eq(t, "DestinationPort", u.DestinationPort(), uint16(gu.DstPort))
			eq(t, "Length", u.Length(), gu.Length)
			eq(t, "Checksum", u.Checksum(), gu.Checksum)
			eq(t, "CalculateChecksum", u.CalculateChecksum(src, dst), gu.Checksum)
			eq(t, "IsChecksumValid", u.IsChecksumValid(src, dst), true)
			eqBytes(t, "Payload", u.Payload(), gu.Payload)

			var p packet.Parsed
			n := p.Decode(b)
			checkParsedCommon(t, &p, n, gip)
			eq(t, "Proto", p.Proto, packet.UDP)
			eq(t, "SrcPort", p.SrcPort, uint16(gu.SrcPort))
			eq(t, "DstPort", p.DstPort, uint16(gu.DstPort))
			eq(t, "PayloadN", int(p.PayloadN), len(gu.Payload))
		})
		if t.Failed() {
			return
		}
	}
}

func TestGopacketICMPEcho(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	queries := []uint8{header.ICMPEcho, header.ICMPEchoReply, header.ICMPTimestamp, header.ICMPTimestampReply}
	for i := range diffIterations {
		ip := randIPv4(r, layers.IPProtocolICMPv4)
		typ := queries[r.Intn(len(queries))]
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: uint16(r.Intn(65536)), Seq: uint16(r.Intn(65536))}
		b := serialize(t, ip, ic, gopacket.Payload(randBytes(r, r.Intn(64))))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pk := decodeGopacket(t, b)
			gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			gic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			checkIPv4(t, b, gip)
			m := header.ICMPv4(header.IPv4(b).Payload())
			eq(t, "Validate", m.Validate(), header.ReasonNone)
			eq(t, "Type", m.Type(), gic.TypeCode.Type())
			eq(t, "Code", m.Code(), gic.TypeCode.Code())
			eq(t, "Ident", m.Ident(), gic.Id)
			eq(t, "Sequence", m.Sequence(), gic.Seq)
			eq(t, "Checksum", m.Checksum(), gic.Checksum)
			eq(t, "CalculateChecksum", m.CalculateChecksum(), gic.Checksum)
			eq(t, "IsChecksumValid", m.IsChecksumValid(), true)
			eqBytes(t, "Payload", m.Payload(), gic.Payload)

			var p packet.Parsed
			n := p.Decode(b)
			checkParsedCommon(t, &p, n, gip)
			eq(t, "Proto", p.Proto, packet.ICMP)
			eq(t, "ICMPType", p.ICMPType, typ)
			eq(t, "ICMPID", p.ICMPID, gic.Id)
			eq(t, "InnerOK", p.InnerOK, false)
		})
		if t.Failed() {
			return
		}
	}
}

// TestGopacketICMPError checks errors that quote a TCP, UDP or ICMP echo
// datagram (the quoted header plus 8 bytes, or more, or fewer).
func TestGopacketICMPError(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	errs := []struct{ typ, code uint8 }{
		{header.ICMPDestUnreach, header.ICMPPortUnreach},
		{header.ICMPDestUnreach, header.ICMPFragNeeded},
		{header.ICMPDestUnreach, header.ICMPAdminProhibited},
		{header.ICMPTimeExceeded, header.ICMPTTLExceeded},
		{header.ICMPParamProblem, 0},
		{header.ICMPSourceQuench, 0},
		{header.ICMPRedirect, 1},
	}
	for i := range diffIterations {
		// The quoted datagram.
		inIP := randIPv4(r, 0)
		var inner []byte
		var wantSrcPort, wantDstPort uint16
		var wantSeq uint32
		var wantType uint8
		switch r.Intn(3) {
		case 0:
			inIP.Protocol = layers.IPProtocolTCP
			tcp, _ := randTCP(r)
			tcp.SetNetworkLayerForChecksum(inIP)
			inner = serialize(t, inIP, tcp, gopacket.Payload(randBytes(r, r.Intn(40))))
			wantSrcPort, wantDstPort, wantSeq = uint16(tcp.SrcPort), uint16(tcp.DstPort), tcp.Seq
		case 1:
			inIP.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: layers.UDPPort(r.Intn(65536)), DstPort: layers.UDPPort(r.Intn(65536))}
			udp.SetNetworkLayerForChecksum(inIP)
			inner = serialize(t, inIP, udp, gopacket.Payload(randBytes(r, r.Intn(40))))
			wantSrcPort, wantDstPort = uint16(udp.SrcPort), uint16(udp.DstPort)
		case 2:
			inIP.Protocol = layers.IPProtocolICMPv4
			ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(header.ICMPEcho, 0), Id: uint16(r.Intn(65536)), Seq: uint16(r.Intn(65536))}
			inner = serialize(t, inIP, ic, gopacket.Payload(randBytes(r, r.Intn(40))))
			wantSrcPort, wantType = ic.Id, header.ICMPEcho
		}
		inHL := int(inIP.IHL) * 4
		// Quote the header plus 8 bytes (RFC 792), sometimes all of it
		// (RFC 1812 §4.3.2.3), sometimes only 4 transport bytes.
		quoted := inner[:inHL+8]
		l4n := 8
		switch r.Intn(4) {
		case 0:
			quoted, l4n = inner, len(inner)-inHL
		case 1:
			quoted, l4n = inner[:inHL+4], 4
		}
		e := errs[r.Intn(len(errs))]
		outIP := randIPv4(r, layers.IPProtocolICMPv4)
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(e.typ, e.code)}
		if e.code == header.ICMPFragNeeded {
			ic.Seq = uint16(576 + r.Intn(1000)) // next-hop MTU, RFC 1191
		}
		b := serialize(t, outIP, ic, gopacket.Payload(quoted))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pk := decodeGopacket(t, b)
			gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			gic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			checkIPv4(t, b, gip)
			m := header.ICMPv4(header.IPv4(b).Payload())
			eq(t, "Type", m.Type(), e.typ)
			eq(t, "Code", m.Code(), e.code)
			eq(t, "MTU", m.MTU(), gic.Seq)
			eq(t, "IsChecksumValid", m.IsChecksumValid(), true)
			eq(t, "CalculateChecksum", m.CalculateChecksum(), gic.Checksum)
			eqBytes(t, "Quoted", m.Quoted(), quoted)
			hl, n, rs := header.QuotedValid(m.Quoted())
			eq(t, "QuotedValid reason", rs, header.ReasonNone)
			eq(t, "QuotedValid hl", hl, inHL)
			eq(t, "QuotedValid l4", n, l4n)

			// gopacket reads the quoted datagram (truncated) as IPv4 too.
			gin := gopacket.NewPacket(quoted, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)

			var p packet.Parsed
			nn := p.Decode(b)
			checkParsedCommon(t, &p, nn, gip)
			eq(t, "Proto", p.Proto, packet.ICMP)
			eq(t, "ICMPType", p.ICMPType, e.typ)
			eq(t, "ICMPCode", p.ICMPCode, e.code)
			wantOK := l4n >= 8 || inIP.Protocol != layers.IPProtocolICMPv4
			eq(t, "InnerOK", p.InnerOK, wantOK)
			if !wantOK {
				return
			}
			in := p.Inner
			eq(t, "Inner.Proto", in.Proto, uint8(gin.Protocol))
			eq(t, "Inner.Src", in.Src, addr4(gin.SrcIP))
			eq(t, "Inner.Dst", in.Dst, addr4(gin.DstIP))
			eq(t, "Inner.HdrLen", int(in.HdrLen), int(gin.IHL)*4)
			eq(t, "Inner.Off", int(in.Off), int(gip.IHL)*4+header.ICMPv4Size)
			eq(t, "Inner.SrcPort", in.SrcPort, wantSrcPort)
			eq(t, "Inner.ICMPType", in.ICMPType, wantType)
			eq(t, "Inner.IsFragment", in.IsFragment, false)
			if inIP.Protocol != layers.IPProtocolICMPv4 {
				eq(t, "Inner.DstPort", in.DstPort, wantDstPort)
			}
			hasSeq := inIP.Protocol == layers.IPProtocolTCP && l4n >= 8
			eq(t, "Inner.HasSeq", in.HasSeq, hasSeq)
			if hasSeq {
				eq(t, "Inner.Seq", in.Seq, wantSeq)
			}
			// Offsets point into b at the quoted header.
			eqBytes(t, "b[Inner.Off:]", b[in.Off:int(in.Off)+int(in.HdrLen)], gin.Contents)
		})
		if t.Failed() {
			return
		}
	}
}

// TestEncodeGopacket builds packets with our Encode and checksums, decodes
// them with gopacket, and re-serializes gopacket's layers with checksums
// computed: the bytes must come out identical, which proves every field and
// every checksum we wrote.
func TestEncodeGopacket(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for i := range diffIterations {
		var opts []byte
		for _, o := range randIPv4Options(r) {
			if o.OptionType <= 1 {
				opts = append(opts, o.OptionType)
			} else {
				opts = append(append(opts, o.OptionType, o.OptionLength), o.OptionData...)
			}
		}
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		hl := header.IPv4MinSize + len(opts)
		payload := randBytes(r, r.Intn(50))
		proto := []uint8{header.ProtoTCP, header.ProtoUDP, header.ProtoICMP}[r.Intn(3)]
		var l4 []byte
		f := header.IPv4Fields{
			TOS: uint8(r.Intn(256)), ID: uint16(r.Intn(65536)), Flags: uint16(r.Intn(2)) * header.IPv4FlagDF,
			TTL: uint8(r.Intn(256)), Protocol: proto, Src: [4]byte(randAddr(r)), Dst: [4]byte(randAddr(r)), Options: opts,
		}
		var wantTCPOpts header.TCPOptions
		switch proto {
		case header.ProtoTCP:
			gt, want := randTCP(r)
			wantTCPOpts = want
			var to []byte
			for _, o := range gt.Options {
				if o.OptionType <= 1 {
					to = append(to, byte(o.OptionType))
				} else {
					to = append(append(to, byte(o.OptionType), o.OptionLength), o.OptionData...)
				}
			}
			for len(to)%4 != 0 {
				to = append(to, header.TCPOptEOL)
			}
			l4 = make([]byte, header.TCPMinSize+len(to)+len(payload))
			tc := header.TCP(l4)
			tc.Encode(&header.TCPFields{
				SrcPort: uint16(gt.SrcPort), DstPort: uint16(gt.DstPort), Seq: gt.Seq, Ack: gt.Ack,
				DataOffset: uint8(header.TCPMinSize + len(to)), Flags: uint8(r.Intn(256)),
				Window: gt.Window, Urgent: gt.Urgent,
			})
			copy(l4[header.TCPMinSize:], to)
			copy(l4[header.TCPMinSize+len(to):], payload)
			tc.SetChecksum(tc.CalculateChecksum(f.Src, f.Dst))
		case header.ProtoUDP:
			l4 = make([]byte, header.UDPSize+len(payload))
			u := header.UDP(l4)
			u.Encode(uint16(r.Intn(65536)), uint16(r.Intn(65536)), uint16(len(l4)))
			copy(u.Payload(), payload)
			u.SetChecksum(u.CalculateChecksum(f.Src, f.Dst))
		case header.ProtoICMP:
			l4 = make([]byte, header.ICMPv4Size+len(payload))
			m := header.ICMPv4(l4)
			m.Encode(header.ICMPEcho, 0, r.Uint32())
			copy(m.Payload(), payload)
			m.SetChecksum(m.CalculateChecksum())
		}
		f.TotalLength = uint16(hl + len(l4))
		b := make([]byte, hl+len(l4))
		header.IPv4(b).Encode(&f)
		copy(b[hl:], l4)

		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pk := decodeGopacket(t, b)
			gip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			eq(t, "TOS", gip.TOS, f.TOS)
			eq(t, "Length", gip.Length, f.TotalLength)
			eq(t, "Id", gip.Id, f.ID)
			eq(t, "Flags", uint16(gip.Flags)<<13|gip.FragOffset, f.Flags)
			eq(t, "TTL", gip.TTL, f.TTL)
			eq(t, "Protocol", uint8(gip.Protocol), f.Protocol)
			eq(t, "SrcIP", addr4(gip.SrcIP), f.Src)
			eq(t, "DstIP", addr4(gip.DstIP), f.Dst)
			eqBytes(t, "Options", gip.Contents[header.IPv4MinSize:], opts)
			var ls []gopacket.SerializableLayer
			ls = append(ls, gip)
			switch proto {
			case header.ProtoTCP:
				gt := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
				gt.SetNetworkLayerForChecksum(gip)
				eq(t, "TCPOptions(gopacket)", optsFromGopacket(gt.Options), wantTCPOpts)
				ls = append(ls, gt)
			case header.ProtoUDP:
				gu := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
				gu.SetNetworkLayerForChecksum(gip)
				ls = append(ls, gu)
			case header.ProtoICMP:
				ls = append(ls, pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4))
			}
			ls = append(ls, gopacket.Payload(payload))
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
				t.Fatal(err)
			}
			eqBytes(t, "gopacket re-serialization", buf.Bytes(), b)
		})
		if t.Failed() {
			return
		}
	}
}

func ip4str(a [4]byte) string { return net.IP(a[:]).String() }
