package comment

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Comment{}) }

// Comment is the comment match: always true, never run (rules.Passive).
type Comment struct{ text string }

var (
	_ rules.MatchModule = (*Comment)(nil)
	_ rules.Passive     = (*Comment)(nil)
)

// Module returns the plugin's registration.
func (Comment) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.comment", New: func() pipeline.Module { return new(Comment) }}
}

// Keys returns the rule key of the match.
func (*Comment) Keys() (keys, options []string) { return []string{"comment"}, nil }

// Decode reads the comment text (at most 256 bytes, as xt_comment).
func (m *Comment) Decode(d *rules.Decoder, kv config.KV) bool {
	s, ok := kv.Value.V.(string)
	if !ok {
		d.Errorf(kv.Pos, "comment: expected a string, got %s", config.Describe(kv.Value.V))
		return false
	}
	if len(s) > 255 {
		d.Errorf(kv.Pos, "comment: at most 255 bytes (this one has %d)", len(s))
		return false
	}
	m.text = s
	return true
}

// Passive marks the match as listing-only.
func (*Comment) Passive() {}

// Match is always true.
func (*Comment) Match(*packet.Packet) bool { return true }

// List shows "/* text */".
func (m *Comment) List(l *rules.Listing) { l.Comment = m.text }
