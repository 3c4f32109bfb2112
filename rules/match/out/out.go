package out

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Out{}) }

// Out is the out match.
type Out struct{ rules.IfMatch }

var (
	_ rules.MatchModule = (*Out)(nil)
)

// Module returns the plugin's registration.
func (Out) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.out", New: func() pipeline.Module { return new(Out) }}
}

// Keys returns the rule key of the match.
func (*Out) Keys() (keys, options []string) { return []string{"out"}, nil }

// Decode configures the match from the rule key.
func (m *Out) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeIf(d, kv, true) }
