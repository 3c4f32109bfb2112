package drop

import (
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Drop{}) }

// Drop is the drop target.
type Drop struct{}

var _ rules.TargetModule = (*Drop)(nil)

// Module returns the plugin's registration.
func (Drop) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.drop", New: func() pipeline.Module { return new(Drop) }}
}

// Options lists the target's rule keys: none.
func (*Drop) Options() []string { return nil }

// Decode has nothing to read.
func (*Drop) Decode(*rules.Decoder) bool { return true }

// Name is the listing's target column.
func (*Drop) Name() string { return "DROP" }

// Do returns the verdict.
func (*Drop) Do(*packet.Packet) rules.Verdict { return rules.Drop }
