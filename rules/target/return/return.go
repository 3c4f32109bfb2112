package returnchain

import (
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Return{}) }

// Return is the return target.
type Return struct{}

var _ rules.TargetModule = (*Return)(nil)

// Module returns the plugin's registration.
func (Return) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.return", New: func() pipeline.Module { return new(Return) }}
}

// Options lists the target's rule keys: none.
func (*Return) Options() []string { return nil }

// Decode has nothing to read.
func (*Return) Decode(*rules.Decoder) bool { return true }

// Name is the listing's target column.
func (*Return) Name() string { return "RETURN" }

// Do returns the verdict.
func (*Return) Do(*packet.Packet) rules.Verdict { return rules.Return }
