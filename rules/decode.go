package rules

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// Decoder is what a match or target plugin sees while it decodes one rule:
// the rule's keys, where the rule is (table, chain, the hooks that reach
// the chain), the configuration and the environment. Errors are collected,
// not returned: every mistake of the file is reported in one run.
type Decoder struct {
	Table string // raw | mangle | nat | filter
	Chain string
	Num   int // the rule's 1-based number in its chain
	// Hooks are the hooks whose built-in chain reaches this chain (its own
	// hook for a built-in chain; every hook that jumps here for a user
	// chain; none for an unreachable user chain).
	Hooks  packet.HookMask
	Rule   *config.Rule
	Config *config.Config
	Clock  pipeline.Clock
	// Log receives LOG lines (never nil; it may discard them).
	Log func(line string)
	// Env is the pipeline environment; nil when compiled outside a pipeline
	// (fwd check).
	Env *pipeline.Env

	rs   *Ruleset
	errs *config.ErrorList
	used []bool
}

// Errorf records a configuration error at pos.
func (d *Decoder) Errorf(pos config.Pos, format string, args ...any) {
	*d.errs = append(*d.errs, config.Errorf(pos, format, args...))
}

// Get returns the rule's key and marks it used.
func (d *Decoder) Get(key string) (config.KV, bool) {
	for i, kv := range d.Rule.Keys {
		if kv.Key == key {
			d.used[i] = true
			return kv, true
		}
	}
	return config.KV{}, false
}

// Has reports whether the rule has key, without marking it used.
func (d *Decoder) Has(key string) bool {
	_, ok := d.Rule.Get(key)
	return ok
}

// Proto returns the protocol number the rule's proto key names when it is
// one protocol, not negated; ok is false otherwise.
func (d *Decoder) Proto() (uint8, bool) {
	kv, ok := d.Rule.Get("proto")
	if !ok {
		return 0, false
	}
	s, isStr := kv.Value.V.(string)
	if isStr {
		if strings.HasPrefix(s, "!") || strings.Contains(s, ",") {
			return 0, false
		}
		return ParseProto(s)
	}
	if n, isInt := kv.Value.V.(int64); isInt && n >= 0 && n <= 255 {
		return uint8(n), true
	}
	return 0, false
}

// Set returns the named set, recording an error at pos when it does not
// exist or is not one of types.
func (d *Decoder) Set(name string, pos config.Pos, types ...SetType) *Set {
	s := d.rs.sets[name]
	if s == nil {
		names := make([]string, 0, len(d.rs.sets))
		for n := range d.rs.sets {
			names = append(names, n)
		}
		msg := ""
		if sg := config.Suggest(name, names); sg != "" {
			msg = fmt.Sprintf("; did you mean %q?", sg)
		}
		d.Errorf(pos, "no set named %q%s", name, msg)
		return nil
	}
	for _, t := range types {
		if s.Type == t {
			return s
		}
	}
	want := make([]string, len(types))
	for i, t := range types {
		want[i] = t.String()
	}
	d.Errorf(pos, "set %q has type %s; this match needs %s", name, s.Type, strings.Join(want, " or "))
	return nil
}

// InterfaceMask resolves an interface name, with iptables' trailing "+"
// wildcard, to a bitmask of configured interface indexes.
func (d *Decoder) InterfaceMask(name string, pos config.Pos) (uint64, bool) {
	if d.Config == nil {
		return 0, false
	}
	var m uint64
	var names []string
	wild := strings.HasSuffix(name, "+")
	pre := strings.TrimSuffix(name, "+")
	for i, ifc := range d.Config.Interfaces {
		names = append(names, ifc.Name)
		if i >= 64 {
			continue
		}
		if ifc.Name == name || (wild && strings.HasPrefix(ifc.Name, pre)) {
			m |= 1 << uint(i)
		}
	}
	if m == 0 {
		sg := ""
		if s := config.Suggest(name, names); s != "" {
			sg = fmt.Sprintf("; did you mean %q?", s)
		}
		if wild {
			d.Errorf(pos, "no interface matches %q (interfaces: %s)", name, strings.Join(names, ", "))
		} else {
			d.Errorf(pos, "no interface named %q%s", name, sg)
		}
		return 0, false
	}
	return m, true
}

// Items splits a match value into its elements and its negation: a TOML
// array is any of its elements; a string "!a,b" is none of a and b; "a,b"
// is any of a and b. Non-string scalars are a list of one.
func Items(kv config.KV) (items []config.Value, neg bool, err *config.Error) {
	switch x := kv.Value.V.(type) {
	case string:
		s := strings.TrimSpace(x)
		if strings.HasPrefix(s, "!") {
			neg = true
			s = strings.TrimSpace(s[1:])
		}
		if s == "" {
			return nil, neg, kv.Errorf("%s: empty value", kv.Key)
		}
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				return nil, neg, kv.Errorf("%s: empty element in %q", kv.Key, x)
			}
			if strings.HasPrefix(p, "!") {
				return nil, neg, kv.Errorf("%s: negate the whole list (\"!a,b\"), not one element", kv.Key)
			}
			items = append(items, config.Value{V: p, Pos: kv.Value.Pos})
		}
		return items, neg, nil
	case []config.Value:
		if len(x) == 0 {
			return nil, false, kv.Errorf("%s: empty array", kv.Key)
		}
		for _, e := range x {
			if s, ok := e.V.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "!") {
				return nil, false, kv.Errorf("%s: an array element cannot be negated; write one string \"!a,b\"", kv.Key)
			}
			if _, ok := e.V.([]config.Value); ok {
				return nil, false, kv.TypeError("a value or an array of values")
			}
			if _, ok := e.V.(map[string]config.Value); ok {
				return nil, false, kv.TypeError("a value or an array of values")
			}
		}
		return x, false, nil
	case map[string]config.Value:
		return nil, false, kv.TypeError("a value or an array of values")
	}
	return []config.Value{kv.Value}, false, nil
}

// ParseProto maps a protocol name or number ("tcp", "17") to its number.
func ParseProto(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "igmp":
		return 2, true
	case "gre":
		return 47, true
	case "esp":
		return 50, true
	case "ah":
		return 51, true
	case "sctp":
		return 132, true
	case "udplite":
		return 136, true
	case "ipip", "ipencap":
		return 4, true
	case "ospf":
		return 89, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, false
	}
	return uint8(n), true
}

// ProtoName is the name iptables -n prints in the prot column.
func ProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 0:
		return "all"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 47:
		return "gre"
	case 2:
		return "igmp"
	}
	return strconv.Itoa(int(p))
}

// ParseRate parses a rate "3/minute" ("N/second|minute|hour|day", also
// s, sec, min, h, d) into tokens per nanosecond numerator: the interval
// between tokens in nanoseconds, and the unit for listings.
func ParseRate(s string) (every int64, n int64, unit string, ok bool) {
	num, u, found := strings.Cut(strings.TrimSpace(s), "/")
	if !found {
		return 0, 0, "", false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v <= 0 || v > 1e9 {
		return 0, 0, "", false
	}
	var per int64
	switch strings.TrimSpace(u) {
	case "s", "sec", "second":
		per, unit = 1e9, "sec"
	case "m", "min", "minute":
		per, unit = 60e9, "min"
	case "h", "hour":
		per, unit = 3600e9, "hour"
	case "d", "day":
		per, unit = 86400e9, "day"
	default:
		return 0, 0, "", false
	}
	return per / v, v, unit, true
}

// logSink returns the function LOG lines go to: the io.Writer shared under
// LogWriterKey when present, else env.Log at info level, else nowhere. It
// is resolved at the first line: Compile may run inside Env.Shared, which
// holds the lock Lookup takes.
func logSink(env *pipeline.Env) func(string) {
	if env == nil {
		return func(string) {}
	}
	var once sync.Once
	var out func(string)
	return func(line string) {
		once.Do(func() {
			out = func(string) {}
			if w, ok := env.Lookup(LogWriterKey).(io.Writer); ok {
				var mu sync.Mutex // the writer need not be safe for concurrent use
				out = func(line string) {
					mu.Lock()
					io.WriteString(w, line+"\n")
					mu.Unlock()
				}
			} else if env.Log != nil {
				l := env.Log
				out = func(line string) { l.Info(line, slog.String("source", "rules.log")) }
			}
		})
		out(line)
	}
}

// LogWriterKey is the Env.Shared key of an io.Writer that receives LOG
// target lines, one a line (replay and tests set it).
const LogWriterKey = "rules.log.writer"

func addrU32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func prefixInterval(p netip.Prefix) Interval {
	a := addrU32(p.Masked().Addr().As4())
	bits := p.Bits()
	if bits == 0 {
		return Interval{0, 0xffffffff}
	}
	return Interval{a, a | (1<<(32-uint(bits)) - 1)}
}

// ParsePrefix accepts "a.b.c.d" or "a.b.c.d/n" (host bits must be zero).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address or prefix", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %q?", s, p.Masked().String())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address or prefix", s)
	}
	return netip.PrefixFrom(a, 32), nil
}
