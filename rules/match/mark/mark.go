package mark

import (
	"fwd/config"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Mark{}) }

// Mark is the mark match.
type Mark struct{ rules.MarkMatch }

var _ rules.MatchModule = (*Mark)(nil)

// Module returns the plugin's registration.
func (Mark) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.mark", New: func() pipeline.Module { return new(Mark) }}
}

// Keys returns the rule key of the match.
func (*Mark) Keys() (keys, options []string) { return []string{"mark"}, nil }

// Decode configures the match from the rule key.
func (m *Mark) Decode(d *rules.Decoder, kv config.KV) bool { return m.DecodeMark(d, kv, false) }
