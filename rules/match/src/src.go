package src

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Src{}) }

// Src is the src match.
type Src struct{ rules.AddrMatch }

var (
	_ rules.MatchModule = (*Src)(nil)
	_ rules.Indexable   = (*Src)(nil)
)

// Module returns the plugin's registration.
func (Src) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.src", New: func() pipeline.Module { return new(Src) }}
}

// Keys returns the rule key of the match.
func (*Src) Keys() (keys, options []string) { return []string{"src"}, nil }

// Decode configures the match from the rule key.
func (m *Src) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeAddr(d, kv, rules.FieldSrc) }
