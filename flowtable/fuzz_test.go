package flowtable_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"fwd/bench"
	"fwd/header"
)

// FuzzSameAsSlowPath drives a few connections (TCP out through
// MASQUERADE, TCP in through the DNAT rule, UDP out) with segments whose
// flags, sequence numbers, sizes, TTL and DF come from the input, through
// the reference configuration with and without the offload rule. Every
// packet that comes out must be the same in both: the fast path may only
// change how fast, never what. Two differences are Linux's and are left
// out: the segments stay in the window, which the fast path does not
// check (TestSameAsSlowPath shows it), and a TCP connection's packets are
// no longer compared once it may have been torn down.
func FuzzSameAsSlowPath(f *testing.F) {
	// Byte pairs: connection (bits 0-1), reply (bit 2), flags (bits
	// 3-5); payload size (bits 0-3), TTL 1 or 2 (bit 6, bit 7).
	handshakes := []byte{
		0x00, 0x00, 0x0c, 0x00, 0x10, 0x00, 0x18, 0x01, 0x1c, 0x02, 0x18, 0x03, 0x1c, 0x01, // out, masqueraded
		0x01, 0x00, 0x0d, 0x00, 0x11, 0x00, 0x19, 0x01, 0x1d, 0x02, 0x19, 0x03, 0x1d, 0x01, // in, DNATed
		0x02, 0x01, 0x06, 0x02, 0x02, 0x03, 0x06, 0x04, 0x02, 0x05, // UDP
	}
	f.Add(handshakes)
	f.Add(append(append([]byte{}, handshakes...), 0x18, 0x41, 0x1c, 0x3f, 0x18, 0x0f, 0x20, 0x00, 0x24, 0x00, 0x10, 0x00))
	f.Add([]byte{0, 0, 0, 1, 1, 0, 2, 0, 3, 0, 4, 1, 5, 2, 6, 3})
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe})
	f.Add([]byte(strings.Repeat("\x00\x01\x02\x03\x04\x05\x06\x07", 8)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 512 {
			return
		}
		p := &pair{t: t, slow: newRouter(t, gatewayConfig(t, false)), fast: newRouter(t, gatewayConfig(t, true))}
		type conn struct {
			fromLAN      bool
			cli, srv     [4]byte
			cport, sport uint16
			cseq, sseq   uint32
			pub          uint16 // the client's port as the server sees it (after MASQUERADE)
			udp, started bool
			// loose: the connection may have left the fast path with
			// its windows forgotten, to be picked up again from the next
			// segments (Linux's flow_offload_fixup_tcp), which accepts
			// some segments full tracking would not: from then on its
			// packets are sent to both but not compared.
			loose bool
		}
		conns := []*conn{
			{fromLAN: true, cli: lanHost, srv: server, cport: 33000, sport: 443, cseq: 1000, sseq: 9000},
			{fromLAN: false, cli: client, srv: webHost, cport: 5555, sport: 80, cseq: 2000, sseq: 7000},
			{fromLAN: true, cli: lanHost, srv: server, cport: 5353, sport: 53, udp: true},
		}
		flags := []uint8{syn, syn | ack, ack, ack | psh, fin | ack, rst, rst | ack, ack | psh}
		for i := 0; i+1 < len(in); i += 2 {
			a, b := in[i], in[i+1]
			c := conns[int(a&3)%len(conns)]
			reply := a&0x04 != 0
			size := int(b&0x0f) * 37
			var dg []byte
			var inIf int16
			// Addresses on the wire: the client side sees the server as
			// itself (or the published address), the server side sees
			// the client after NAT.
			switch {
			case c.fromLAN && !reply:
				inIf = bench.LAN
			case c.fromLAN && reply:
				inIf = bench.WAN
			case !c.fromLAN && !reply:
				inIf = bench.WAN
			default:
				inIf = bench.LAN
			}
			if c.udp {
				if reply {
					if !c.started {
						continue
					}
					dg = udp(c.srv, wanAddr, c.sport, c.pub, strings.Repeat("a", size))
				} else {
					dg = udp(c.cli, c.srv, c.cport, c.sport, strings.Repeat("q", size))
				}
			} else {
				fl := flags[(a>>3)%uint8(len(flags))]
				if !c.started {
					fl = syn
					reply = false
					if c.fromLAN {
						inIf = bench.LAN
					} else {
						inIf = bench.WAN
					}
				}
				// In the window: the fast path keeps none (as Linux's
				// flowtable), so a segment far out of it passes there
				// and is INVALID on the slow path (TestSameAsSlowPath).
				pay := strings.Repeat("d", size)
				switch {
				case c.fromLAN && !reply:
					dg = tcp(c.cli, c.srv, c.cport, c.sport, fl, c.cseq, c.sseq, pay)
				case c.fromLAN && reply:
					dg = tcp(c.srv, wanAddr, c.sport, c.pub, fl, c.sseq, c.cseq, pay)
				case !c.fromLAN && !reply:
					dg = tcp(c.cli, wanAddr, c.cport, 8080, fl, c.cseq, c.sseq, pay)
				default:
					dg = tcp(c.srv, c.cli, c.sport, c.cport, fl, c.sseq, c.cseq, pay)
				}
				adv := uint32(size)
				if fl&(syn|fin) != 0 {
					adv++
				}
				if reply {
					c.sseq += adv
				} else {
					c.cseq += adv
				}
			}
			ip := header.IPv4(dg)
			if b&0x40 != 0 {
				ip.SetTTL(1 + b>>7)
			}
			if !c.udp && c.started && (b&0x40 != 0 || header.TCP(dg[20:]).Flags()&(syn|fin|rst) != 0) {
				c.loose = true // a teardown: SYN, FIN, RST or a TTL about to expire
			}
			var o []out
			if c.loose {
				p.slow.send(inIf, dg)
				o = p.fast.send(inIf, dg)
			} else {
				o = p.send("fuzz", inIf, dg)
			}
			if !c.started && len(o) > 0 && o[0].delivered {
				c.started = true
				if c.fromLAN {
					if c.udp {
						c.pub = header.UDP(o[0].data[20:]).SourcePort()
					} else {
						c.pub = header.TCP(o[0].data[20:]).SourcePort()
					}
				}
			}
		}
		if n, _ := p.fast.fast().Counters(); n > 0 {
			fastRuns.Add(1)
		}
	})
	if testing.Verbose() {
		f.Logf("%d inputs took the fast path", fastRuns.Load())
	}
}

var fastRuns atomic.Int64
