package icmperr

import (
	"sync/atomic"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

func init() { pipeline.Register((*TTL)(nil)) }

var (
	_ pipeline.Stage       = (*TTL)(nil)
	_ pipeline.Provisioner = (*TTL)(nil)
	_ pipeline.Reloader    = (*TTL)(nil)
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
// Then, as ip_forward does next, the path MTU check for forwarded
// packets: DF set and larger than the egress interface's MTU (by the
// largest fragment when fwd reassembled the datagram, Linux's
// ip_exceeds_mtu) is rejected as frag-needed (drop.frag-needed, ICMP
// destination unreachable code 4 with the MTU, RFC 1191 §4). Doing it
// here rather than only in the mtu stage at the end of Postrouting
// matters with SNAT: the error must quote the datagram as its sender
// wrote it and go back to that sender, not to fwd's own translated
// address. The mtu stage still checks what fwd sends itself.
//
// In NFQUEUE mode the stage does nothing: the kernel's ip_forward checks,
// decrements and answers TTL expiry and frag-needed itself around the
// hooks fwd sees, so fwd must not decrement a second time.
type TTL struct {
	cfg atomic.Pointer[ttlCfg] // swapped whole by a reload while workers read it
}

type ttlCfg struct {
	kernelForwards bool
	mtu            []int // by interface index
}

// Module implements pipeline.Module.
func (*TTL) Module() pipeline.ModuleInfo {
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
	t.cfg.Store(ttlConfig(ctx.Env.Config))
	return nil
}

func ttlConfig(c *config.Config) *ttlCfg {
	if c == nil {
		return &ttlCfg{}
	}
	return &ttlCfg{kernelForwards: c.Dataplane.Mode == "nfqueue", mtu: c.MTUs()}
}

// PrepareReload implements pipeline.Reloader.
func (t *TTL) PrepareReload(c *config.Config) (func(), error) {
	n := ttlConfig(c)
	return func() { t.cfg.Store(n) }, nil
}

const (
	noteTTL        = "TTL exceeded in transit"
	noteFragNeeded = "DF set and larger than the egress MTU"
)

// Process implements pipeline.Stage.
func (t *TTL) Process(pkt *packet.Packet) pipeline.Verdict {
	cfg := t.cfg.Load()
	if cfg.kernelForwards {
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
	if i := int(pkt.OutIf); i >= 0 && i < len(cfg.mtu) && cfg.mtu[i] > 0 && ip.DontFragment() {
		big := len(pkt.Data)
		if pkt.MaxFrag != 0 {
			big = int(pkt.MaxFrag)
		}
		if big > cfg.mtu[i] {
			pkt.Drop = packet.DropMTU
			pkt.RejectWith = packet.RejectFragNeeded
			if pkt.Trace {
				pkt.Note = noteFragNeeded
			}
			return pipeline.Reject
		}
	}
	ip.DecrementTTL()
	pkt.Parsed.TTL--
	return pipeline.Continue
}
