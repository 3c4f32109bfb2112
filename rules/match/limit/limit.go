package limit

import (
	"fmt"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register((*Limit)(nil)) }

// Limit is the limit match.
type Limit struct {
	b     rules.Bucket
	clock pipeline.Clock
	n     int64
	unit  string
}

var (
	_ rules.MatchModule = (*Limit)(nil)
	_ rules.Stateful    = (*Limit)(nil)
)

// Module returns the plugin's registration.
func (*Limit) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.limit", New: func() pipeline.Module { return new(Limit) }}
}

// Keys returns the rule key of the match and its option.
func (*Limit) Keys() (keys, options []string) { return []string{"limit"}, []string{"limit_burst"} }

// Decode reads the rate and the burst.
func (m *Limit) Decode(d *rules.Decoder, kv config.KV) bool {
	s, ok := kv.Value.V.(string)
	if !ok {
		d.Errorf(kv.Pos, "limit: expected a rate like \"3/minute\", got %s", config.Describe(kv.Value.V))
		return false
	}
	every, n, unit, ok := rules.ParseRate(s)
	if !ok {
		d.Errorf(kv.Pos, "limit: %q is not a rate like \"3/minute\" (per second, minute, hour or day)", s)
		return false
	}
	m.b.Every, m.b.Burst, m.n, m.unit = every, 5, n, unit
	if bk, present := d.Get("limit_burst"); present {
		v, isInt := bk.Value.V.(int64)
		if !isInt || v < 1 || v > 10000 {
			d.Errorf(bk.Pos, "limit_burst: expected an integer 1..10000, got %s", config.Describe(bk.Value.V))
			return false
		}
		m.b.Burst = v
	}
	m.clock = d.Clock
	return true
}

// Stateful marks the match as consuming tokens.
func (*Limit) Stateful() {}

// Match takes a token.
func (m *Limit) Match(*packet.Packet) bool { return m.b.Allow(m.clock.Now()) }

// List shows "limit: avg 3/min burst 3" as libxt_limit does.
func (m *Limit) List(l *rules.Listing) {
	l.Matches = append(l.Matches, fmt.Sprintf("limit: avg %d/%s burst %d", m.n, m.unit, m.b.Burst))
}
