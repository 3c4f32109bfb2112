package gotochain

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Goto{}) }

// Goto is the goto target.
type Goto struct {
	chain string
	pos   config.Pos
}

var (
	_ rules.TargetModule = (*Goto)(nil)
	_ rules.JumpTarget   = (*Goto)(nil)
)

// Module returns the plugin's registration.
func (Goto) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.goto", New: func() pipeline.Module { return new(Goto) }}
}

// Options lists the target's rule keys.
func (*Goto) Options() []string { return []string{"target"} }

// Decode reads the chain name (Compile has checked it exists).
func (t *Goto) Decode(d *rules.Decoder) bool {
	kv, ok := d.Get("target")
	if !ok {
		return false
	}
	t.chain, _ = kv.Value.V.(string)
	t.pos = kv.Pos
	return t.chain != ""
}

// Name is the listing's target column (the walk shows the chain instead).
func (t *Goto) Name() string { return t.chain }

// JumpTo names the chain.
func (t *Goto) JumpTo() (string, config.Pos, bool) { return t.chain, t.pos, true }

// Do is not called: the walk follows jumps itself.
func (*Goto) Do(*packet.Packet) rules.Verdict { return rules.Goto }
