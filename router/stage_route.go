package router

import (
	"fwd/packet"
	"fwd/pipeline"
)

func init() { pipeline.Register(RouteStage{}) }

// RouteStage is the routing decision. At Prerouting it sends packets for
// the router's own addresses to Input and others to Forward with OutIf and
// NextHop set; a destination with no route is rejected with ICMP net
// unreachable (RFC 1812 §5.2.7.1). At Output it routes packets fwd made.
//
// Packets that arrive with OutIf already set by the device (NFQUEUE: the
// kernel routed them) keep it; the stage only picks the hook.
type RouteStage struct {
	table  *Table
	hook   packet.Hook
	kernel bool // NFQUEUE mode: what fwd cannot route, the kernel will
}

// Module implements pipeline.Module.
func (RouteStage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.route", New: func() pipeline.Module { return new(RouteStage) }}
}

// Provision builds (or shares) the routing table.
func (s *RouteStage) Provision(ctx *pipeline.Context) error {
	s.hook = ctx.Hook
	s.kernel = ctx.KernelRoutes
	v, err := ctx.Shared("router.table", func() (any, error) { return NewTable(ctx.Config) })
	if err != nil {
		return err
	}
	s.table = v.(*Table)
	return nil
}

// Name implements pipeline.Stage.
func (s *RouteStage) Name() string { return "route" }

// Process implements pipeline.Stage.
func (s *RouteStage) Process(pkt *packet.Packet) pipeline.Verdict {
	dst := pkt.Parsed.Dst
	if s.hook == packet.Output {
		if pkt.OutIf != packet.NoIf {
			return pipeline.Continue
		}
		r := s.table.Lookup(dst)
		if r == nil || r.Local {
			if s.kernel {
				return pipeline.Continue
			}
			pkt.Drop = packet.DropNoRoute
			return pipeline.Drop
		}
		pkt.OutIf = int16(r.Dev)
		pkt.NextHop = r.NextHop(dst)
		return pipeline.Continue
	}
	if pkt.OutIf != packet.NoIf {
		pkt.Hook = packet.Forward
		return pipeline.Continue
	}
	if dst == [4]byte{255, 255, 255, 255} {
		pkt.Hook = packet.Input // the limited broadcast is never forwarded (RFC 1812 §5.3.5.1)
		return pipeline.Continue
	}
	r := s.table.Lookup(dst)
	switch {
	case r == nil && s.kernel:
		pkt.Hook = packet.Forward // the kernel's routing table decides
		return pipeline.Continue
	case r == nil:
		pkt.Drop = packet.DropNoRoute
		pkt.RejectWith = packet.RejectNetUnreach
		return pipeline.Reject
	case r.Local:
		pkt.Hook = packet.Input
		return pipeline.Continue
	case isBroadcast(dst, r):
		// A directed broadcast or the limited broadcast: not forwarded
		// (RFC 2644), delivered locally.
		pkt.Hook = packet.Input
		return pipeline.Continue
	}
	pkt.OutIf = int16(r.Dev)
	pkt.NextHop = r.NextHop(dst)
	pkt.Hook = packet.Forward
	return pipeline.Continue
}

func isBroadcast(dst [4]byte, r *Route) bool {
	if r.HasVia || r.mask == ^uint32(0) || r.mask == 0 {
		return false
	}
	d := uint32(dst[0])<<24 | uint32(dst[1])<<16 | uint32(dst[2])<<8 | uint32(dst[3])
	return d|r.mask == ^uint32(0)
}

// Forwarding returns the route a packet to dst is forwarded by, as the
// route stage at PREROUTING decides it, or nil when the stage would not
// forward it (no route, one of the router's addresses, a broadcast).
func (t *Table) Forwarding(dst [4]byte) *Route {
	if dst == [4]byte{255, 255, 255, 255} {
		return nil
	}
	r := t.Lookup(dst)
	if r == nil || r.Local || isBroadcast(dst, r) {
		return nil
	}
	return r
}
