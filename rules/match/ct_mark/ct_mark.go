package ct_mark

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(CTMark{}) }

// CTMark is the ct_mark match.
type CTMark struct{ rules.MarkMatch }

var _ rules.MatchModule = (*CTMark)(nil)

// Module returns the plugin's registration.
func (CTMark) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.ct_mark", New: func() pipeline.Module { return new(CTMark) }}
}

// Keys returns the rule key of the match.
func (*CTMark) Keys() (keys, options []string) { return []string{"ct_mark"}, nil }

// Decode configures the match from the rule key.
func (m *CTMark) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeMark(d, kv, true) }
