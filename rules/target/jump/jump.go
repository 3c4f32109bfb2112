package jump

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Jump{}) }

// Jump is the jump target: walk another chain, then come back.
type Jump struct{ rules.ChainTarget }

var (
	_ rules.TargetModule = (*Jump)(nil)
	_ rules.JumpTarget   = (*Jump)(nil)
)

// Module returns the plugin's registration.
func (Jump) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.jump", New: func() pipeline.Module { return new(Jump) }}
}
