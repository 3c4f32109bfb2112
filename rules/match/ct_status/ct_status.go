package ct_status

import (
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(CTStatus{}) }

// CTStatus is the ct_status match.
type CTStatus struct {
	neg  bool
	mask packet.CTStatus
}

var _ rules.MatchModule = (*CTStatus)(nil)

var names = []struct {
	name string
	bit  packet.CTStatus
}{
	{"expected", packet.CTStatusExpected},
	{"seen_reply", packet.CTStatusSeenReply},
	{"assured", packet.CTStatusAssured},
	{"confirmed", packet.CTStatusConfirmed},
	{"snat", packet.CTStatusSNAT},
	{"dnat", packet.CTStatusDNAT},
	{"offload", packet.CTStatusOffload},
}

// Module returns the plugin's registration.
func (CTStatus) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.ct_status", New: func() pipeline.Module { return new(CTStatus) }}
}

// Keys returns the rule key of the match.
func (*CTStatus) Keys() (keys, options []string) { return []string{"ct_status"}, nil }

// Decode reads status names.
func (m *CTStatus) Decode(d *rules.Decoder, kv config.KV) bool {
	items, neg, err := rules.Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	var all []string
	for _, n := range names {
		all = append(all, n.name)
	}
	for _, it := range items {
		s, _ := it.V.(string)
		found := false
		for _, n := range names {
			if strings.EqualFold(s, n.name) {
				m.mask |= n.bit
				found = true
			}
		}
		if !found {
			d.Errorf(kv.Pos, "ct_status: %s is not a status (%s)", config.Describe(it.V), strings.Join(all, ", "))
			return false
		}
	}
	return true
}

// Match tests pkt.CTStatus.
func (m *CTStatus) Match(pkt *packet.Packet) bool {
	return (pkt.CTStatus&m.mask != 0) != m.neg
}

// List shows "ctstatus SEEN_REPLY,ASSURED".
func (m *CTStatus) List(l *rules.Listing) {
	var out []string
	for _, n := range names {
		if m.mask&n.bit != 0 {
			out = append(out, strings.ToUpper(n.name))
		}
	}
	s := "ctstatus "
	if m.neg {
		s = "! ctstatus "
	}
	l.Matches = append(l.Matches, s+strings.Join(out, ","))
}
