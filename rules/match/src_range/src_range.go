package src_range

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(SrcRange{}) }

// SrcRange is the src_range match.
type SrcRange struct{ rules.RangeMatch }

var _ rules.MatchModule = (*SrcRange)(nil)

// Module returns the plugin's registration.
func (SrcRange) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.src_range", New: func() pipeline.Module { return new(SrcRange) }}
}

// Keys returns the rule key of the match.
func (*SrcRange) Keys() (keys, options []string) { return []string{"src_range"}, nil }

// Decode configures the match from the rule key.
func (m *SrcRange) Decode(d *rules.Decoder, kv config.KV) bool {
	return m.DecodeRange(d, kv, rules.FieldSrc)
}
