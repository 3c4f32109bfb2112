package conntrack

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// benchFlows fills tab with n established, ASSURED TCP connections and
// returns a packet whose Parsed summary the caller points at any of them
// with setFlow.
type benchFlows struct {
	tab *Table
	pkt *packet.Packet
	n   int
}

func flowAddr(i int) ([4]byte, uint16) {
	return [4]byte{10, byte(i >> 20), byte(i >> 12), byte(i >> 4)}, uint16(10000 + i&15)
}

// setFlow points the packet at flow i, direction dir, with flags.
func (bf *benchFlows) setFlow(i, dir int, flags uint8, seq, ack uint32) {
	p := &bf.pkt.Parsed
	// The address of flow i as flowAddr gives it, stored in one word: a
	// [4]byte built byte by byte and copied costs a store-forwarding
	// stall, which would be the harness's cost, not the table's.
	a := 10<<24 | uint32(i>>20&0xff)<<16 | uint32(i>>12&0xff)<<8 | uint32(i>>4&0xff)
	port := uint16(10000 + i&15)
	if dir == Original {
		binary.BigEndian.PutUint32(p.Src[:], a)
		p.Dst, p.SrcPort, p.DstPort = srvAddr, port, 443
	} else {
		binary.BigEndian.PutUint32(p.Dst[:], a)
		p.Src, p.SrcPort, p.DstPort = srvAddr, 443, port
	}
	p.TCPFlags, p.Seq, p.Ack = flags, seq, ack
	p.TCPOpts = header.TCPOptions{}
	p.PayloadN = 0
	p.Window = 1000
}

func newBenchFlows(tb testing.TB, n, max int) *benchFlows {
	tab, _ := newTestTable(tb, func(c *Config) { c.MaxEntries = max })
	bf := &benchFlows{tab: tab, n: n, pkt: decode(tb, buildTCP(cliAddr, srvAddr, 1, 443, fACK, 1, 1, 1000, nil, 0))}
	for i := 0; i < n; i++ {
		bf.setFlow(i, Original, fSYN, 1000, 0)
		bf.pkt.Parsed.TCPOpts = header.TCPOptions{HasWScale: true, WindowScale: 7, SACKPermitted: true}
		run(tab, bf.pkt)
		bf.setFlow(i, Reply, fSYN|fACK, 5000, 1001)
		bf.pkt.Parsed.TCPOpts = header.TCPOptions{HasWScale: true, WindowScale: 7, SACKPermitted: true}
		run(tab, bf.pkt)
		bf.setFlow(i, Original, fACK, 1001, 5001)
		run(tab, bf.pkt)
		if bf.pkt.CTState != packet.CTEstablished {
			tb.Fatalf("flow %d: %v", i, bf.pkt.CTState)
		}
	}
	if tab.Count() != n {
		tb.Fatalf("count %d, want %d", tab.Count(), n)
	}
	return bf
}

// randomOrder is a long random sequence of flow numbers below n (read
// with a mask), so consecutive packets hit unrelated connections.
func randomOrder(n int) []uint32 {
	order := make([]uint32, 1<<20)
	for i := range order {
		order[i] = uint32(rand.IntN(n))
	}
	return order
}

// established points the packet at flow f, original direction for even
// i and reply for odd, as an ACK of the established connection. It
// writes only what differs between flows and directions: the packet's
// options, payload and window were set once (setFlow), and conntrack
// does not change them, so the harness costs little beside the table.
func (bf *benchFlows) established(f, i int) {
	p := &bf.pkt.Parsed
	a := 10<<24 | uint32(f>>20&0xff)<<16 | uint32(f>>12&0xff)<<8 | uint32(f>>4&0xff)
	port := uint16(10000 + f&15)
	if i&1 == 0 {
		binary.BigEndian.PutUint32(p.Src[:], a)
		p.Dst, p.SrcPort, p.DstPort = srvAddr, port, 443
		p.Seq, p.Ack = 1001, 5001
	} else {
		binary.BigEndian.PutUint32(p.Dst[:], a)
		p.Src, p.SrcPort, p.DstPort = srvAddr, 443, port
		p.Seq, p.Ack = 5001, 1001
	}
}

// BenchmarkEstablished is the lookup plus TCP update of an established
// flow, chosen at random among n live flows, alternating directions.
func BenchmarkEstablished(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"1M", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			bf := newBenchFlows(b, size.n, 2*size.n)
			order := randomOrder(size.n)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bf.established(int(order[i&(len(order)-1)]), i)
				bf.tab.Track(bf.pkt)
			}
			b.StopTimer()
			if bf.pkt.CTState != packet.CTEstablished {
				b.Fatalf("last packet %v", bf.pkt.CTState)
			}
		})
	}
}

// BenchmarkNewConnection is the track plus confirm of a SYN of a new
// flow, into an empty table and into one with 1M live connections.
func BenchmarkNewConnection(b *testing.B) {
	for _, size := range []struct {
		name string
		live int
	}{{"empty", 0}, {"1M-live", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			const batch = 1 << 20
			bf := newBenchFlows(b, size.live, size.live+batch+1)
			unassured := func(e *Entry) bool { return e.Status&packet.CTStatusAssured == 0 }
			p := &bf.pkt.Parsed
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == batch-1 {
					b.StopTimer()
					bf.tab.Delete(unassured)
					b.StartTimer()
				}
				p.Src = [4]byte{172, byte(i >> 16), byte(i >> 8), byte(i)}
				p.Dst, p.SrcPort, p.DstPort = srvAddr, 30000, 80
				p.TCPFlags, p.Seq, p.Ack, p.Window = fSYN, uint32(i), 0, 1000
				if bf.tab.Track(bf.pkt) != pipeline.Continue || bf.tab.Confirm(bf.pkt) != pipeline.Continue {
					b.Fatal("insert failed")
				}
			}
			b.StopTimer()
			if st := bf.tab.Stats(); st.InsertFailed != 0 || st.Drop != 0 {
				b.Fatalf("insert_failed=%d drop=%d", st.InsertFailed, st.Drop)
			}
		})
	}
}

// TestNoAllocs: the per-packet paths allocate nothing.
func TestNoAllocs(t *testing.T) {
	bf := newBenchFlows(t, 1000, 1<<16)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		if i&1 == 0 {
			bf.setFlow(i%1000, Original, fACK, 1001, 5001)
		} else {
			bf.setFlow(i%1000, Reply, fACK, 5001, 1001)
		}
		bf.tab.Track(bf.pkt)
	}); n != 0 {
		t.Errorf("established: %v allocs", n)
	}
	p := &bf.pkt.Parsed
	if n := testing.AllocsPerRun(1000, func() {
		i++
		p.Src = [4]byte{172, byte(i >> 16), byte(i >> 8), byte(i)}
		p.Dst, p.SrcPort, p.DstPort = srvAddr, 30000, 80
		p.TCPFlags, p.Seq, p.Ack = fSYN, 1, 0
		bf.tab.Track(bf.pkt)
		bf.tab.Confirm(bf.pkt)
	}); n != 0 {
		t.Errorf("new connection: %v allocs", n)
	}
	// An ICMP error RELATED to a flow.
	run(bf.tab, decode(t, buildUDP(cliAddr, srvAddr, 9, 53, 8)))
	b := make([]byte, 600)
	n := header.BuildICMPError(b, rtrAddr, header.ICMPDestUnreach, 3, 0, header.IPv4(buildUDP(cliAddr, srvAddr, 9, 53, 8)))
	ep := decode(t, b[:n])
	if n := testing.AllocsPerRun(1000, func() { bf.tab.Track(ep) }); n != 0 || ep.CTState != packet.CTRelated {
		t.Errorf("icmp error: %v allocs, %v", n, ep.CTState)
	}
}

// TestMemoryPerConn measures the heap per tracked connection, index
// included, at 1M connections; the budget is 256 bytes (a Linux nf_conn).
func TestMemoryPerConn(t *testing.T) {
	if testing.Short() {
		t.Log("short mode: measuring 100k connections instead of 1M")
	}
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	bf := newBenchFlows(t, n, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d connections: %.0f bytes each (heap), Conn is %d bytes", n, per, sizeofConn)
	if per > 256 {
		t.Errorf("%.0f bytes per connection, budget 256", per)
	}
	runtime.KeepAlive(bf)
}

// BenchmarkEstablishedBatch is BenchmarkEstablished as the pipeline runs
// it: batches of 32 packets of random flows, the stage's Prefetch over the
// batch, then Process on each, and the ticker's reaping (ReapTick) for
// them. "noprefetch" is the same loop without the
// Prefetch call, to show what overlapping the misses buys.
func BenchmarkEstablishedBatch(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"100", 100}, {"10k", 10_000}, {"1M", 1_000_000}} {
		for _, pf := range []bool{true, false} {
			name := size.name
			if !pf {
				name += "-noprefetch"
			}
			b.Run(name, func(b *testing.B) {
				bf := newBenchFlows(b, size.n, 2*size.n)
				st := &Stage{t: bf.tab}
				const batch = 32
				pkts := make([]*packet.Packet, batch)
				sub := make([]int32, batch)
				for i := range pkts {
					pkts[i] = decode(b, buildTCP(cliAddr, srvAddr, 1, 443, fACK, 1, 1, 1000, nil, 0))
					sub[i] = int32(i)
					bf.pkt = pkts[i]
					bf.setFlow(0, Original, fACK, 1001, 5001)
				}
				order := randomOrder(size.n)
				runtime.GC()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					for k, pkt := range pkts {
						bf.pkt = pkt
						bf.established(int(order[(i+k)&(len(order)-1)]), k)
						pkt.CTState, pkt.CT = 0, nil
					}
					if pf {
						st.Prefetch(pkts, sub)
					}
					for _, pkt := range pkts {
						st.Process(pkt)
					}
					if i%4096 == 0 {
						// The ticker's reaping, in proportion to the
						// lookups, is part of the cost.
						bf.tab.ReapTick(0)
					}
				}
				b.StopTimer()
				for _, pkt := range pkts {
					if pkt.CTState != packet.CTEstablished {
						b.Fatalf("packet %v", pkt.CTState)
					}
				}
			})
		}
	}
}
