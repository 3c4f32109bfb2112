package rules

import (
	"fwd/config"
	"fwd/packet"
)

// ChainTarget is the body of the jump and goto targets, which differ only
// in whether the walk returns to the calling chain: a plugin embeds it and
// sets Goto.
type ChainTarget struct {
	Goto  bool
	chain string
	pos   config.Pos
}

// Options lists the target's rule keys.
func (*ChainTarget) Options() []string { return []string{"target"} }

// Decode reads the chain name (Compile has checked it exists).
func (t *ChainTarget) Decode(d *Decoder) bool {
	kv, ok := d.Get("target")
	if !ok {
		return false
	}
	t.chain, _ = kv.Value.V.(string)
	t.pos = kv.Pos
	return t.chain != ""
}

// Name is the listing's target column (the walk shows the chain instead).
func (t *ChainTarget) Name() string { return t.chain }

// JumpTo names the chain and says whether this is a goto.
func (t *ChainTarget) JumpTo() (string, config.Pos, bool) { return t.chain, t.pos, t.Goto }

// Do is not called: the walk follows jumps and gotos itself.
func (t *ChainTarget) Do(*packet.Packet) Verdict {
	if t.Goto {
		return Goto
	}
	return Jump
}
