package flowtable

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"
)

func init() { pipeline.Register((*Stage)(nil)) }

var (
	_ pipeline.Provisioner = (*Stage)(nil)
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Prefetcher  = (*Stage)(nil)
	_ pipeline.Idler       = (*Stage)(nil)
	_ pipeline.Reloader    = (*Stage)(nil)
)

// Stage is "stage.flowtable": Linux's flowtable at the ingress hook. It
// runs right after reassembly, before conntrack and every table: a packet
// of an offloaded connection, found in the flow table by its tuple and
// input interface, is rewritten (NAT both ends, TTL), routed and handed
// to the device at once. Any other packet goes on untouched.
type Stage struct {
	ct     *conntrack.Table
	routes *router.Table
	clock  pipeline.Clock
	table  *Table
	mtu    atomic.Pointer[[]int] // by interface index; swapped by a reload
	kernel bool
	// used: some rule offloads (action = "offload"); without one the
	// stage is idle and traces do not show it.
	used bool

	// Packets and bytes that took the fast path, striped by worker
	// (pkt.Worker) a cache line apart, as the rule counters are.
	count []atomic.Uint64
	mask  uint32
}

const stride = 8 // uint64s per stripe: a cache line

// refreshEvery is how often, at most, the fast path hands a direction's
// counters to conntrack and restarts the connection's timeout
// (conntrack.Table.Refresh), which takes the connection's lock. Linux's
// flow_offload_refresh likewise writes a flow's timeout only when it has
// moved by more than a second (HZ); conntrack -L's timeout and counters
// stay exact to the second (Pending adds the counts in between).
const refreshEvery = int64(1e9)

// Module implements pipeline.Module.
func (*Stage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.flowtable", New: func() pipeline.Module { return new(Stage) }}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "flowtable" }

// Provision takes the conntrack table and the routing table.
func (s *Stage) Provision(ctx *pipeline.Context) error {
	s.kernel = ctx.KernelRoutes
	ct, err := conntrack.FromEnv(ctx.Env)
	if err != nil {
		return err
	}
	s.ct = ct
	s.clock = ctx.Env.Clock
	if !s.kernel {
		// One flow table per conntrack table, as the stages of every
		// pipeline built on the Env share conntrack's.
		v, err := ctx.Shared("flowtable.table", func() (any, error) {
			t := newTable(ctx.Config.Conntrack.MaxEntries)
			ct.SetFlowTable(t)
			return t, nil
		})
		if err != nil {
			return err
		}
		s.table = v.(*Table)
	}
	v, err := ctx.Shared("router.table", func() (any, error) { return router.NewTable(ctx.Config) })
	if err != nil {
		return err
	}
	s.routes = v.(*router.Table)
	m := ctx.Config.MTUs()
	s.mtu.Store(&m)
	s.used = offloads(ctx.Config)
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n <<= 1
	}
	s.count = make([]atomic.Uint64, n*stride)
	s.mask = uint32(n - 1)
	if _, err := ctx.Shared(CountersKey, func() (any, error) { return s, nil }); err != nil {
		return err
	}
	return nil
}

// CountersKey is the pipeline.Env key the stage is provided under: the
// daemon's metrics read its counters, and the offload target calls its
// Offload.
const CountersKey = "flowtable.stage"

// offloads reports whether a rule of cfg has action = "offload".
func offloads(cfg *config.Config) bool {
	if cfg == nil {
		return false
	}
	for _, ch := range cfg.Chains {
		for _, r := range ch.Rules {
			for _, kv := range r.Keys {
				if kv.Key == "action" && kv.Value.V == "offload" {
					return true
				}
			}
		}
	}
	return false
}

// Idle implements pipeline.Idler: idle when no rule offloads, and in
// NFQUEUE mode, where the kernel forwards.
func (s *Stage) Idle() bool { return s.kernel || !s.used }

// PrepareReload takes the new MTUs; the commit takes every connection off
// the fast path, for the new rules to decide on again.
func (s *Stage) PrepareReload(cfg *config.Config) (func(), error) {
	m := cfg.MTUs()
	used := offloads(cfg)
	return func() {
		s.mtu.Store(&m)
		s.used = used // read by the pipeline's refresh after the commits, under its reload lock
		s.ct.ClearOffload()
	}, nil
}

// Counters returns the packets and bytes that took the fast path.
func (s *Stage) Counters() (pkts, bytes uint64) {
	for b := 0; b < len(s.count); b += stride {
		pkts += s.count[b].Load()
		bytes += s.count[b+1].Load()
	}
	return
}

// Offload puts c on the fast path, if conntrack allows it (see
// conntrack.Table.Offload): an entry for each direction, keyed by the
// tuple its packets carry and the interface they must arrive on (where
// their source is routed: Linux's flowtable matches the input interface
// too, so a packet with the connection's tuple on another interface, on
// an asymmetric path or spoofed, is for the rules to judge), holding what
// they become (the other direction's tuple inverted: NAT at both ends),
// where they go and the MTU there. It reports whether c is offloaded.
// In NFQUEUE mode nothing is: the kernel forwards.
func (s *Stage) Offload(c *conntrack.Conn) bool {
	if s.kernel || s.table == nil {
		return false
	}
	mtus := *s.mtu.Load()
	now := s.clock.Now()
	return s.ct.Offload(c, func(c *conntrack.Conn) bool {
		var fs [2]flow
		ts := c.Tuples()
		for d := range 2 {
			key, other := ts[d], &ts[1-d]
			to := conntrack.Tuple{Src: other.Dst, Dst: other.Src, SrcPort: other.DstPort, DstPort: other.SrcPort, Proto: key.Proto}
			r := s.routes.Forwarding(to.Dst)
			if r == nil {
				return false
			}
			back := s.routes.Lookup(key.Src)
			if back == nil || back.Local {
				return false
			}
			mtu := 0
			if r.Dev < len(mtus) {
				mtu = mtus[r.Dev]
			}
			fs[d] = flow{key: key, in: int16(back.Dev), out: int16(r.Dev), to: to,
				nextHop: r.NextHop(to.Dst), mtu: mtu, ref: c.Ref(), gen: c.Gen(), dir: d, now: now}
		}
		return s.table.add(&fs)
	})
}

// Table returns the flow table (nil in NFQUEUE mode).
func (s *Stage) Table() *Table { return s.table }

// Prefetch implements pipeline.Prefetcher: the bucket of every TCP and
// UDP packet of the batch, then the first entry of its chain, so the
// lookups' misses overlap.
func (s *Stage) Prefetch(batch []*packet.Packet, sub []int32) {
	t := s.table
	if len(sub) < 2 || t == nil {
		return
	}
	for _, i := range sub {
		pkt := batch[i]
		if p := pkt.Parsed.Proto; p != packet.TCP && p != packet.UDP {
			continue
		}
		h := t.hash(pktKeys(pkt))
		pkt.FlowHash = h
		t.prefetchBucket(h)
	}
	for _, i := range sub {
		if pkt := batch[i]; pkt.FlowHash != 0 {
			t.prefetchEntry(pkt.FlowHash, pkt.Worker)
		}
	}
}

// Process implements pipeline.Stage. It finishes the packet's path or
// leaves it as it was for the slow path.
func (s *Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	h := pkt.FlowHash
	pkt.FlowHash = 0
	p := &pkt.Parsed
	if p.Proto != packet.TCP && p.Proto != packet.UDP {
		return pipeline.Continue
	}
	t := s.table
	if t == nil {
		return pipeline.Continue // NFQUEUE mode: the kernel forwards
	}
	k0, k1 := pktKeys(pkt)
	if h == 0 {
		h = t.hash(k0, k1)
	}
	var f hit
	if !t.lookup(k0, k1, h, &f) {
		return pipeline.Continue
	}
	ip := pkt.IP()
	// The slow path's cases: the connection leaves the fast path first,
	// and conntrack takes the packet as it would any other.
	if p.Proto == packet.TCP && p.TCPFlags&(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST) != 0 ||
		ip.TTL() <= 1 || // time exceeded
		f.mtu() > 0 && !fits(pkt, ip, f.mtu()) { // fragmentation needed, or refragmentation
		s.ct.Teardown(f.ref, f.gen())
		if pkt.Trace {
			pkt.Note = "offload torn down: the slow path"
		}
		return pipeline.Continue
	}
	if f.nat() {
		var to conntrack.Tuple
		binary.LittleEndian.PutUint32(to.Src[:], uint32(f.to0))
		binary.LittleEndian.PutUint32(to.Dst[:], uint32(f.to0>>32))
		to.SrcPort, to.DstPort = uint16(f.to1), uint16(f.to1>>16)
		ipd, l4d := f.deltas()
		nat.RewriteWith(pkt, &to, ipd, l4d) // both ends and the TTL, each checksum once
	} else {
		ip.DecrementTTL()
		p.TTL--
	}
	pkt.OutIf = f.outIf()
	pkt.NextHop = f.nextHop()
	pkt.Hook = packet.Done
	st := f.stat(pkt.Worker, t)
	st.packets.Add(1)
	st.bytes.Add(uint64(p.Length))
	if now := s.clock.Now(); now-st.used.Load() >= refreshEvery {
		// Several workers may share a stripe: one of them hands over.
		if old := st.used.Load(); now-old >= refreshEvery && st.used.CompareAndSwap(old, now) {
			s.ct.Refresh(f.ref, f.gen(), f.dir(), st.packets.Swap(0), st.bytes.Swap(0), now)
		}
	}
	b := int(uint32(pkt.Worker)&s.mask) * stride
	s.count[b].Add(1)
	s.count[b+1].Add(uint64(len(pkt.Data)))
	if pkt.Trace {
		pkt.Note = "offloaded: the whole path at once"
	}
	return pipeline.Continue
}

// fits reports whether the mtu stage would let pkt through unchanged: it
// is no larger than the MTU, or it is a super-frame (a reassembled or
// segmentation-offload datagram with DF) whose pieces are.
func fits(pkt *packet.Packet, ip header.IPv4, mtu int) bool {
	mf := int(pkt.MaxFrag)
	if len(pkt.Data) <= mtu && mf <= mtu {
		return true
	}
	return mf != 0 && mf <= mtu && ip.DontFragment()
}
