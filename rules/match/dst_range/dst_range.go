package dst_range

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(DstRange{}) }

// DstRange is the dst_range match.
type DstRange struct{ rules.RangeMatch }

var _ rules.MatchModule = (*DstRange)(nil)

// Module returns the plugin's registration.
func (DstRange) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.dst_range", New: func() pipeline.Module { return new(DstRange) }}
}

// Keys returns the rule key of the match.
func (*DstRange) Keys() (keys, options []string) { return []string{"dst_range"}, nil }

// Decode configures the match from the rule key.
func (m *DstRange) Decode(d *rules.Decoder, kv config.KV) bool {
	return m.DecodeRange(d, kv, rules.FieldDst)
}
