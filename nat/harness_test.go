package nat_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	"fwd/conntrack"
	_ "fwd/decode"
	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
	_ "fwd/router"
	_ "fwd/rules/stage"
)

// The lab is the gateway of configs/gateway.toml reduced to what NAT
// needs: a LAN (192.168.1.0/24, router .1), a WAN (203.0.113.0/24,
// router .2, upstream .1) and the internet behind it.
const baseConfig = `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"

[[route]]
to = "0.0.0.0/0"
via = "203.0.113.1"
dev = "wan0"
`

const (
	lan0 int16 = 0
	wan0 int16 = 1
)

// masqConfig hides the LAN behind the WAN address and publishes a web
// server, as the gateway does (without `in`, so hairpinning can be
// exercised).
const masqConfig = baseConfig + `
[[nat.prerouting.rule]]
dst = "203.0.113.2"
proto = "tcp"
dport = 8080
action = "dnat"
to = "192.168.1.10:80"

[[nat.prerouting.rule]]
dst = "203.0.113.2"
proto = "udp"
dport = 5353
action = "dnat"
to = "192.168.1.10:53"

[[nat.postrouting.rule]]
out = "wan0"
src = "192.168.1.0/24"
action = "masquerade"
`

var (
	router   = addr("203.0.113.2")
	upstream = addr("203.0.113.1")
	lanGW    = addr("192.168.1.1")
	hostA    = addr("192.168.1.20")
	hostB    = addr("192.168.1.21")
	server   = addr("192.168.1.10")
	remote   = addr("198.51.100.20")
	remote2  = addr("198.51.100.30")
	hop      = addr("198.51.100.1") // a router on the far side
)

func addr(s string) [4]byte { return netip.MustParseAddr(s).As4() }

// order is the slice of pipeline.Order these tests run: the real stages.
var order = []pipeline.Slot{
	{Hook: packet.Prerouting, ID: "stage.parse"},
	{Hook: packet.Prerouting, ID: "stage.conntrack"},
	{Hook: packet.Prerouting, ID: "stage.rules.nat"},
	{Hook: packet.Prerouting, ID: "stage.nat"},
	{Hook: packet.Prerouting, ID: "stage.route"},
	{Hook: packet.Input, ID: "stage.confirm"},
	{Hook: packet.Forward, ID: "stage.rules.filter"},
	{Hook: packet.Output, ID: "stage.parse"},
	{Hook: packet.Output, ID: "stage.conntrack"},
	{Hook: packet.Output, ID: "stage.rules.nat"},
	{Hook: packet.Output, ID: "stage.nat"},
	{Hook: packet.Output, ID: "stage.route"},
	{Hook: packet.Postrouting, ID: "stage.rules.nat"},
	{Hook: packet.Postrouting, ID: "stage.nat"},
	{Hook: packet.Postrouting, ID: "stage.confirm"},
}

type result struct {
	data    []byte
	outIf   int16
	verdict pipeline.Verdict // Continue for delivered packets
	drop    packet.DropReason
}

type sink struct{ got []result }

func (s *sink) Deliver(p *packet.Packet) {
	s.got = append(s.got, result{data: append([]byte(nil), p.Data...), outIf: p.OutIf, verdict: pipeline.Continue})
}

func (s *sink) Discard(p *packet.Packet, v pipeline.Verdict) {
	s.got = append(s.got, result{data: append([]byte(nil), p.Data...), outIf: p.OutIf, verdict: v, drop: p.Drop})
}

type lab struct {
	t     testing.TB
	env   *pipeline.Env
	p     *pipeline.Pipeline
	r     *pipeline.Runner
	out   *sink
	clock *pipeline.Virtual
	ct    *conntrack.Table
	st    *nat.State
}

func newLab(t testing.TB, toml string, opt *nat.Options) *lab {
	t.Helper()
	cfg, err := config.Parse("lab.toml", []byte(toml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool()}
	if opt != nil {
		env.Shared(nat.OptionsKey, func() (any, error) { return opt, nil })
	}
	p, err := pipeline.Build(env, order)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(p.Cleanup)
	out := &sink{}
	l := &lab{t: t, env: env, p: p, r: p.NewRunner(out), out: out, clock: clock}
	l.ct, err = conntrack.FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	l.st = env.Lookup(nat.StateKey).(*nat.State)
	return l
}

// send runs one datagram in on interface in and returns what came out.
func (l *lab) send(in int16, datagram []byte) result {
	l.t.Helper()
	pkt := packet.New(datagram)
	pkt.InIf = in
	l.out.got = l.out.got[:0]
	l.r.Run([]*packet.Packet{pkt})
	l.r.Tick()
	if len(l.out.got) != 1 {
		l.t.Fatalf("got %d packets out, want 1", len(l.out.got))
	}
	return l.out.got[0]
}

// forward sends and requires the packet to be forwarded on outIf, with
// every checksum right.
func (l *lab) forward(in int16, datagram []byte, outIf int16) []byte {
	l.t.Helper()
	r := l.send(in, datagram)
	if r.verdict != pipeline.Continue {
		l.t.Fatalf("packet %s not forwarded: %s (%s)", describe(datagram), r.verdict, r.drop)
	}
	if r.outIf != outIf {
		l.t.Fatalf("packet %s left on %d, want %d", describe(datagram), r.outIf, outIf)
	}
	checkSums(l.t, r.data)
	return r.data
}

// entry returns the conntrack entry of the connection with original
// tuple o.
func (l *lab) entry(o conntrack.Tuple) conntrack.Entry {
	l.t.Helper()
	e, dir, ok := l.ct.Lookup(o)
	if !ok || dir != conntrack.Original {
		l.t.Fatalf("no entry with original tuple %v", o)
	}
	return e
}

// ---- packets ----

type ep struct {
	a    [4]byte
	port uint16
}

func at(a [4]byte, port uint16) ep { return ep{a, port} }

func ip4(src, dst [4]byte, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:]), Flags: layers.IPv4DontFragment}
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

type tcpFlags uint8

const (
	fSYN tcpFlags = 1 << iota
	fACK
	fRST
	fFIN
)

func tcpPkt(src, dst ep, flags tcpFlags, seq, ack uint32, payload string) []byte {
	ip := ip4(src.a, dst.a, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.port), DstPort: layers.TCPPort(dst.port), Seq: seq, Ack: ack,
		SYN: flags&fSYN != 0, ACK: flags&fACK != 0, RST: flags&fRST != 0, FIN: flags&fFIN != 0, Window: 64240}
	if flags&fSYN != 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(ip, tcp, gopacket.Payload(payload))
}

func udpPkt(src, dst ep, payload string) []byte {
	ip := ip4(src.a, dst.a, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.port), DstPort: layers.UDPPort(dst.port)}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(ip, udp, gopacket.Payload(payload))
}

// udpNoSum is a UDP datagram sent without a checksum (zero).
func udpNoSum(src, dst ep, payload string) []byte {
	b := udpPkt(src, dst, payload)
	header.UDP(b[20:]).SetChecksum(0)
	return b
}

func echo(src, dst [4]byte, typ uint8, id, seq uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return serialize(ip, ic, gopacket.Payload("abcdefghijklmnopqrstuvwxyz012345"))
}

// icmpError builds an ICMP error from src to dst quoting the datagram
// orig as a router does (RFC 1812 §4.3.2.3: as much as fits in 576 bytes).
func icmpError(src, dst [4]byte, typ, code uint8, orig []byte) []byte {
	buf := make([]byte, 576)
	n := header.BuildICMPError(buf, src, typ, code, 0, header.IPv4(orig))
	if n == 0 {
		panic("BuildICMPError failed")
	}
	b := buf[:n]
	header.IPv4(b).SetChecksum(0)
	// Address the error as given (BuildICMPError answers the quoted
	// source), then recompute.
	copy(b[16:20], dst[:])
	header.IPv4(b).UpdateChecksum()
	return b
}

// describe prints a datagram as gopacket decodes it.
func describe(b []byte) string {
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	var s []string
	for _, l := range p.Layers() {
		switch x := l.(type) {
		case *layers.IPv4:
			s = append(s, fmt.Sprintf("%v>%v", x.SrcIP, x.DstIP))
		case *layers.TCP:
			s = append(s, fmt.Sprintf("tcp %d>%d", x.SrcPort, x.DstPort))
		case *layers.UDP:
			s = append(s, fmt.Sprintf("udp %d>%d", x.SrcPort, x.DstPort))
		case *layers.ICMPv4:
			s = append(s, fmt.Sprintf("icmp %v id %d", x.TypeCode, x.Id))
		}
	}
	return strings.Join(s, " ")
}

// checkSums verifies every checksum of a datagram two ways: gopacket's
// verification and a full recomputation with header's reference code.
// For an ICMP error the quoted IP header checksum is checked too, and the
// quoted transport checksum when the whole quoted datagram is present.
func checkSums(t testing.TB, b []byte) {
	t.Helper()
	ip := header.IPv4(b)
	if ip.CalculateChecksum() != ip.Checksum() {
		t.Errorf("%s: IP checksum %#04x, recomputed %#04x", describe(b), ip.Checksum(), ip.CalculateChecksum())
	}
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	if el := p.ErrorLayer(); el != nil && p.TransportLayer() == nil && p.Layer(layers.LayerTypeICMPv4) == nil {
		// (Payload decoders such as DNS may fail on test payloads; only
		// the IP and transport layers matter here.)
		t.Errorf("%s: gopacket: %v", describe(b), el.Error())
	}
	if ipl, ok := p.NetworkLayer().(*layers.IPv4); ok {
		if tl, ok := p.TransportLayer().(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			tl.SetNetworkLayerForChecksum(ipl)
		}
	}
	for _, l := range p.Layers() {
		type verifier interface {
			VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
		}
		if v, ok := l.(verifier); ok {
			err, res := v.VerifyChecksum()
			if err != nil || !res.Valid {
				t.Errorf("%s: gopacket says %v checksum wrong: %v %+v", describe(b), l.LayerType(), err, res)
			}
		}
	}
	hl := ip.HeaderLength()
	l4 := b[hl:ip.TotalLength()]
	src, dst := ip.SourceAddress(), ip.DestinationAddress()
	switch ip.Protocol() {
	case header.ProtoTCP:
		if !header.TCP(l4).IsChecksumValid(src, dst) {
			t.Errorf("%s: TCP checksum does not verify", describe(b))
		}
	case header.ProtoUDP:
		if !header.UDP(l4).IsChecksumValid(src, dst) {
			t.Errorf("%s: UDP checksum does not verify", describe(b))
		}
	case header.ProtoICMP:
		ic := header.ICMPv4(l4)
		if !ic.IsChecksumValid() {
			t.Errorf("%s: ICMP checksum does not verify", describe(b))
		}
		if header.IsICMPError(ic.Type()) {
			q := ic.Payload()
			qhl, n, r := header.QuotedValid(q)
			if r != header.ReasonNone {
				t.Errorf("quoted packet unusable: %v", r)
				return
			}
			qip := header.IPv4(q)
			if qip.CalculateChecksum() != qip.Checksum() {
				t.Errorf("quoted IP checksum %#04x, recomputed %#04x", qip.Checksum(), qip.CalculateChecksum())
			}
			if int(qip.TotalLength()) == qhl+n { // the whole datagram is quoted
				ql4 := q[qhl:qip.TotalLength()]
				qs, qd := qip.SourceAddress(), qip.DestinationAddress()
				switch qip.Protocol() {
				case header.ProtoTCP:
					if !header.TCP(ql4).IsChecksumValid(qs, qd) {
						t.Errorf("quoted TCP checksum does not verify")
					}
				case header.ProtoUDP:
					if !header.UDP(ql4).IsChecksumValid(qs, qd) {
						t.Errorf("quoted UDP checksum does not verify")
					}
				case header.ProtoICMP:
					if !header.ICMPv4(ql4).IsChecksumValid() {
						t.Errorf("quoted ICMP checksum does not verify")
					}
				}
			}
		}
	}
}

// fields returns the addresses and ports (or ICMP id) of a datagram.
func fields(b []byte) (src, dst ep) {
	ip := header.IPv4(b)
	l4 := b[ip.HeaderLength():]
	src.a, dst.a = ip.SourceAddress(), ip.DestinationAddress()
	switch ip.Protocol() {
	case header.ProtoTCP, header.ProtoUDP:
		src.port, dst.port = uint16(l4[0])<<8|uint16(l4[1]), uint16(l4[2])<<8|uint16(l4[3])
	case header.ProtoICMP:
		src.port = header.ICMPv4(l4).Ident()
	}
	return
}

// quoted returns the fields of the datagram an ICMP error quotes.
func quoted(b []byte) (src, dst ep) {
	ip := header.IPv4(b)
	q := header.ICMPv4(b[ip.HeaderLength():]).Payload()
	return fields(q)
}

func want(t testing.TB, what string, got, exp ep) {
	t.Helper()
	if got != exp {
		t.Errorf("%s = %v:%d, want %v:%d", what, netip.AddrFrom4(got.a), got.port, netip.AddrFrom4(exp.a), exp.port)
	}
}
