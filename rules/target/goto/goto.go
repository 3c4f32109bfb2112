package gotochain

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Goto{}) }

// Goto is the goto target: walk another chain and do not come back.
type Goto struct{ rules.ChainTarget }

var (
	_ rules.TargetModule = (*Goto)(nil)
	_ rules.JumpTarget   = (*Goto)(nil)
)

// Module returns the plugin's registration.
func (Goto) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.goto", New: func() pipeline.Module { return &Goto{rules.ChainTarget{Goto: true}} }}
}
