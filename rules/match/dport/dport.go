package dport

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Dport{}) }

// Dport is the dport match.
type Dport struct{ rules.PortMatch }

var (
	_ rules.MatchModule = (*Dport)(nil)
	_ rules.Indexable   = (*Dport)(nil)
)

// Module returns the plugin's registration.
func (Dport) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.dport", New: func() pipeline.Module { return new(Dport) }}
}

// Keys returns the rule key of the match.
func (*Dport) Keys() (keys, options []string) { return []string{"dport"}, nil }

// Decode configures the match from the rule key.
func (m *Dport) Decode(d *rules.Decoder, kv config.KV) bool {
	return m.DecodePort(d, kv, rules.FieldDport)
}
