package icmp_type

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(ICMPType{}) }

type tc struct {
	typ            uint8
	codeLo, codeHi uint8
}

// ICMPType is the icmp_type match.
type ICMPType struct {
	neg   bool
	types []tc
}

var _ rules.MatchModule = (*ICMPType)(nil)

// names are iptables' ICMP type names (libxt_icmp.c icmp_codes).
var names = map[string]tc{
	"any":                        {255, 0, 255},
	"echo-reply":                 {0, 0, 255},
	"pong":                       {0, 0, 255},
	"destination-unreachable":    {3, 0, 255},
	"network-unreachable":        {3, 0, 0},
	"host-unreachable":           {3, 1, 1},
	"protocol-unreachable":       {3, 2, 2},
	"port-unreachable":           {3, 3, 3},
	"fragmentation-needed":       {3, 4, 4},
	"source-route-failed":        {3, 5, 5},
	"network-unknown":            {3, 6, 6},
	"host-unknown":               {3, 7, 7},
	"network-prohibited":         {3, 9, 9},
	"host-prohibited":            {3, 10, 10},
	"TOS-network-unreachable":    {3, 11, 11},
	"TOS-host-unreachable":       {3, 12, 12},
	"communication-prohibited":   {3, 13, 13},
	"host-precedence-violation":  {3, 14, 14},
	"precedence-cutoff":          {3, 15, 15},
	"source-quench":              {4, 0, 255},
	"redirect":                   {5, 0, 255},
	"network-redirect":           {5, 0, 0},
	"host-redirect":              {5, 1, 1},
	"TOS-network-redirect":       {5, 2, 2},
	"TOS-host-redirect":          {5, 3, 3},
	"echo-request":               {8, 0, 255},
	"ping":                       {8, 0, 255},
	"router-advertisement":       {9, 0, 255},
	"router-solicitation":        {10, 0, 255},
	"time-exceeded":              {11, 0, 255},
	"ttl-exceeded":               {11, 0, 255},
	"ttl-zero-during-transit":    {11, 0, 0},
	"ttl-zero-during-reassembly": {11, 1, 1},
	"parameter-problem":          {12, 0, 255},
	"ip-header-bad":              {12, 0, 0},
	"required-option-missing":    {12, 1, 1},
	"timestamp-request":          {13, 0, 255},
	"timestamp-reply":            {14, 0, 255},
	"address-mask-request":       {17, 0, 255},
	"address-mask-reply":         {18, 0, 255},
}

// Module returns the plugin's registration.
func (ICMPType) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.icmp_type", New: func() pipeline.Module { return new(ICMPType) }}
}

// Keys returns the rule key of the match.
func (*ICMPType) Keys() (keys, options []string) { return []string{"icmp_type"}, nil }

func parseOne(s string) (tc, bool) {
	if t, ok := names[s]; ok {
		return t, true
	}
	a, b, hasCode := strings.Cut(s, "/")
	t, err := strconv.ParseUint(strings.TrimSpace(a), 10, 8)
	if err != nil {
		return tc{}, false
	}
	r := tc{uint8(t), 0, 255}
	if hasCode {
		c, err := strconv.ParseUint(strings.TrimSpace(b), 10, 8)
		if err != nil {
			return tc{}, false
		}
		r.codeLo, r.codeHi = uint8(c), uint8(c)
	}
	return r, true
}

// Decode reads ICMP types.
func (m *ICMPType) Decode(d *rules.Decoder, kv config.KV) bool {
	if p, ok := d.Proto(); ok && p != 1 {
		d.Errorf(kv.Pos, "icmp_type needs proto icmp (the rule has proto %s)", rules.ProtoName(p))
		return false
	}
	items, neg, err := rules.Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	for _, it := range items {
		var t tc
		ok := false
		switch x := it.V.(type) {
		case int64:
			if x >= 0 && x <= 255 {
				t, ok = tc{uint8(x), 0, 255}, true
			}
		case string:
			t, ok = parseOne(strings.TrimSpace(x))
			if !ok {
				all := make([]string, 0, len(names))
				for n := range names {
					all = append(all, n)
				}
				sort.Strings(all)
				if sg := config.Suggest(x, all); sg != "" {
					d.Errorf(kv.Pos, "icmp_type: %q is not an ICMP type; did you mean %q?", x, sg)
					return false
				}
			}
		}
		if !ok {
			d.Errorf(kv.Pos, "icmp_type: %s is not an ICMP type name, number or \"type/code\"", config.Describe(it.V))
			return false
		}
		m.types = append(m.types, t)
	}
	return true
}

// Match tests type and code of ICMP packets.
func (m *ICMPType) Match(pkt *packet.Packet) bool {
	p := &pkt.Parsed
	if p.Proto != packet.ICMP {
		return false
	}
	hit := false
	for _, t := range m.types {
		if (t.typ == 255 || t.typ == p.ICMPType) && p.ICMPCode >= t.codeLo && p.ICMPCode <= t.codeHi {
			hit = true
			break
		}
	}
	return hit != m.neg
}

// List shows "icmptype 8" or "icmptype 3 code 3" (iptables -n).
func (m *ICMPType) List(l *rules.Listing) {
	var parts []string
	for _, t := range m.types {
		s := ""
		if t.typ == 255 {
			s = "any"
		} else {
			s = fmt.Sprint(t.typ)
		}
		if t.codeLo == t.codeHi {
			s += fmt.Sprintf(" code %d", t.codeLo)
		} else if t.codeLo != 0 || t.codeHi != 255 {
			s += fmt.Sprintf(" codes %d-%d", t.codeLo, t.codeHi)
		}
		parts = append(parts, s)
	}
	inv := ""
	if m.neg {
		inv = "!"
	}
	l.Matches = append(l.Matches, "icmptype "+inv+strings.Join(parts, ","))
}
