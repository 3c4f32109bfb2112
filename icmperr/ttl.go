package icmperr

import (
	"fwd/packet"
	"fwd/pipeline"
)

func init() { pipeline.Register(TTL{}) }

var (
	_ pipeline.Stage       = (*TTL)(nil)
	_ pipeline.Provisioner = (*TTL)(nil)
)

// TTL is the forwarding TTL stage ("stage.ttl", first at Forward, as
// Linux's ip_forward checks before the FORWARD hook). RFC 1812 §5.3.1:
// "If the TTL is reduced to zero (or less), the packet MUST be discarded,
// and if the destination is not a multicast address the router MUST send
// an ICMP Time Exceeded message, Code 0 (TTL Exceeded in Transit) message
// to the source." A packet arriving with TTL 0 or 1 is therefore rejected
// (drop.ttl-expired, time exceeded code 0 — what traceroute reads);
// others have their TTL decremented with the RFC 1624 checksum update.
//
// In NFQUEUE mode the stage does nothing: the kernel's ip_forward checks,
// decrements and answers TTL expiry itself around the hooks fwd sees, so
// fwd must not decrement a second time.
type TTL struct {
	kernelForwards bool
}

// Module implements pipeline.Module.
func (TTL) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.ttl", New: func() pipeline.Module { return new(TTL) }}
}

// Name implements pipeline.Stage.
func (*TTL) Name() string { return "ttl" }

// Provision implements pipeline.Provisioner: linking icmperr is enough to
// have Reject verdicts answered, so the stage installs the Generator when
// nobody set a Rejecter.
func (t *TTL) Provision(ctx *pipeline.Context) error {
	if ctx.Env.Rejecter == nil {
		Install(ctx.Env)
	}
	t.kernelForwards = ctx.Env.Config != nil && ctx.Env.Config.Dataplane.Mode == "nfqueue"
	return nil
}

const noteTTL = "TTL exceeded in transit"

// Process implements pipeline.Stage.
func (t *TTL) Process(pkt *packet.Packet) pipeline.Verdict {
	if t.kernelForwards {
		return pipeline.Continue
	}
	ip := pkt.IP()
	if ip.TTL() <= 1 {
		pkt.Drop = packet.DropTTLExpired
		pkt.RejectWith = packet.RejectTTLExceeded
		if pkt.Trace {
			pkt.Note = noteTTL
		}
		return pipeline.Reject
	}
	ip.DecrementTTL()
	pkt.Parsed.TTL--
	return pipeline.Continue
}
