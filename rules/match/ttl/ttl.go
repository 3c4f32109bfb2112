package ttl

import (
	"fmt"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(TTL{}) }

type op uint8

const (
	opEq op = iota
	opNe
	opLt
	opGt
)

// TTL is the ttl match.
type TTL struct {
	op op
	v  uint8
}

var _ rules.MatchModule = (*TTL)(nil)

// Module returns the plugin's registration.
func (TTL) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.ttl", New: func() pipeline.Module { return new(TTL) }}
}

// Keys returns the rule key of the match.
func (*TTL) Keys() (keys, options []string) { return []string{"ttl"}, nil }

// Decode reads { eq|ne|lt|gt = N }.
func (m *TTL) Decode(d *rules.Decoder, kv config.KV) bool {
	t, ok := kv.Value.V.(map[string]config.Value)
	if !ok || len(t) != 1 {
		d.Errorf(kv.Pos, "ttl: expected one of { eq = N }, { lt = N }, { gt = N }, { ne = N }, got %s", config.Describe(kv.Value.V))
		return false
	}
	for k, v := range t {
		switch k {
		case "eq":
			m.op = opEq
		case "ne":
			m.op = opNe
		case "lt":
			m.op = opLt
		case "gt":
			m.op = opGt
		default:
			d.Errorf(kv.Pos, "ttl: unknown comparison %q (eq, ne, lt, gt)", k)
			return false
		}
		n, isInt := v.V.(int64)
		if !isInt || n < 0 || n > 255 {
			d.Errorf(kv.Pos, "ttl.%s: expected an integer 0..255, got %s", k, config.Describe(v.V))
			return false
		}
		m.v = uint8(n)
	}
	return true
}

// Match compares the TTL.
func (m *TTL) Match(pkt *packet.Packet) bool {
	t := pkt.Parsed.TTL
	switch m.op {
	case opEq:
		return t == m.v
	case opNe:
		return t != m.v
	case opLt:
		return t < m.v
	}
	return t > m.v
}

// List shows "TTL match TTL == 5" as libxt_ttl does.
func (m *TTL) List(l *rules.Listing) {
	sym := [...]string{"==", "!=", "<", ">"}[m.op]
	l.Matches = append(l.Matches, fmt.Sprintf("TTL match TTL %s %d", sym, m.v))
}
