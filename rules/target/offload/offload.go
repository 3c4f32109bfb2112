package offload

import (
	"sync/atomic"

	"fwd/conntrack"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register((*Offload)(nil)) }

// Offload is the offload target.
type Offload struct {
	env *pipeline.Env
	ft  atomic.Pointer[offloader]
}

// offloader is the flowtable stage (flowtable.Stage), found in the
// pipeline's Env: it puts a connection on its fast path.
type offloader interface {
	Offload(c *conntrack.Conn) bool
}

var _ rules.TargetModule = (*Offload)(nil)

// Module returns the plugin's registration.
func (*Offload) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.offload", New: func() pipeline.Module { return new(Offload) }}
}

// Options lists the target's rule keys: none.
func (*Offload) Options() []string { return nil }

// Decode checks the place: the filter table's forward chain (and user
// chains reached only from it), where Linux's flowtable is fed too.
func (t *Offload) Decode(d *rules.Decoder) bool {
	akv, _ := d.Get("action")
	t.env = d.Env
	return d.CheckPlace(akv.Pos, "offload", "filter", packet.Forward.Mask())
}

// Name is the listing's target column, as OpenWrt's iptables shows it.
func (*Offload) Name() string { return "FLOWOFFLOAD" }

func (t *Offload) table() offloader {
	if f := t.ft.Load(); f != nil {
		return *f
	}
	if t.env == nil || t.env.KernelRoutes {
		// Without a pipeline, or in NFQUEUE mode where the kernel
		// forwards and there is no fast path: nothing is offloaded, so
		// conntrack -L does not show [OFFLOAD] for what is not.
		return nil
	}
	f, _ := t.env.Lookup("flowtable.stage").(offloader)
	if f != nil {
		t.ft.Store(&f)
	}
	return f
}

// Do offloads the packet's connection when conntrack allows it (see
// conntrack.Table.Offload) and goes on with the next rule. A packet of a
// connection already offloaded that still reaches the rules (one the
// fast path could not finish) costs nothing more.
func (t *Offload) Do(pkt *packet.Packet) rules.Verdict {
	if pkt.CTState != packet.CTEstablished || pkt.CTStatus&packet.CTStatusOffload != 0 {
		return rules.Continue
	}
	c, _ := pkt.CT.(*conntrack.Conn)
	if tab := t.table(); c != nil && tab != nil && tab.Offload(c) {
		pkt.CTStatus |= packet.CTStatusOffload
	}
	return rules.Continue
}
