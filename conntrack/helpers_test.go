package conntrack

import (
	"encoding/binary"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

const (
	fFIN = header.TCPFlagFIN
	fSYN = header.TCPFlagSYN
	fRST = header.TCPFlagRST
	fPSH = header.TCPFlagPSH
	fACK = header.TCPFlagACK
	fURG = header.TCPFlagURG
)

var (
	cliAddr = [4]byte{192, 168, 1, 10}
	srvAddr = [4]byte{198, 51, 100, 20}
	rtrAddr = [4]byte{203, 0, 113, 1}
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestTable(t testing.TB, mod func(*Config)) (*Table, *pipeline.Virtual) {
	clk := pipeline.NewVirtual(epoch)
	cfg := NewConfig(config.Default())
	cfg.Seed = 42
	if mod != nil {
		mod(&cfg)
	}
	return NewTable(cfg, clk), clk
}

// tcpOpts builds TCP options: mss, window scale (<0: none), SACK
// permitted, and SACK blocks.
func tcpOpts(wscale int, sackPerm bool, sacks ...header.SACKBlock) []byte {
	var o []byte
	o = append(o, header.TCPOptMSS, 4, 0x05, 0xb4)
	if wscale >= 0 {
		o = append(o, header.TCPOptNOP, header.TCPOptWindowScale, 3, byte(wscale))
	}
	if sackPerm {
		o = append(o, header.TCPOptNOP, header.TCPOptNOP, header.TCPOptSACKPermitted, 2)
	}
	if len(sacks) > 0 {
		o = append(o, header.TCPOptNOP, header.TCPOptNOP, header.TCPOptSACK, byte(2+8*len(sacks)))
		for _, s := range sacks {
			o = binary.BigEndian.AppendUint32(o, s.Left)
			o = binary.BigEndian.AppendUint32(o, s.Right)
		}
	}
	return o
}

// buildTCP returns an IPv4 TCP datagram with n payload bytes.
func buildTCP(src, dst [4]byte, sp, dp uint16, flags uint8, seq, ack uint32, win uint16, opts []byte, n int) []byte {
	ol := (len(opts) + 3) &^ 3
	tl := header.IPv4MinSize + header.TCPMinSize + ol + n
	b := make([]byte, tl)
	// IPv4 header.
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(tl), TTL: 64, Protocol: header.ProtoTCP, Src: src, Dst: dst})
	// TCP header, options padded with EOL, payload of 'x'.
	tcp := header.TCP(b[header.IPv4MinSize:])
	tcp.Encode(&header.TCPFields{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ack, DataOffset: uint8(header.TCPMinSize + ol), Flags: flags, Window: win})
	copy(tcp[header.TCPMinSize:], opts)
	for i := header.TCPMinSize + ol; i < len(tcp); i++ {
		tcp[i] = 'x'
	}
	tcp.SetChecksum(tcp.CalculateChecksum(src, dst))
	return b
}

func buildUDP(src, dst [4]byte, sp, dp uint16, n int) []byte {
	tl := header.IPv4MinSize + header.UDPSize + n
	b := make([]byte, tl)
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(tl), TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	u := header.UDP(b[header.IPv4MinSize:])
	u.Encode(sp, dp, uint16(header.UDPSize+n))
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return b
}

func buildICMP(src, dst [4]byte, typ, code uint8, rest uint32, body []byte) []byte {
	tl := header.IPv4MinSize + header.ICMPv4Size + len(body)
	b := make([]byte, tl)
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(tl), TTL: 64, Protocol: header.ProtoICMP, Src: src, Dst: dst})
	ic := header.ICMPv4(b[header.IPv4MinSize:])
	ic.Encode(typ, code, rest)
	copy(ic[header.ICMPv4Size:], body)
	ic.SetChecksum(ic.CalculateChecksum())
	return b
}

func decode(t testing.TB, b []byte) *packet.Packet {
	t.Helper()
	pkt := packet.New(b)
	if pkt.Parsed.Decode(pkt.Data) == 0 {
		t.Fatalf("test packet does not decode: %v", pkt.Parsed.Reason)
	}
	pkt.Hook = packet.Prerouting
	return pkt
}

// run passes a packet through conntrack and confirm, as a pipeline whose
// rules accept everything would.
func run(tab *Table, pkt *packet.Packet) pipeline.Verdict {
	if v := tab.Track(pkt); v != pipeline.Continue {
		return v
	}
	return tab.Confirm(pkt)
}

// tflow is one TCP four-tuple between the client and the server.
type tflow struct {
	t   testing.TB
	tab *Table
	clk *pipeline.Virtual
	cp  uint16
	sp  uint16
}

func newFlow(t testing.TB, tab *Table, clk *pipeline.Virtual) *tflow {
	return &tflow{t: t, tab: tab, clk: clk, cp: 40000, sp: 80}
}

// send sends a segment from the client (dir Original) or the server.
func (f *tflow) send(dir int, flags uint8, seq, ack uint32, win uint16, n int, opts []byte) *packet.Packet {
	var b []byte
	if dir == Original {
		b = buildTCP(cliAddr, srvAddr, f.cp, f.sp, flags, seq, ack, win, opts, n)
	} else {
		b = buildTCP(srvAddr, cliAddr, f.sp, f.cp, flags, seq, ack, win, opts, n)
	}
	pkt := decode(f.t, b)
	pkt.Trace = true
	run(f.tab, pkt)
	return pkt
}

// entry returns the flow's entry.
func (f *tflow) entry() (Entry, bool) {
	e, _, ok := f.tab.Lookup(Tuple{Src: cliAddr, Dst: srvAddr, SrcPort: f.cp, DstPort: f.sp, Proto: header.ProtoTCP})
	return e, ok
}
