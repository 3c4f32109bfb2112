package sport

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Sport{}) }

// Sport is the sport match.
type Sport struct{ rules.PortMatch }

var (
	_ rules.MatchModule = (*Sport)(nil)
	_ rules.Indexable   = (*Sport)(nil)
)

// Module returns the plugin's registration.
func (Sport) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.sport", New: func() pipeline.Module { return new(Sport) }}
}

// Keys returns the rule key of the match.
func (*Sport) Keys() (keys, options []string) { return []string{"sport"}, nil }

// Decode configures the match from the rule key.
func (m *Sport) Decode(d *rules.Decoder, kv config.KV) bool {
	return m.DecodePort(d, kv, rules.FieldSport)
}
