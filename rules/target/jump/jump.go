package jump

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Jump{}) }

// Jump is the jump target.
type Jump struct {
	chain string
	pos   config.Pos
}

var (
	_ rules.TargetModule = (*Jump)(nil)
	_ rules.JumpTarget   = (*Jump)(nil)
)

// Module returns the plugin's registration.
func (Jump) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.jump", New: func() pipeline.Module { return new(Jump) }}
}

// Options lists the target's rule keys.
func (*Jump) Options() []string { return []string{"target"} }

// Decode reads the chain name (Compile has checked it exists).
func (t *Jump) Decode(d *rules.Decoder) bool {
	kv, ok := d.Get("target")
	if !ok {
		return false
	}
	t.chain, _ = kv.Value.V.(string)
	t.pos = kv.Pos
	return t.chain != ""
}

// Name is the listing's target column (the walk shows the chain instead).
func (t *Jump) Name() string { return t.chain }

// JumpTo names the chain.
func (t *Jump) JumpTo() (string, config.Pos, bool) { return t.chain, t.pos, false }

// Do is not called: the walk follows jumps itself.
func (*Jump) Do(*packet.Packet) rules.Verdict { return rules.Jump }
