package length

import (
	"fmt"
	"strconv"
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Length{}) }

// Length is the length match.
type Length struct {
	neg    bool
	lo, hi uint16
}

var _ rules.MatchModule = (*Length)(nil)

// Module returns the plugin's registration.
func (Length) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.length", New: func() pipeline.Module { return new(Length) }}
}

// Keys returns the rule key of the match.
func (*Length) Keys() (keys, options []string) { return []string{"length"}, nil }

// Decode reads "min-max", "!min-max" or N.
func (m *Length) Decode(d *rules.Decoder, kv config.KV) bool {
	bad := func() bool {
		d.Errorf(kv.Pos, "length: expected \"min-max\" or a number 0..65535, got %s", config.Describe(kv.Value.V))
		return false
	}
	switch x := kv.Value.V.(type) {
	case int64:
		if x < 0 || x > 65535 {
			return bad()
		}
		m.lo, m.hi = uint16(x), uint16(x)
	case string:
		s := strings.TrimSpace(x)
		if r, neg := strings.CutPrefix(s, "!"); neg {
			m.neg, s = true, strings.TrimSpace(r)
		}
		a, b, isRange := strings.Cut(s, "-")
		if !isRange {
			a, b, isRange = strings.Cut(s, ":")
		}
		lo, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
		if err != nil {
			return bad()
		}
		hi := lo
		if isRange {
			hi, err = strconv.ParseUint(strings.TrimSpace(b), 10, 16)
			if err != nil || hi < lo {
				return bad()
			}
		}
		m.lo, m.hi = uint16(lo), uint16(hi)
	default:
		return bad()
	}
	return true
}

// Match tests the IP total length.
func (m *Length) Match(pkt *packet.Packet) bool {
	n := pkt.Parsed.Length
	if n == 0 {
		n = uint16(len(pkt.Data))
	}
	return (n >= m.lo && n <= m.hi) != m.neg
}

// List shows "length 0:100" as libxt_length does.
func (m *Length) List(l *rules.Listing) {
	s := "length "
	if m.neg {
		s += "!"
	}
	if m.lo == m.hi {
		s += fmt.Sprint(m.lo)
	} else {
		s += fmt.Sprintf("%d:%d", m.lo, m.hi)
	}
	l.Matches = append(l.Matches, s)
}
