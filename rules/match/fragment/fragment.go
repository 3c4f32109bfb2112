package fragment

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Fragment{}) }

// Fragment is the fragment match.
type Fragment struct{ want bool }

var _ rules.MatchModule = (*Fragment)(nil)

// Module returns the plugin's registration.
func (Fragment) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.fragment", New: func() pipeline.Module { return new(Fragment) }}
}

// Keys returns the rule key of the match.
func (*Fragment) Keys() (keys, options []string) { return []string{"fragment"}, nil }

// Decode reads a boolean.
func (m *Fragment) Decode(d *rules.Decoder, kv config.KV) bool {
	b, ok := kv.Value.V.(bool)
	if !ok {
		d.Errorf(kv.Pos, "fragment: expected true or false, got %s", config.Describe(kv.Value.V))
		return false
	}
	m.want = b
	return true
}

// Match tests for a non-first fragment (fragment offset not zero).
func (m *Fragment) Match(pkt *packet.Packet) bool {
	if pkt.Parsed.Proto == packet.Unknown {
		return false
	}
	return (pkt.Parsed.FragOff&0x1fff != 0) == m.want
}

// List fills the opt column: "-f" or "!f".
func (m *Fragment) List(l *rules.Listing) {
	l.Frag = true
	l.FragInv = !m.want
}
