package ct_state

import (
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(CTState{}) }

// CTState is the ct_state match.
type CTState struct {
	neg  bool
	mask uint8 // 1 << packet.CTState
}

var _ rules.MatchModule = (*CTState)(nil)

// Module returns the plugin's registration.
func (CTState) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.ct_state", New: func() pipeline.Module { return new(CTState) }}
}

// Keys returns the rule key of the match.
func (*CTState) Keys() (keys, options []string) { return []string{"ct_state"}, nil }

// Decode reads state names.
func (m *CTState) Decode(d *rules.Decoder, kv config.KV) bool {
	items, neg, err := rules.Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	for _, it := range items {
		s, _ := it.V.(string)
		st, ok := packet.ParseCTState(strings.ToLower(s))
		if !ok {
			sg := ""
			if x := config.Suggest(strings.ToLower(s), []string{"new", "established", "related", "invalid", "untracked"}); x != "" {
				sg = "; did you mean \"" + x + "\"?"
			}
			d.Errorf(kv.Pos, "ct_state: %s is not a state (new, established, related, invalid, untracked)%s", config.Describe(it.V), sg)
			return false
		}
		m.mask |= 1 << st
	}
	return true
}

// Match tests pkt.CTState.
func (m *CTState) Match(pkt *packet.Packet) bool {
	return (m.mask&(1<<pkt.CTState) != 0) != m.neg
}

// List shows "ctstate RELATED,ESTABLISHED" in libxt_conntrack's order.
func (m *CTState) List(l *rules.Listing) {
	var names []string
	for _, st := range []packet.CTState{packet.CTInvalid, packet.CTNew, packet.CTRelated, packet.CTEstablished, packet.CTUntracked} {
		if m.mask&(1<<st) != 0 {
			names = append(names, strings.ToUpper(st.String()))
		}
	}
	s := "ctstate "
	if m.neg {
		s = "! ctstate "
	}
	l.Matches = append(l.Matches, s+strings.Join(names, ","))
}
