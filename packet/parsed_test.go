package packet

import (
	"encoding/hex"
	"strings"
	"testing"

	"fwd/header"
)

// mustHex decodes spaced hex ("4500 0034 ...").
func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	client = [4]byte{192, 168, 1, 10}
	server = [4]byte{198, 51, 100, 20}
	router = [4]byte{203, 0, 113, 1}
)

// ipv4 returns an IPv4 datagram around l4, with a valid header checksum.
func ipv4(proto uint8, src, dst [4]byte, flags uint16, opts, l4 []byte) []byte {
	hl := header.IPv4MinSize + len(opts)
	b := make([]byte, hl+len(l4))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), ID: 0x1234, Flags: flags, TTL: 64,
		Protocol: proto, Src: src, Dst: dst, Options: opts,
	})
	copy(b[hl:], l4)
	return b
}

// synOpts are the options of a Linux SYN: MSS 1460, SACK permitted,
// timestamps 0x01020304/0, NOP, window scale 7.
var synOpts = mustHex("0204 05b4  0402  080a 0102 0304 0000 0000  01  0303 07")

// tcpSeg returns a TCP segment with options and payload, checksummed for
// src/dst.
func tcpSeg(src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags uint8, opts, payload []byte) []byte {
	off := header.TCPMinSize + len(opts)
	b := make([]byte, off+len(payload))
	t := header.TCP(b)
	t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Ack: ack, DataOffset: uint8(off), Flags: flags, Window: 64240})
	copy(b[header.TCPMinSize:], opts)
	copy(b[off:], payload)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b
}

func udpDgram(src, dst [4]byte, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, header.UDPSize+len(payload))
	u := header.UDP(b)
	u.Encode(sport, dport, uint16(len(b)))
	copy(b[header.UDPSize:], payload)
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return b
}

func icmpMsg(typ, code uint8, rest uint32, payload []byte) []byte {
	b := make([]byte, header.ICMPv4Size+len(payload))
	m := header.ICMPv4(b)
	m.Encode(typ, code, rest)
	copy(b[header.ICMPv4Size:], payload)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// Fixtures shared by the tests, the benchmarks and the fuzz seeds.
var (
	// client:40000 -> server:80 SYN with the Linux options.
	pktSYN = ipv4(header.ProtoTCP, client, server, header.IPv4FlagDF, nil,
		tcpSeg(client, server, 40000, 80, 1000, 0, header.TCPFlagSYN, synOpts, nil))
	// client:5353 -> server:53, 12 bytes of payload.
	pktUDP = ipv4(header.ProtoUDP, client, server, 0, nil,
		udpDgram(client, server, 5353, 53, []byte("hello, world")))
	// Echo request id 0x4242 seq 1, 16 bytes of data.
	pktEcho = ipv4(header.ProtoICMP, client, server, 0, nil,
		icmpMsg(header.ICMPEcho, 0, 0x42420001, []byte("0123456789abcdef")))
	// The router says port unreachable about a UDP datagram server -> client
	// and quotes its header and 8 bytes.
	pktPortUnreach = ipv4(header.ProtoICMP, router, server, 0, nil,
		icmpMsg(header.ICMPDestUnreach, header.ICMPPortUnreach, 0, pktUDP[:28]))
	// Time exceeded quoting a TCP segment (header + 8 bytes: ports and seq).
	pktTimeExceeded = ipv4(header.ProtoICMP, router, client, 0, nil,
		icmpMsg(header.ICMPTimeExceeded, header.ICMPTTLExceeded, 0, pktSYN[:28]))
	// Router alert option (RFC 2113), IHL 6.
	pktOptions = ipv4(header.ProtoUDP, client, server, 0, mustHex("9404 0000"),
		udpDgram(client, server, 1, 2, nil))
)

func TestDecode(t *testing.T) {
	padded := append(append([]byte(nil), pktUDP...), make([]byte, 18)...) // Ethernet minimum padding
	firstFrag := ipv4(header.ProtoUDP, client, server, header.IPv4FlagMF, nil, pktUDP[20:36])
	lastFrag := ipv4(header.ProtoUDP, client, server, 2 /* 16 bytes */, nil, pktUDP[36:])
	// A frag-needed quoting a non-first fragment.
	fragNeeded := ipv4(header.ProtoICMP, router, client, 0, nil,
		icmpMsg(header.ICMPDestUnreach, header.ICMPFragNeeded, 1400, lastFrag))
	// Echo reply quoted in an error: the id is the inner "port".
	echoQuoted := ipv4(header.ProtoICMP, router, client, 0, nil,
		icmpMsg(header.ICMPTimeExceeded, 0, 0, pktEcho[:28]))
	// A TCP error quoting only 4 transport bytes: ports, no seq.
	shortQuote := ipv4(header.ProtoICMP, router, client, 0, nil,
		icmpMsg(header.ICMPDestUnreach, header.ICMPHostUnreach, 0, pktSYN[:24]))
	// Quoting only 2 transport bytes: the inner summary is unusable.
	tooShortQuote := ipv4(header.ProtoICMP, router, client, 0, nil,
		icmpMsg(header.ICMPDestUnreach, header.ICMPHostUnreach, 0, pktSYN[:22]))
	gre := ipv4(47, client, server, 0, nil, []byte{0, 0, 8, 0})

	tests := []struct {
		name  string
		pkt   []byte
		n     int
		check func(t *testing.T, p *Parsed)
	}{
		{"tcp syn with options", pktSYN, len(pktSYN), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, TCP)
			eq(t, "SrcPort", p.SrcPort, 40000)
			eq(t, "DstPort", p.DstPort, 80)
			eq(t, "Seq", p.Seq, 1000)
			eq(t, "TCPFlags", p.TCPFlags, header.TCPFlagSYN)
			eq(t, "Window", p.Window, 64240)
			eq(t, "TCPHdrLen", p.TCPHdrLen, 40)
			eq(t, "PayloadN", p.PayloadN, 0)
			eq(t, "TCPOpts", p.TCPOpts, header.TCPOptions{
				MSS: 1460, HasMSS: true, SACKPermitted: true, HasTimestamp: true, TSVal: 0x01020304,
				WindowScale: 7, HasWScale: true,
			})
			eq(t, "DF", p.FragOff, header.IPv4FlagDF)
			eq(t, "IsFragment", p.IsFragment(), false)
		}},
		{"udp", pktUDP, len(pktUDP), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, UDP)
			eq(t, "Src", p.Src, client)
			eq(t, "Dst", p.Dst, server)
			eq(t, "SrcPort", p.SrcPort, 5353)
			eq(t, "DstPort", p.DstPort, 53)
			eq(t, "PayloadN", p.PayloadN, 12)
			eq(t, "L4Off", p.L4Off, 20)
			eq(t, "TTL", p.TTL, 64)
			eq(t, "ID", p.ID, 0x1234)
		}},
		{"udp with link padding", padded, len(pktUDP), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, UDP)
			eq(t, "Length", int(p.Length), len(pktUDP))
			eq(t, "PayloadN", p.PayloadN, 12)
		}},
		{"ip options", pktOptions, len(pktOptions), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, UDP)
			eq(t, "HdrLen", p.HdrLen, 24)
			eq(t, "L4Off", p.L4Off, 24)
			eq(t, "DstPort", p.DstPort, 2)
		}},
		{"icmp echo", pktEcho, len(pktEcho), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, ICMP)
			eq(t, "ICMPType", p.ICMPType, header.ICMPEcho)
			eq(t, "ICMPID", p.ICMPID, 0x4242)
			eq(t, "InnerOK", p.InnerOK, false)
		}},
		{"icmp port unreachable quoting udp", pktPortUnreach, len(pktPortUnreach), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, ICMP)
			eq(t, "ICMPType", p.ICMPType, header.ICMPDestUnreach)
			eq(t, "ICMPCode", p.ICMPCode, header.ICMPPortUnreach)
			eq(t, "InnerOK", p.InnerOK, true)
			eq(t, "Inner", p.Inner, Inner{Proto: header.ProtoUDP, Src: client, Dst: server, SrcPort: 5353, DstPort: 53, Off: 28, HdrLen: 20})
		}},
		{"icmp time exceeded quoting tcp", pktTimeExceeded, len(pktTimeExceeded), func(t *testing.T, p *Parsed) {
			eq(t, "InnerOK", p.InnerOK, true)
			eq(t, "Inner", p.Inner, Inner{Proto: header.ProtoTCP, Src: client, Dst: server, SrcPort: 40000, DstPort: 80, Seq: 1000, HasSeq: true, Off: 28, HdrLen: 20})
		}},
		{"icmp error quoting 4 tcp bytes", shortQuote, len(shortQuote), func(t *testing.T, p *Parsed) {
			eq(t, "InnerOK", p.InnerOK, true)
			eq(t, "Inner.SrcPort", p.Inner.SrcPort, 40000)
			eq(t, "Inner.HasSeq", p.Inner.HasSeq, false)
		}},
		{"icmp error quoting 2 tcp bytes", tooShortQuote, len(tooShortQuote), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, ICMP)
			eq(t, "InnerOK", p.InnerOK, false)
		}},
		{"icmp error quoting an echo", echoQuoted, len(echoQuoted), func(t *testing.T, p *Parsed) {
			eq(t, "InnerOK", p.InnerOK, true)
			eq(t, "Inner.Proto", p.Inner.Proto, header.ProtoICMP)
			eq(t, "Inner.ICMPType", p.Inner.ICMPType, header.ICMPEcho)
			eq(t, "Inner.SrcPort (id)", p.Inner.SrcPort, 0x4242)
		}},
		{"frag needed quoting a non-first fragment", fragNeeded, len(fragNeeded), func(t *testing.T, p *Parsed) {
			eq(t, "InnerOK", p.InnerOK, true)
			eq(t, "Inner.IsFragment", p.Inner.IsFragment, true)
			eq(t, "Inner.SrcPort", p.Inner.SrcPort, 0)
		}},
		{"first fragment", firstFrag, len(firstFrag), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, Fragment)
			eq(t, "IPProto", p.IPProto, header.ProtoUDP)
			eq(t, "IsFragment", p.IsFragment(), true)
			eq(t, "SrcPort", p.SrcPort, 0) // not decoded before reassembly
			eq(t, "L4Off", p.L4Off, 20)
		}},
		{"last fragment", lastFrag, len(lastFrag), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, Fragment)
			eq(t, "FragOff", p.FragOff, 2)
			eq(t, "IsFragment", p.IsFragment(), true)
		}},
		{"other protocol", gre, len(gre), func(t *testing.T, p *Parsed) {
			eq(t, "Proto", p.Proto, OtherProto)
			eq(t, "IPProto", p.IPProto, 47)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			// Decode must not depend on what the summary held before.
			p.Decode(pktTimeExceeded)
			n := p.Decode(tt.pkt)
			if n != tt.n {
				t.Fatalf("Decode = %d, want %d", n, tt.n)
			}
			eq(t, "Reason", p.Reason, header.ReasonNone)
			tt.check(t, &p)
			var fresh Parsed
			fresh.Decode(tt.pkt)
			if fresh != p {
				t.Errorf("Decode over a used summary differs from a fresh one:\n%+v\n%+v", p, fresh)
			}
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// fix recomputes the IP header checksum after a test edits the header.
func fix(b []byte) []byte {
	header.IPv4(b).UpdateChecksum()
	return b
}

// edit returns a copy of pkt with f applied.
func edit(pkt []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), pkt...))
}

// reasonCases are malformed datagrams, one or more per header.Reason that
// Decode can give.
var reasonCases = []struct {
	name   string
	pkt    []byte
	reason header.Reason
}{
	{"empty", nil, header.ReasonTruncated},
	{"19 bytes", pktUDP[:19], header.ReasonTruncated},
	{"ipv6 version", edit(pktUDP, func(b []byte) []byte { b[0] = 0x65; return b }), header.ReasonBadVersion},
	{"version 0", edit(pktUDP, func(b []byte) []byte { b[0] = 0x05; return b }), header.ReasonBadVersion},
	{"ihl 4", edit(pktUDP, func(b []byte) []byte { b[0] = 0x44; return b }), header.ReasonBadIHL},
	{"ihl 0", edit(pktUDP, func(b []byte) []byte { b[0] = 0x40; return b }), header.ReasonBadIHL},
	{"ihl past the buffer", edit(pktUDP, func(b []byte) []byte { b[0] = 0x4f; return b }), header.ReasonTruncated},
	{"total length below ihl", edit(pktUDP, func(b []byte) []byte { b[2], b[3] = 0, 19; return fix(b) }), header.ReasonBadTotalLength},
	{"total length 0", edit(pktUDP, func(b []byte) []byte { b[2], b[3] = 0, 0; return fix(b) }), header.ReasonBadTotalLength},
	{"total length past the buffer", edit(pktUDP, func(b []byte) []byte { return b[:len(b)-1] }), header.ReasonTruncated},
	{"bad header checksum", edit(pktUDP, func(b []byte) []byte { b[10] ^= 1; return b }), header.ReasonBadChecksum},
	{"ttl changed without checksum", edit(pktUDP, func(b []byte) []byte { b[8]--; return b }), header.ReasonBadChecksum},
	{"option past the header", edit(pktOptions, func(b []byte) []byte { b[21] = 8; return fix(b) }), header.ReasonBadOptions},
	{"option length 1", edit(pktOptions, func(b []byte) []byte { b[21] = 1; return fix(b) }), header.ReasonBadOptions},
	{"option length missing", edit(pktOptions, func(b []byte) []byte { copy(b[20:], []byte{1, 1, 1, 0x94}); return fix(b) }), header.ReasonBadOptions},
	{"tcp 19 bytes", ipv4(header.ProtoTCP, client, server, 0, nil, pktSYN[20:39]), header.ReasonTruncated},
	{"tcp data offset 4", edit(pktSYN, func(b []byte) []byte { b[32] = 0x40; return b }), header.ReasonBadDataOffset},
	{"tcp data offset 0", edit(pktSYN, func(b []byte) []byte { b[32] = 0x00; return b }), header.ReasonBadDataOffset},
	{"tcp data offset past the segment", edit(pktSYN, func(b []byte) []byte { b[32] = 0xf0; return b }), header.ReasonTruncated},
	{"udp 7 bytes", ipv4(header.ProtoUDP, client, server, 0, nil, pktUDP[20:27]), header.ReasonTruncated},
	{"udp length 7", edit(pktUDP, func(b []byte) []byte { b[24], b[25] = 0, 7; return b }), header.ReasonBadTotalLength},
	{"udp length past the datagram", edit(pktUDP, func(b []byte) []byte { b[25]++; return b }), header.ReasonBadTotalLength},
	{"icmp 7 bytes", ipv4(header.ProtoICMP, client, server, 0, nil, pktEcho[20:27]), header.ReasonTruncated},
	// The IP total length governs: bytes beyond it are not transport bytes.
	{"tcp cut by total length", edit(pktSYN, func(b []byte) []byte {
		b[2], b[3] = 0, 39
		return fix(b)
	}), header.ReasonTruncated},
}

func TestDecodeReasons(t *testing.T) {
	seen := map[header.Reason]bool{}
	for _, tt := range reasonCases {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			p.Decode(pktSYN) // leave state behind
			n := p.Decode(tt.pkt)
			if n != 0 || p.Proto != Unknown || p.Reason != tt.reason {
				t.Fatalf("Decode = %d, Proto %v, Reason %v; want 0, unknown, %v", n, p.Proto, p.Reason, tt.reason)
			}
			if d := DropFromHeader(p.Reason); d.String() != tt.reason.String() {
				t.Errorf("DropFromHeader(%v) = %v", tt.reason, d)
			}
			seen[tt.reason] = true
		})
	}
	for _, r := range []header.Reason{header.ReasonTruncated, header.ReasonBadVersion, header.ReasonBadIHL,
		header.ReasonBadTotalLength, header.ReasonBadChecksum, header.ReasonBadDataOffset, header.ReasonBadOptions} {
		if !seen[r] {
			t.Errorf("no case for %v", r)
		}
	}
}

// TestDropFromHeader checks that every header.Reason maps to the drop
// reason of the same name (the two enums are kept in step by hand).
func TestDropFromHeader(t *testing.T) {
	for r := header.ReasonNone; r.String() != "unknown"; r++ {
		if d := DropFromHeader(r); d.String() != r.String() {
			t.Errorf("DropFromHeader(%v) = %v", r, d)
		}
	}
	// Names are unique, so stats keys do not collide.
	names := map[string]DropReason{}
	for d := DropNone; d < DropReason(NumDropReasons); d++ {
		if d.String() == "unknown" || d.String() == "" {
			t.Errorf("drop reason %d has no name", d)
		}
		if o, dup := names[d.String()]; dup {
			t.Errorf("drop reasons %d and %d are both %q", o, d, d.String())
		}
		names[d.String()] = d
	}
}

func TestDecodeNoAllocs(t *testing.T) {
	for _, tt := range []struct {
		name string
		pkt  []byte
	}{{"tcp_options", pktSYN}, {"udp", pktUDP}, {"icmp", pktEcho}, {"icmp_error", pktTimeExceeded}, {"bad", reasonCases[4].pkt}} {
		var p Parsed
		if n := testing.AllocsPerRun(1000, func() { p.Decode(tt.pkt) }); n != 0 {
			t.Errorf("%s: %v allocs per Decode, want 0", tt.name, n)
		}
	}
}

var decodeBench = []struct {
	name string
	pkt  []byte
}{
	{"tcp_options", pktSYN},
	{"udp", pktUDP},
	{"icmp", pktEcho},
	{"icmp_error", pktTimeExceeded},
}

func BenchmarkDecode(b *testing.B) {
	for _, bb := range decodeBench {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.pkt)))
			var p Parsed
			for b.Loop() {
				p.Decode(bb.pkt)
			}
			if p.Proto == Unknown {
				b.Fatal("decode failed")
			}
		})
	}
}
