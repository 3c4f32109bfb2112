package accept

import (
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Accept{}) }

// Accept is the accept target.
type Accept struct{}

var _ rules.TargetModule = (*Accept)(nil)

// Module returns the plugin's registration.
func (Accept) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.accept", New: func() pipeline.Module { return new(Accept) }}
}

// Options lists the target's rule keys: none.
func (*Accept) Options() []string { return nil }

// Decode has nothing to read.
func (*Accept) Decode(*rules.Decoder) bool { return true }

// Name is the listing's target column.
func (*Accept) Name() string { return "ACCEPT" }

// Do returns the verdict.
func (*Accept) Do(*packet.Packet) rules.Verdict { return rules.Accept }
