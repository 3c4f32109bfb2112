package flowtable

import (
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
	_ pipeline.Selective   = (*Stage)(nil)
	_ pipeline.Idler       = (*Stage)(nil)
	_ pipeline.Reloader    = (*Stage)(nil)
)

// Stage is "stage.flowtable".
type Stage struct {
	ct     *conntrack.Table
	routes *router.Table
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

// CountersKey is the pipeline.Env key the stage is provided under, for
// the daemon's metrics.
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

// Selects implements pipeline.Selective: only offloaded connections'
// packets have work here.
func (*Stage) Selects() pipeline.Selection { return pipeline.SelectOffloaded }

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

// Process implements pipeline.Stage. It finishes the packet's path or
// leaves it as it was for the slow path.
func (s *Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	c, _ := pkt.CT.(*conntrack.Conn)
	if c == nil || pkt.CTState != packet.CTEstablished || pkt.CTStatus&packet.CTStatusOffload == 0 {
		return pipeline.Continue
	}
	p := &pkt.Parsed
	switch p.Proto {
	case packet.TCP:
		if p.TCPFlags&(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST) != 0 {
			return pipeline.Continue
		}
	case packet.UDP:
	default:
		return pipeline.Continue
	}
	ip := pkt.IP()
	if ip.TTL() <= 1 {
		return pipeline.Continue // the slow path sends time exceeded
	}
	// Where the packet goes after NAT: the other direction's source.
	translated := pkt.CTStatus&(packet.CTStatusSNAT|packet.CTStatusDNAT) != 0
	dst := p.Dst
	if translated {
		ts := c.Tuples()
		if pkt.CTReply {
			dst = ts[conntrack.Original].Src
		} else {
			dst = ts[conntrack.Reply].Src
		}
	}
	r := s.routes.Forwarding(dst)
	if r == nil {
		return pipeline.Continue
	}
	// The packet must come in where its source is routed (Linux's
	// flowtable matches the input interface too): one with a
	// connection's tuple on another interface, spoofed or on an
	// asymmetric path, is for the rules to judge.
	if back := s.routes.Lookup(p.Src); back == nil || back.Local || back.Dev != int(pkt.InIf) {
		return pipeline.Continue
	}
	if mtu := *s.mtu.Load(); r.Dev < len(mtu) && mtu[r.Dev] > 0 && !fits(pkt, ip, mtu[r.Dev]) {
		return pipeline.Continue // fragmentation needed, or refragmentation
	}
	if translated {
		nat.RewriteForward(pkt, c) // both ends and the TTL, each checksum once
	} else {
		ip.DecrementTTL()
		p.TTL--
	}
	pkt.OutIf = int16(r.Dev)
	pkt.NextHop = r.NextHop(dst)
	pkt.Hook = packet.Done
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
