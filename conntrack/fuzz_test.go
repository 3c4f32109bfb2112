package conntrack

import (
	"encoding/binary"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// fuzzStep is 8 bytes of fuzz input: direction and flags, a sequence and
// an ack offset from each side's ISN (so in-window segments are common),
// a window, a payload length, options and a clock step.
const fuzzStepLen = 8

func encodeFuzzSteps(steps []step) []byte {
	var b []byte
	for _, s := range steps {
		isn := [2]uint32{1000, 5000}
		so := s.seq - isn[s.dir]
		ao := s.ack - isn[1-s.dir]
		if s.ack == 0 {
			ao = 0
		}
		d := byte(s.dir)
		b = append(b, d|s.flags&^fFIN|(s.flags&fFIN)<<7, byte(so), byte(so>>8), byte(ao), byte(ao>>8), 64, byte(s.n/16), 0)
	}
	return b
}

// fuzzSegment turns a step of fuzz input into a TCP segment on the one
// four-tuple and the clock step to take before it.
func fuzzSegment(s []byte) ([]byte, time.Duration) {
	isn := [2]uint32{1000, 5000}
	dir := int(s[0] & 1)
	flags := s[0]>>1<<1 | s[0]&0x80>>7 // bit 0 is the direction; FIN comes from bit 7
	seq := isn[dir] + uint32(int16(binary.LittleEndian.Uint16(s[1:])))
	ack := isn[1-dir] + uint32(int16(binary.LittleEndian.Uint16(s[3:])))
	win := uint16(s[5]) << 4
	n := int(s[6]) * 16
	var opts []byte
	switch s[7] & 3 {
	case 1:
		opts = tcpOpts(int(s[7]>>2), true)
	case 2:
		opts = tcpOpts(-1, true, header.SACKBlock{Left: ack, Right: ack + uint32(s[7])<<8})
	case 3:
		opts = []byte{header.TCPOptTimestamp, 10, 0, 0, 0, s[7], 0, 0, 0, s[2]}
	}
	step := time.Duration(s[7]>>4) * 7 * time.Second
	if dir == Original {
		return buildTCP(cliAddr, srvAddr, 40000, 80, flags, seq, ack, win, opts, n), step
	}
	return buildTCP(srvAddr, cliAddr, 80, 40000, flags, seq, ack, win, opts, n), step
}

// FuzzTCPSequence feeds random packet sequences on one four-tuple to the
// tracker: nothing may panic, every packet gets a legal ctstate, and the
// table stays consistent (one entry at most, legal states, index entries
// matching live connections).
func FuzzTCPSequence(f *testing.F) {
	f.Add(encodeFuzzSteps(handshake()))
	f.Add(encodeFuzzSteps(cat(handshake(), []step{
		{dir: O, flags: fFIN | fACK, seq: 1001, ack: 5001},
		{dir: R, flags: fFIN | fACK, seq: 5001, ack: 1002},
		{dir: O, flags: fACK, seq: 1002, ack: 5002},
		{dir: O, flags: fSYN, seq: 3000},
	})))
	f.Add(encodeFuzzSteps([]step{{dir: O, flags: fSYN, seq: 1000}, {dir: R, flags: fSYN, seq: 5000}, {dir: O, flags: fSYN | fACK, seq: 1000, ack: 5001}}))
	f.Add([]byte{0x12, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		loose := len(data)%2 == 0
		tab, clk := newTestTable(t, func(c *Config) { c.TCPLoose = loose; c.MaxEntries = 4 })
		for len(data) >= fuzzStepLen {
			b, step := fuzzSegment(data[:fuzzStepLen])
			data = data[fuzzStepLen:]
			clk.Advance(step)
			pkt := packet.New(b)
			if pkt.Parsed.Decode(pkt.Data) == 0 {
				continue
			}
			run(tab, pkt)
			switch pkt.CTState {
			case packet.CTNew, packet.CTEstablished:
				if pkt.CT == nil {
					t.Fatalf("%v without an entry", pkt.CTState)
				}
			case packet.CTInvalid:
				if pkt.CT != nil {
					t.Fatal("invalid with an entry")
				}
			default:
				t.Fatalf("ctstate %v for tcp", pkt.CTState)
			}
			if c := tab.Count(); c > 1 {
				t.Fatalf("%d entries for one four-tuple", c)
			}
			tab.Range(func(e *Entry) bool {
				if e.State == TCPNone || e.State >= numTCPStates {
					t.Fatalf("illegal state %d", e.State)
				}
				for _, ep := range e.Endpoint {
					if int(ep) >= len(epNames) {
						t.Fatalf("illegal endpoint state %d", ep)
					}
				}
				if e.Expires <= clk.Now() {
					t.Fatalf("listed an expired entry")
				}
				return true
			})
		}
		live, used, want := 0, 0, 0
		for i := range tab.shards {
			s := &tab.shards[i]
			live += s.live
			used += s.used + s.aliasN
			for j := uint32(0); j < s.n; j++ {
				if c := s.at(j); c.flags&cfLive != 0 {
					want += 2
					if c.flags&cfSym != 0 {
						want--
					}
				}
			}
		}
		if live != tab.Count() || used != want {
			t.Fatalf("live %d, count %d, index entries %d", live, tab.Count(), used)
		}
	})
}

// FuzzTrackDatagram runs arbitrary datagrams through decode, conntrack and
// confirm: no panic, and the table stays consistent.
func FuzzTrackDatagram(f *testing.F) {
	f.Add(buildTCP(cliAddr, srvAddr, 1, 2, fSYN, 1, 0, 100, tcpOpts(3, true), 0))
	f.Add(buildUDP(cliAddr, srvAddr, 1, 2, 4))
	f.Add(buildICMP(cliAddr, srvAddr, header.ICMPEcho, 0, 1, nil))
	f.Add(buildICMP(srvAddr, cliAddr, header.ICMPDestUnreach, 3, 0, buildUDP(cliAddr, srvAddr, 1, 2, 4)[:28]))
	f.Add(buildICMP(srvAddr, cliAddr, header.ICMPDestUnreach, 3, 0, buildTCP(cliAddr, srvAddr, 1, 2, fSYN, 1, 0, 100, nil, 0)[:28]))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, _ := newTestTable(t, func(c *Config) { c.MaxEntries = 8 })
		// Each datagram twice, and its mirror image, so replies happen.
		for i := 0; i < 3; i++ {
			pkt := packet.New(data)
			if pkt.Parsed.Decode(pkt.Data) == 0 {
				return
			}
			if i == 2 {
				p := &pkt.Parsed
				p.Src, p.Dst = p.Dst, p.Src
				p.SrcPort, p.DstPort = p.DstPort, p.SrcPort
			}
			run(tab, pkt)
			if pkt.CTState == packet.CTNone {
				t.Fatal("no ctstate")
			}
		}
		if tab.Count() > 2 {
			t.Fatalf("%d entries", tab.Count())
		}
		tab.Flush()
		for i := range tab.shards {
			if tab.shards[i].used != 0 || tab.shards[i].aliasN != 0 || tab.shards[i].live != 0 {
				t.Fatal("flush left entries")
			}
		}
	})
}

// FuzzPrefetchBatch feeds a batch of arbitrary datagrams (and their
// mirror images, NATed reply tuples for some) to two identical tables:
// one runs the stage's Prefetch before processing the batch, the other
// does not. Each packet must come out with the same state, direction,
// verdict and connection in both: the prefetch pass leaves hints only.
func FuzzPrefetchBatch(f *testing.F) {
	f.Add(buildTCP(cliAddr, srvAddr, 1, 2, fSYN, 1, 0, 100, tcpOpts(3, true), 0), uint8(3))
	f.Add(buildUDP(cliAddr, srvAddr, 1, 2, 4), uint8(0))
	f.Add(buildICMP(cliAddr, srvAddr, header.ICMPEcho, 0, 1, nil), uint8(1))
	f.Add(buildICMP(srvAddr, cliAddr, header.ICMPDestUnreach, 3, 0, buildUDP(cliAddr, srvAddr, 1, 2, 4)[:28]), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, natMask uint8) {
		pkt := packet.New(data)
		if pkt.Parsed.Decode(pkt.Data) == 0 {
			return
		}
		// Eight variants of the datagram: with other sources, and
		// mirrored; the first batch makes the connections (NATing those
		// natMask selects), the second is the one compared.
		variant := func(i int) *packet.Packet {
			q := packet.New(data)
			q.Parsed.Decode(q.Data)
			p := &q.Parsed
			p.Src[3] += byte(i / 2)
			if i%2 == 1 {
				p.Src, p.Dst = p.Dst, p.Src
				p.SrcPort, p.DstPort = p.DstPort, p.SrcPort
			}
			return q
		}
		type out struct {
			state packet.CTState
			reply bool
			v     pipeline.Verdict
			tu    [2]Tuple
		}
		var res [2][]out
		for k := range res {
			tab, _ := newTestTable(t, func(c *Config) { c.MaxEntries = 16 })
			st := &Stage{t: tab}
			for i := 0; i < 8; i += 2 {
				q := variant(i)
				tab.Track(q)
				if c, ok := q.CT.(*Conn); ok && c != nil && natMask&(1<<(i/2)) != 0 {
					c.SetReplyTuple(Tuple{Src: q.Parsed.Dst, Dst: [4]byte{203, 0, 113, 2}, SrcPort: q.Parsed.DstPort, DstPort: uint16(20000 + i)})
				}
				tab.Confirm(q)
			}
			var batch []*packet.Packet
			var sub []int32
			for i := 0; i < 8; i++ {
				sub = append(sub, int32(i))
				batch = append(batch, variant(i))
			}
			if k == 0 {
				st.Prefetch(batch, sub)
			}
			for _, q := range batch {
				v := st.Process(q)
				if v == pipeline.Continue {
					v = tab.Confirm(q)
				}
				o := out{state: q.CTState, reply: q.CTReply, v: v}
				if c, ok := q.CT.(*Conn); ok && c != nil {
					o.tu = c.tuple
				}
				res[k] = append(res[k], o)
			}
		}
		for i := range res[0] {
			if res[0][i] != res[1][i] {
				t.Fatalf("packet %d: with prefetch %+v, without %+v", i, res[0][i], res[1][i])
			}
		}
	})
}

// FuzzTCPFastPath feeds the same segments on one four-tuple to two
// tables, one with tcpEstablished (the established connection's fast
// path) and one without: after every segment the packet's verdict and
// ctstate, and the connection itself, field by field, must be the same.
// With -v it says how many segments the fast path took.
func FuzzTCPFastPath(f *testing.F) {
	var data []step
	seq, ack := uint32(1001), uint32(5001)
	for i := range 24 {
		n := (i % 4) * 16
		if i%3 == 2 {
			data = append(data, step{dir: R, flags: fACK, seq: ack, ack: seq, n: n})
			ack += uint32(n)
		} else {
			data = append(data, step{dir: O, flags: fACK | fPSH, seq: seq, ack: ack, n: n})
			seq += uint32(n)
		}
	}
	f.Add(encodeFuzzSteps(cat(handshake(), data)))
	f.Add(encodeFuzzSteps(cat(handshake(), data, []step{
		{dir: O, flags: fFIN | fACK, seq: seq, ack: ack},
		{dir: R, flags: fACK, seq: ack, ack: seq + 1},
		{dir: R, flags: fFIN | fACK, seq: ack, ack: seq + 1},
	})))
	f.Add(encodeFuzzSteps(cat(handshake(), data[:6], []step{{dir: O, flags: fACK, seq: seq + 70000, ack: ack}}, data[6:])))
	fast := 0
	f.Fuzz(func(t *testing.T, in []byte) {
		loose := len(in)%2 == 0
		mod := func(c *Config) { c.TCPLoose = loose; c.MaxEntries = 4 }
		ft, fclk := newTestTable(t, mod)
		st, sclk := newTestTable(t, mod)
		st.slowTCP = true
		for len(in) >= fuzzStepLen {
			b, step := fuzzSegment(in[:fuzzStepLen])
			in = in[fuzzStepLen:]
			fclk.Advance(step)
			sclk.Advance(step)
			fp, sp := packet.New(b), packet.New(b)
			if fp.Parsed.Decode(fp.Data) == 0 {
				continue
			}
			sp.Parsed.Decode(sp.Data)
			if probe := probeFast(ft, fp); probe {
				fast++
			}
			fv, sv := run(ft, fp), run(st, sp)
			if fv != sv || fp.CTState != sp.CTState || fp.CTStatus != sp.CTStatus || fp.CTReply != sp.CTReply {
				t.Fatalf("fast path: %v %v %v reply %v; general: %v %v %v reply %v",
					fv, fp.CTState, fp.CTStatus, fp.CTReply, sv, sp.CTState, sp.CTStatus, sp.CTReply)
			}
			fc, sc := onlyConn(ft), onlyConn(st)
			if (fc == nil) != (sc == nil) || fc != nil && fc.connData != sc.connData {
				t.Fatalf("connections differ:\nfast    %+v\ngeneral %+v", fc, sc)
			}
		}
	})
	if testing.Verbose() {
		f.Logf("%d segments took the fast path", fast)
	}
}

// probeFast reports whether tab's fast path would take pkt, on a copy of
// its connection.
func probeFast(tab *Table, pkt *packet.Packet) bool {
	var tu Tuple
	if pkt.Parsed.Proto != packet.TCP || !packetTuple(&pkt.Parsed, &tu) || tcpIndex(pkt.Parsed.TCPFlags) != tcpAckSet {
		return false
	}
	c, dir, hs := tab.lookup(&tu, tab.clock.Now())
	if c == nil {
		return false
	}
	probe := *c
	hs.mu.Unlock()
	return probe.tcp.state == TCPEstablished && tab.tcpEstablished(&probe, dir, &pkt.Parsed, tab.clock.Now())
}

// onlyConn is the table's one live connection, or nil.
func onlyConn(tab *Table) *Conn {
	for i := range tab.shards {
		s := &tab.shards[i]
		for j := uint32(0); j < s.n; j++ {
			if c := s.at(j); c.flags&cfLive != 0 {
				return c
			}
		}
	}
	return nil
}
