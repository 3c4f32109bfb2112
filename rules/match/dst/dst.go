package dst

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Dst{}) }

// Dst is the dst match.
type Dst struct{ rules.AddrMatch }

var (
	_ rules.MatchModule = (*Dst)(nil)
	_ rules.Indexable   = (*Dst)(nil)
)

// Module returns the plugin's registration.
func (Dst) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.dst", New: func() pipeline.Module { return new(Dst) }}
}

// Keys returns the rule key of the match.
func (*Dst) Keys() (keys, options []string) { return []string{"dst"}, nil }

// Decode configures the match from the rule key.
func (m *Dst) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeAddr(d, kv, rules.FieldDst) }
