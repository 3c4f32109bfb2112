package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"fwd/conntrack"
	"fwd/packet"
	"fwd/pipeline"
	_ "fwd/plugins"
)

// sink returns packets to its worker's cache, as a device's egress does
// after writing them, and lets a test look at each first. One sink per
// worker goroutine: the cache is not shared.
type sink struct {
	cache     *packet.Cache
	delivered *atomic.Uint64 // shared by a harness's sinks
	dropped   *atomic.Uint64
	look      func(*packet.Packet)
}

func newSink(pool *packet.Pool, delivered, dropped *atomic.Uint64) *sink {
	return &sink{cache: pool.NewCache(), delivered: delivered, dropped: dropped}
}

func (s *sink) Deliver(p *packet.Packet) {
	s.delivered.Add(1)
	if s.look != nil {
		s.look(p)
	}
	s.cache.Put(p)
}

func (s *sink) Discard(p *packet.Packet, v pipeline.Verdict) {
	if v != pipeline.Stolen {
		s.dropped.Add(1)
	}
	if s.look != nil {
		s.look(p)
	}
	s.cache.Put(p)
}

// harness is the reference configuration's pipeline on a virtual clock.
type harness struct {
	env   *pipeline.Env
	pl    *pipeline.Pipeline
	clock *pipeline.Virtual
	sink  *sink
	r     *pipeline.Runner

	delivered, dropped atomic.Uint64 // by every sink of the harness
}

func newHarness(tb testing.TB, maxEntries int) *harness {
	tb.Helper()
	return newHarnessWith(tb, maxEntries, false)
}

// newHarnessWith is newHarness, with the offload rule (OffloadRule) when
// offload is set: established connections take the flowtable's path.
func newHarnessWith(tb testing.TB, maxEntries int, offload bool) *harness {
	tb.Helper()
	cfg, err := GatewayConfig("../configs/gateway.toml", offload)
	if err != nil {
		tb.Fatal(err)
	}
	if maxEntries > 0 {
		cfg.Conntrack.MaxEntries = maxEntries
	}
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool()}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pl.Cleanup)
	h := &harness{env: env, pl: pl, clock: clock}
	h.sink = newSink(env.Pool, &h.delivered, &h.dropped)
	h.r = pl.NewRunner(h.sink)
	return h
}

// one runs a single packet built by mk, arriving on in.
func (h *harness) one(in int16, mk func([]byte) int) {
	p := h.sink.cache.Get()
	n := mk(p.Buffer()[packet.Headroom:])
	p.SetData(n)
	p.InIf = in
	h.r.Run([]*packet.Packet{p})
}

// establish runs the handshake of every flow and learns its reply tuple.
func (h *harness) establish(tb testing.TB, fs []Flow) {
	tb.Helper()
	var cur *Flow
	learned := false
	h.sink.look = func(p *packet.Packet) {
		if cur != nil && !learned {
			learned = cur.Learn(p)
		}
	}
	for i := range fs {
		cur, learned = &fs[i], false
		h.one(LAN, fs[i].Syn)
		if !learned {
			tb.Fatalf("flow %d: the SYN created no connection (dropped %d)", i, h.sink.dropped.Load())
		}
		cur = nil
		h.one(WAN, fs[i].SynAck)
		h.one(LAN, fs[i].Ack)
	}
	h.sink.look = nil
	if d := h.sink.dropped.Load(); d != 0 {
		st := h.pl.Stats()
		tb.Fatalf("%d handshake packets dropped: %v", d, st.Counters(nil))
	}
}

// templates are pre-built established segments, both directions, for a
// set of flows; each iteration copies one into a pooled packet as a device
// read would. They lie in one array in a shuffled order and are walked in
// sequence: consecutive packets hit unrelated connections (scattered over
// the table, as interleaved flows do), while the copy itself reads memory
// in order, as a device's receive ring is: the harness then costs what a
// device's copy into a warm buffer costs, not a cache miss of its own.
type templates struct {
	data [][]byte
	in   []int16
}

func makeTemplates(fs []Flow, payload int) *templates {
	const slot = 128 // bytes per template: 60 bytes of headers + payload, rounded to cache lines
	size := (60 + payload + slot - 1) / slot * slot
	n := 2 * len(fs)
	t := &templates{data: make([][]byte, n), in: make([]int16, n)}
	backing := make([]byte, n*size)
	rng := rand.New(rand.NewPCG(uint64(len(fs)), 7))
	for j, k := range rng.Perm(n) {
		f, reply := &fs[k/2], k%2 == 1
		b := backing[j*size : (j+1)*size]
		t.data[j] = b[:f.Data(b, reply, payload)]
		t.in[j] = LAN
		if reply {
			t.in[j] = WAN
		}
	}
	return t
}

const batchSize = 32

// runBatches pushes b.N packets through r in batches, walking the
// templates in order from start. Packets come from the cache of h's sink,
// which r must deliver to, as a device worker reads into its own.
func runBatches(b *testing.B, h *harness, r *pipeline.Runner, t *templates, start int) {
	cache := h.sink.cache
	batch := make([]*packet.Packet, batchSize)
	idx := start
	n := len(t.data)
	b.ResetTimer()
	for done := 0; done < b.N; done += batchSize {
		k := min(batchSize, b.N-done)
		for i := 0; i < k; i++ {
			p := cache.Get()
			d := t.data[idx]
			copy(p.Buffer()[packet.Headroom:], d)
			p.SetData(len(d))
			p.InIf = t.in[idx]
			batch[i] = p
			if idx++; idx == n {
				idx = 0
			}
		}
		r.Run(batch[:k])
	}
}

// BenchmarkEstablished is an established flow's packet through the whole
// pipeline (parse, defrag pass-through, conntrack, the reference
// ruleset's filter, NAT both ways, mtu), at 1 000, 100 000 and 1 000 000
// live flows. ns/op is per packet. It also reports the heap per
// connection after building the flows.
func BenchmarkEstablished(b *testing.B) { benchEstablished(b, false) }

// BenchmarkEstablishedOffload is BenchmarkEstablished with the reference
// configuration plus OffloadRule: an established connection's packets
// take the flowtable's fast path (conntrack, then NAT, routing, TTL and
// MTU in one stage), and the rules see only its first packets.
func BenchmarkEstablishedOffload(b *testing.B) { benchEstablished(b, true) }

func benchEstablished(b *testing.B, offload bool) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			if n > 100_000 && testing.Short() {
				b.Skip("1M flows take a while to build; not in -short")
			}
			h := newHarnessWith(b, 2*n+1024, offload)
			fs := NewFlows(n, 1)
			h.sink.cache.Put(h.sink.cache.Get()) // its first refill's buffers are not the connections'
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			h.establish(b, fs)
			runtime.GC()
			runtime.ReadMemStats(&m1)
			t := makeTemplates(fs, 64)
			b.ReportAllocs()
			runBatches(b, h, h.r, t, 0)
			b.StopTimer()
			if d := h.sink.dropped.Load(); d != 0 {
				b.Fatalf("%d established packets dropped", d)
			}
			b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(n), "heapB/conn")
		})
	}
}

// BenchmarkEstablishedParallel runs the 1 000- and 100 000-flow cases on
// every core, each worker with its own runner, as the devices' workers
// do: compare its packets/s with the one-core run.
//
// "shared": each worker takes packets of every flow, so a connection's
// packets run on both cores (as TAP mode's one worker per device does with
// a flow's two directions). "steered": packets go to the worker
// conntrack.Table.Owner names, so all of a connection's packets, both
// directions and both sides of the NAT, run on one core; each worker pays
// for the steering decision (decode and Owner) of its own packets, as a
// dispatcher would.
//
// "offload": shared, with the offload rule: the flowtable's path, which
// takes no lock and writes no line the other worker reads.
func BenchmarkEstablishedParallel(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("flows=%d/shared", n), func(b *testing.B) { benchParallel(b, n, false, false) })
		b.Run(fmt.Sprintf("flows=%d/steered", n), func(b *testing.B) { benchParallel(b, n, true, false) })
		b.Run(fmt.Sprintf("flows=%d/offload", n), func(b *testing.B) { benchParallel(b, n, false, true) })
	}
}

func benchParallel(b *testing.B, n int, steered, offload bool) {
	h := newHarnessWith(b, 2*n+1024, offload)
	fs := NewFlows(n, 2)
	h.establish(b, fs)
	tabv, err := h.env.Shared("conntrack.table", nil)
	if err != nil {
		b.Fatal(err)
	}
	tab := tabv.(*conntrack.Table)
	workers := runtime.GOMAXPROCS(0)
	all := makeTemplates(fs, 64)
	ts := make([]*templates, workers)
	for w := range ts {
		ts[w] = all
	}
	if steered {
		// Each template goes to the worker Owner names for it. Owner reads
		// the indexes without the lock and may be misled by a tag that two
		// tuples share: about one packet in a hundred then runs on the
		// other worker, correctly but without the affinity.
		for w := range ts {
			ts[w] = &templates{}
		}
		for i, d := range all.data {
			p := h.env.Pool.Get()
			p.Load(d)
			if p.Parsed.Decode(p.Data) == 0 {
				b.Fatal("template does not decode")
			}
			w := tab.Owner(p, workers)
			h.env.Pool.Put(p)
			ts[w].data = append(ts[w].data, d)
			ts[w].in = append(ts[w].in, all.in[i])
		}
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(worker.Add(1)-1) % workers
		t := ts[w]
		snk := newSink(h.env.Pool, &h.delivered, &h.dropped)
		r := h.pl.NewRunner(snk)
		batch := make([]*packet.Packet, batchSize)
		idx := (w * 104729) % len(t.data)
		if steered {
			idx = 0
		}
		owner := make([]int, batchSize)
		get := func() *packet.Packet {
			p := snk.cache.Get()
			d := t.data[idx]
			copy(p.Buffer()[packet.Headroom:], d)
			p.SetData(len(d))
			p.InIf = t.in[idx]
			if idx++; idx == len(t.data) {
				idx = 0
			}
			return p
		}
		for pb.Next() {
			// One pb.Next is one packet: fill a batch, then run it.
			batch[0] = get()
			k := 1
			for k < batchSize && pb.Next() {
				batch[k] = get()
				k++
			}
			if steered {
				// The dispatcher's work: decode and steer the batch.
				for _, p := range batch[:k] {
					p.Parsed.Decode(p.Data)
				}
				tab.Owners(batch[:k], workers, owner)
				for _, o := range owner[:k] {
					if o != w {
						panic("a steered packet is not its worker's") // the table does not change: nor does Owner
					}
				}
			}
			r.Run(batch[:k])
		}
	})
}

// BenchmarkNewConnections is a connection's first packet: a SYN from the
// LAN through conntrack (create and confirm), the nat table (masquerade
// with port allocation), the filter's forward chain and NAT. ns/op per
// connection.
func BenchmarkNewConnections(b *testing.B) {
	h := newHarness(b, b.N+1024)
	fs := NewFlows(b.N, 3)
	syns := make([][]byte, len(fs))
	for i := range fs {
		buf := make([]byte, 60)
		syns[i] = buf[:fs[i].Syn(buf)]
	}
	batch := make([]*packet.Packet, batchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batchSize {
		k := min(batchSize, b.N-done)
		for i := 0; i < k; i++ {
			p := h.sink.cache.Get()
			d := syns[done+i]
			copy(p.Buffer()[packet.Headroom:], d)
			p.SetData(len(d))
			p.InIf = LAN
			batch[i] = p
		}
		h.r.Run(batch[:k])
	}
	b.StopTimer()
	if d := h.sink.dropped.Load(); d != 0 {
		st := h.pl.Stats()
		b.Fatalf("%d SYNs dropped: %v", d, st.Counters(nil))
	}
}

// TestEstablishedPathAllocatesNothing is the regression guard in test
// form: an established packet through the whole reference pipeline makes
// no garbage.
func TestEstablishedPathAllocatesNothing(t *testing.T) {
	h := newHarness(t, 0)
	fs := NewFlows(64, 4)
	h.establish(t, fs)
	tp := makeTemplates(fs, 64)
	batch := make([]*packet.Packet, batchSize)
	idx := 0
	run := func() {
		for i := range batch {
			p := h.sink.cache.Get()
			d := tp.data[idx]
			copy(p.Buffer()[packet.Headroom:], d)
			p.SetData(len(d))
			p.InIf = tp.in[idx]
			batch[i] = p
			idx = (idx + 1) % len(tp.data)
		}
		h.r.Run(batch)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 && !raceEnabled {
		t.Fatalf("%.2f allocations per batch of %d established packets", n, batchSize)
	}
	if d := h.sink.dropped.Load(); d != 0 {
		t.Fatalf("%d established packets dropped", d)
	}
}

// The generated flows really traverse NAT: the reply tuples point at the
// WAN address, and the data in both directions is delivered.
func TestGeneratedFlowsAreNATed(t *testing.T) {
	h := newHarness(t, 0)
	fs := NewFlows(100, 5)
	h.establish(t, fs)
	for i, f := range fs {
		if f.Reply.Dst != [4]byte{203, 0, 113, 2} || f.Reply.Src != f.Orig.Dst {
			t.Fatalf("flow %d reply tuple %+v", i, f.Reply)
		}
	}
	before := h.sink.delivered.Load()
	tp := makeTemplates(fs, 10)
	for i := range tp.data {
		d := tp.data[i]
		h.one(tp.in[i], func(b []byte) int { return copy(b, d) })
	}
	if got := h.sink.delivered.Load() - before; got != uint64(len(tp.data)) || h.sink.dropped.Load() != 0 {
		t.Fatalf("delivered %d of %d, dropped %d", got, len(tp.data), h.sink.dropped.Load())
	}
}
