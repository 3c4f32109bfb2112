package in

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(In{}) }

// In is the in match.
type In struct{ rules.IfMatch }

var (
	_ rules.MatchModule = (*In)(nil)
)

// Module returns the plugin's registration.
func (In) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.in", New: func() pipeline.Module { return new(In) }}
}

// Keys returns the rule key of the match.
func (*In) Keys() (keys, options []string) { return []string{"in"}, nil }

// Decode configures the match from the rule key.
func (m *In) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeIf(d, kv, false) }
