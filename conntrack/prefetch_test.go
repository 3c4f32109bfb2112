package conntrack

import (
	"sync"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// natConns opens n TCP connections from the LAN, half of them with a
// NATed reply tuple (so their replies are found through another shard's
// alias index), and answers each SYN.
func natConns(t *testing.T, tab *Table, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		src := [4]byte{192, 168, byte(i >> 8), byte(i)}
		p := decode(t, buildTCP(src, srvAddr, 40000, 443, fSYN, 1, 0, 1000, nil, 0))
		tab.Track(p)
		if i%2 == 0 {
			p.CT.(*Conn).SetReplyTuple(Tuple{Src: srvAddr, Dst: [4]byte{203, 0, 113, 2}, SrcPort: 443, DstPort: uint16(20000 + i)})
		}
		if v := tab.Confirm(p); v != pipeline.Continue {
			t.Fatalf("confirm %v", v)
		}
	}
}

// natPacket is flow i's packet in direction dir (a SYN-ACK for replies,
// the handshake's ACK for originals).
func natPacket(t *testing.T, i, dir int) *packet.Packet {
	src := [4]byte{192, 168, byte(i >> 8), byte(i)}
	if dir == Original {
		return decode(t, buildTCP(src, srvAddr, 40000, 443, fACK, 2, 10, 1000, nil, 0))
	}
	dst, port := src, uint16(40000)
	if i%2 == 0 {
		dst, port = [4]byte{203, 0, 113, 2}, uint16(20000+i)
	}
	return decode(t, buildTCP(srvAddr, dst, 443, port, fSYN|fACK, 9, 2, 1000, nil, 0))
}

type ctResult struct {
	conn    any
	state   packet.CTState
	reply   bool
	verdict pipeline.Verdict
}

// Prefetch leaves hints only: a batch processed after it gets the same
// connection, state and direction per packet as one processed without,
// for plain and NATed (alias-indexed) connections, when hints go stale
// because connections die or their slots are reused between Prefetch and
// Process, and for packets that create connections.
func TestPrefetchChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alter func(t *testing.T, tab *Table, clk *pipeline.Virtual)
	}{
		{"fresh hints", func(*testing.T, *Table, *pipeline.Virtual) {}},
		{"connections gone", func(t *testing.T, tab *Table, _ *pipeline.Virtual) {
			tab.Delete(func(e *Entry) bool { return e.Orig.Src[3]%3 == 0 })
		}},
		{"slots reused", func(t *testing.T, tab *Table, _ *pipeline.Virtual) {
			// Free a third of the connections, then open others: the FIFO
			// free list hands their slots to connections with other tuples.
			tab.Delete(func(e *Entry) bool { return e.Orig.Src[3]%3 == 1 })
			for i := 0; i < 200; i++ {
				p := decode(t, buildUDP([4]byte{10, 9, byte(i >> 8), byte(i)}, srvAddr, 5353, 53, 8))
				run(tab, p)
			}
		}},
		{"expired", func(_ *testing.T, _ *Table, clk *pipeline.Virtual) { clk.Advance(10 * time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two identical tables; a batch through each, one with Prefetch
			// before the change, one with no Prefetch at all.
			var res [2][]ctResult
			for k := range res {
				tab, clk := newTestTable(t, func(c *Config) { c.MaxEntries = 4096 })
				natConns(t, tab, 300)
				st := &Stage{t: tab}
				var batch []*packet.Packet
				var sub []int32
				for i := 0; i < 300; i++ {
					for dir := 0; dir < 2; dir++ {
						sub = append(sub, int32(len(batch)))
						batch = append(batch, natPacket(t, i, dir))
					}
				}
				// New flows too: no entry, so no hint.
				for i := 0; i < 20; i++ {
					sub = append(sub, int32(len(batch)))
					batch = append(batch, decode(t, buildUDP([4]byte{10, 8, 0, byte(i)}, srvAddr, 7, 7, 8)))
				}
				if k == 0 {
					st.Prefetch(batch, sub)
					hinted := 0
					for _, p := range batch {
						if p.CTHint != nil {
							hinted++
						}
					}
					if hinted < 600 {
						t.Fatalf("only %d of 600 packets of known connections got a hint", hinted)
					}
				}
				tc.alter(t, tab, clk)
				for _, p := range batch {
					v := st.Process(p)
					res[k] = append(res[k], ctResult{nil, p.CTState, p.CTReply, v})
					if p.CTHash != 0 || p.CTHint != nil {
						t.Fatal("Process left the prefetch notes on the packet")
					}
				}
				// Same connection means the same tuples (the tables differ).
				for i, p := range batch {
					if c, ok := p.CT.(*Conn); ok && c != nil {
						res[k][i].conn = c.tuple
					}
				}
			}
			for i := range res[0] {
				if res[0][i] != res[1][i] {
					t.Errorf("packet %d: with prefetch %+v, without %+v", i, res[0][i], res[1][i])
				}
			}
		})
	}
}

// A hint naming the wrong connection - one of the same shard, or for a
// NATed reply tuple one whose reply tuple lives in the same shard - is
// checked and ignored: lookup finds the right one.
func TestPrefetchWrongHint(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) { c.MaxEntries = 4096 })
	natConns(t, tab, 300)
	now := tab.clock.Now()
	var conns []*Conn
	for si := range tab.shards {
		s := &tab.shards[si]
		for i := uint32(0); i < s.n; i++ {
			if c := s.at(i); c.flags&cfLive != 0 {
				conns = append(conns, c)
			}
		}
	}
	checked := map[string]int{}
	for _, a := range conns {
		for _, b := range conns {
			if a == b {
				continue
			}
			for dir := 0; dir < 2; dir++ {
				tu := a.tuple[dir]
				h := hashTuple(&tu, tab.seed)
				var kind string
				switch {
				case a.home == b.home && uint8(h>>(64-shardBits)) == a.home:
					kind = "same shard"
				case dir == Reply && a.home != a.rshard && b.home != b.rshard && a.rshard == b.rshard:
					kind = "alias"
				default:
					continue
				}
				if checked[kind] >= 50 {
					continue
				}
				checked[kind]++
				c, d, hs := tab.lookupHashed(&tu, h, b, now)
				if c == nil {
					t.Fatalf("%s: nothing found", kind)
				}
				hs.mu.Unlock()
				if c != a || d != dir {
					t.Fatalf("%s: the wrong hint was taken (dir %d)", kind, d)
				}
			}
		}
	}
	if checked["same shard"] == 0 || checked["alias"] == 0 {
		t.Fatalf("cases not met: %v", checked)
	}
}

// Owner steers every packet of a connection to one worker: the original
// direction, the reply (NATed or not), and an ICMP error quoting the
// original; a packet of no connection goes where the connection it makes
// will live.
func TestOwnerKeepsAConnectionOnOneWorker(t *testing.T) {
	tab, _ := newTestTable(t, func(c *Config) { c.MaxEntries = 4096 })
	natConns(t, tab, 300)
	spread := map[int]int{}
	for i := 0; i < 300; i++ {
		orig, reply := natPacket(t, i, Original), natPacket(t, i, Reply)
		src := [4]byte{192, 168, byte(i >> 8), byte(i)}
		quoted := buildTCP(src, srvAddr, 40000, 443, fACK, 2, 10, 1000, nil, 0)[:28]
		icmpErr := decode(t, buildICMP([4]byte{198, 51, 100, 1}, src, header.ICMPDestUnreach, 1, 0, quoted))
		for _, n := range []int{2, 3, 4} {
			w := tab.Owner(orig, n)
			if r := tab.Owner(reply, n); r != w {
				t.Fatalf("flow %d (NATed %v), %d workers: original on %d, reply on %d", i, i%2 == 0, n, w, r)
			}
			if e := tab.Owner(icmpErr, n); e != w {
				t.Fatalf("flow %d, %d workers: the ICMP error on %d, the connection on %d", i, n, e, w)
			}
			if n == 2 {
				spread[w]++
			}
		}
	}
	if spread[0] < 100 || spread[1] < 100 {
		t.Fatalf("300 connections over two workers: %v", spread)
	}
	// A new flow: its owner is the home of the connection it makes.
	for i := 0; i < 50; i++ {
		p := decode(t, buildUDP([4]byte{10, 7, 0, byte(i)}, srvAddr, 9, 9, 8))
		w := tab.Owner(p, 4)
		run(tab, p)
		if c := p.CT.(*Conn); int(c.home)%4 != w {
			t.Fatalf("new flow %d steered to %d, its connection lives in shard %d", i, w, c.home)
		}
	}
}

// Two workers run batches through Prefetch and Process while connections
// are made, NATed, deleted and listed: the prefetcher's lock-free reads
// of the indexes and slab chunks race with nothing (run under -race), and
// every packet still gets a state.
func TestPrefetchConcurrent(t *testing.T) {
	tab, clk := newTestTable(t, func(c *Config) { c.MaxEntries = 1 << 12 })
	st := &Stage{t: tab}
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			batch := make([]*packet.Packet, 32)
			sub := make([]int32, 32)
			for r := 0; r < rounds; r++ {
				for i := range batch {
					f := (r*37 + i*11 + w) % 500
					src := [4]byte{10, byte(w), byte(f >> 8), byte(f)}
					if i%2 == 0 {
						batch[i] = decode(t, buildUDP(src, srvAddr, 5000, 53, 8))
					} else {
						batch[i] = decode(t, buildUDP(srvAddr, [4]byte{203, 0, 113, 2}, 53, uint16(20000+f), 8))
					}
					sub[i] = int32(i)
				}
				st.Prefetch(batch, sub)
				for i, p := range batch {
					st.Process(p)
					if p.CTState == packet.CTNone {
						t.Error("no state")
						return
					}
					if c, ok := p.CT.(*Conn); ok && c != nil && !c.Confirmed() && i%4 == 0 {
						c.SetReplyTuple(Tuple{Src: srvAddr, Dst: [4]byte{203, 0, 113, 2}, SrcPort: 53, DstPort: uint16(20000 + (r*37+i*11+w)%500)})
					}
					tab.Confirm(p)
				}
			}
		}(w)
	}
	var hk sync.WaitGroup
	hk.Add(1)
	go func() {
		defer hk.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			tab.Delete(func(e *Entry) bool { return e.Orig.Src[3]%7 == 0 })
			tab.Range(func(*Entry) bool { return true })
			clk.Advance(time.Second)
			tab.Reap(64)
		}
	}()
	wg.Wait()
	close(done)
	hk.Wait()
	if st := tab.Stats(); st.Found == 0 || st.Insert == 0 {
		t.Fatalf("nothing found or inserted: %+v", st)
	}
}
