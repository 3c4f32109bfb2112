// Package bench measures the whole pipeline in process: parse, defrag,
// conntrack, the reference configuration's rules (filter, DNAT,
// MASQUERADE), NAT and output, on traffic made by a seeded generator. The
// benchmarks are in bench_test.go; scripts/bench.sh runs them and writes
// BENCHMARKS.md.
package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
)

// Interface indexes in the reference configuration (gateway.toml).
const (
	LAN int16 = 0
	WAN int16 = 1
)

// Flow is one generated TCP connection: its original tuple as the LAN host
// sends it, and the reply tuple fwd chose (after NAT) as the server
// answers it.
type Flow struct {
	Orig, Reply conntrack.Tuple
	seq, ack    uint32
}

// NewFlows makes n distinct flows from LAN hosts to internet servers,
// seeded for repeatability. The LAN has at most 250 hosts x 200 source
// ports = 50 000 endpoints, each talking to several servers: with one
// public address and endpoint-independent mapping (RFC 4787 REQ-1) every
// LAN endpoint holds one public port, and there are 64 512 of those, so a
// million flows must share endpoints, as a real LAN's do. Destinations
// (100.64.0.0/10, one per flow) avoid the reference config's blocklist.
func NewFlows(n int, seed uint64) []Flow {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const endpoints = 250 * 200
	fs := make([]Flow, n)
	for i := range fs {
		e := i % endpoints
		host := byte(2 + e%250)
		sport := uint16(20000 + e/250)
		var dst [4]byte
		binary.BigEndian.PutUint32(dst[:], uint32(100<<24|64<<16)+uint32(i))
		fs[i] = Flow{
			Orig: conntrack.Tuple{Src: [4]byte{192, 168, 1, host}, Dst: dst, SrcPort: sport, DstPort: 443, Proto: header.ProtoTCP},
			seq:  r.Uint32(), ack: r.Uint32(),
		}
	}
	return fs
}

// TCP builds a TCP segment into b (at least 60 bytes) and returns its
// length: 20-byte IP header, 20-byte TCP header, payload bytes of zeros.
func TCP(b []byte, src, dst [4]byte, sport, dport uint16, flags uint8, seq, ack uint32, payload int) int {
	n := header.IPv4MinSize + header.TCPMinSize + payload
	ip := header.IPv4(b[:n])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(n), TTL: 64, Protocol: header.ProtoTCP, Src: src, Dst: dst, Flags: header.IPv4FlagDF, ID: uint16(seq)})
	t := header.TCP(b[header.IPv4MinSize:n])
	t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Ack: ack, Flags: flags, Window: 65535})
	clear(t[header.TCPMinSize:])
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return n
}

// UDP builds a UDP datagram into b.
func UDP(b []byte, src, dst [4]byte, sport, dport uint16, payload int) int {
	n := header.IPv4MinSize + header.UDPSize + payload
	ip := header.IPv4(b[:n])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(n), TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	u := header.UDP(b[header.IPv4MinSize:n])
	u.Encode(sport, dport, uint16(header.UDPSize+payload))
	clear(u[header.UDPSize:])
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return n
}

// Syn, SynAck and Ack are the handshake of f; Data is an established
// segment in the original (reply=false) or reply direction.
func (f *Flow) Syn(b []byte) int {
	return TCP(b, f.Orig.Src, f.Orig.Dst, f.Orig.SrcPort, f.Orig.DstPort, header.TCPFlagSYN, f.seq, 0, 0)
}

// SynAck is the server's answer, to the translated address and port.
func (f *Flow) SynAck(b []byte) int {
	return TCP(b, f.Reply.Src, f.Reply.Dst, f.Reply.SrcPort, f.Reply.DstPort, header.TCPFlagSYN|header.TCPFlagACK, f.ack, f.seq+1, 0)
}

// Ack completes the handshake.
func (f *Flow) Ack(b []byte) int {
	return TCP(b, f.Orig.Src, f.Orig.Dst, f.Orig.SrcPort, f.Orig.DstPort, header.TCPFlagACK, f.seq+1, f.ack+1, 0)
}

// Data is an in-window segment with payload bytes: the same bytes each time
// (a retransmission, which conntrack accepts like new data), so a template
// can be replayed without tracking sequence numbers.
func (f *Flow) Data(b []byte, reply bool, payload int) int {
	if reply {
		return TCP(b, f.Reply.Src, f.Reply.Dst, f.Reply.SrcPort, f.Reply.DstPort, header.TCPFlagACK, f.ack+1, f.seq+1, payload)
	}
	return TCP(b, f.Orig.Src, f.Orig.Dst, f.Orig.SrcPort, f.Orig.DstPort, header.TCPFlagACK|header.TCPFlagPSH, f.seq+1, f.ack+1, payload)
}

// Learn records the reply tuple the pipeline chose for f from the
// connection its first packet created.
func (f *Flow) Learn(pkt *packet.Packet) bool {
	c, ok := pkt.CT.(*conntrack.Conn)
	if !ok || c == nil {
		return false
	}
	f.Reply = c.ReplyTuple()
	return true
}

// OffloadRule is the rule that puts established connections on the
// flowtable's fast path, as an operator would write it.
const OffloadRule = `[[filter.forward.rule]]
ct_state = ["established"]
action = "offload"

`

// GatewayConfig loads the reference configuration at path; with offload,
// OffloadRule goes in just before its forward chain's "established,
// related: accept" rule.
func GatewayConfig(path string, offload bool) (*config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := string(b)
	if offload {
		const anchor = "[[filter.forward.rule]]\nct_state = [\"established\", \"related\"]"
		if !strings.Contains(s, anchor) {
			return nil, fmt.Errorf("%s: no established,related rule in the forward chain", path)
		}
		s = strings.Replace(s, anchor, OffloadRule+anchor, 1)
	}
	return config.Parse(path, []byte(s))
}
