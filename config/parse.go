package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, ErrorList{{Pos: Pos{File: path}, Msg: msg}}
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration; name is the file name used
// in messages. On error it returns a nil *Config and an ErrorList holding
// every mistake found, sorted by line, each "name:line:col: message".
func Parse(name string, data []byte) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, syntaxError(name, data, err)
	}
	d := &decoder{file: name, idx: indexPositions(name, data), cfg: Default()}
	d.cfg.File = name
	d.document(raw)
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return d.cfg, nil
}

// syntaxError turns the TOML library's error into an ErrorList of one.
func syntaxError(name string, data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line, col := pe.Position.Line, pe.Position.Col
		if line < 1 {
			line = 1
		}
		if col < 1 {
			col = 1
		}
		msg := pe.Message
		if msg == "" {
			msg = strings.TrimPrefix(err.Error(), "toml: ")
		}
		// "Key 'a.b' has already been defined." points past the key; name
		// the key and point at the start of its line instead.
		if k, ok := strings.CutPrefix(msg, "Key '"); ok {
			if k, ok = strings.CutSuffix(k, "' has already been defined."); ok {
				if name, ok := strings.CutPrefix(k, "sets."); ok && !strings.Contains(name, ".") {
					msg = fmt.Sprintf("duplicate set %q", name)
				} else {
					msg = fmt.Sprintf("duplicate key %q", k)
				}
				col = firstNonBlank(data, line)
			}
		}
		return ErrorList{{Pos: Pos{File: name, Line: line, Col: col}, Msg: msg}}
	}
	var ppe *toml.ParseError
	if errors.As(err, &ppe) {
		return syntaxError(name, data, *ppe)
	}
	return ErrorList{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: strings.TrimPrefix(err.Error(), "toml: ")}}
}

// firstNonBlank returns the column of the first non-blank byte of line.
func firstNonBlank(data []byte, line int) int {
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 1
		}
		data = data[i+1:]
	}
	for i, c := range data {
		if c != ' ' && c != '\t' {
			return i + 1
		}
	}
	return 1
}

// decoder walks the generic map that toml.Decode made, fills the typed
// model and collects every error with the place of its key.
type decoder struct {
	file string
	idx  *posIndex
	cfg  *Config
	errs ErrorList
}

func (d *decoder) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, Errorf(pos, format, args...))
}

// table is one TOML table being decoded: its path in the position index and
// the name used in messages ("[[interface]]", "[conntrack.timeouts]").
type table struct {
	d    *decoder
	path string
	name string
	m    map[string]any
}

func (d *decoder) table(path, name string, m map[string]any) *table {
	return &table{d: d, path: path, name: name, m: m}
}

// pos returns the place of key k (or of the table when k is "").
func (t *table) pos(k string) Pos {
	if k == "" {
		return t.d.idx.lookup(t.path)
	}
	return t.d.idx.lookup(pathKey(t.path, k))
}

// keys returns the table's keys in file order.
func (t *table) keys() []string {
	ks := make([]string, 0, len(t.m))
	for k := range t.m {
		ks = append(ks, k)
	}
	sortByOrder(t.d.idx, t.path, ks)
	return ks
}

func sortByOrder(x *posIndex, parent string, ks []string) {
	sort.SliceStable(ks, func(i, j int) bool {
		oi, oj := x.order(pathKey(parent, ks[i])), x.order(pathKey(parent, ks[j]))
		if oi != oj {
			return oi < oj
		}
		return ks[i] < ks[j]
	})
}

// allow reports every key of t not in allowed, with a suggestion.
func (t *table) allow(allowed ...string) {
	for _, k := range t.keys() {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			t.d.errs = append(t.d.errs, UnknownKey(t.pos(k), k, "in "+t.name, allowed))
		}
	}
}

func (t *table) typeErr(k, want string, v any) {
	t.d.errorf(t.pos(k), "%s: expected %s, got %s", k, want, Describe(v))
}

func (t *table) errorf(k, format string, args ...any) {
	t.d.errorf(t.pos(k), "%s: %s", k, fmt.Sprintf(format, args...))
}

// str returns the string at k; ok is false when absent or mistyped.
func (t *table) str(k string) (string, bool) {
	v, present := t.m[k]
	if !present {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(k, "a string", v)
		return "", false
	}
	return s, true
}

// integer returns the integer at k checked against lo..hi.
func (t *table) integer(k string, lo, hi int64) (int64, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.typeErr(k, "an integer", v)
		return 0, false
	}
	if n < lo || n > hi {
		t.errorf(k, "%d out of range %d..%d", n, lo, hi)
		return 0, false
	}
	return n, true
}

func (t *table) boolean(k string) (bool, bool) {
	v, present := t.m[k]
	if !present {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.typeErr(k, "a boolean", v)
		return false, false
	}
	return b, true
}

// oneOf returns the string at k when it is one of choices.
func (t *table) oneOf(k string, choices ...string) (string, bool) {
	s, ok := t.str(k)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	t.errorf(k, "%q is not one of %s%s", s, strings.Join(choices, ", "), didYouMean(s, choices))
	return "", false
}

// sub returns the subtable at k, or nil when absent or not a table.
func (t *table) sub(k, name string) *table {
	v, present := t.m[k]
	if !present {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.typeErr(k, "a table "+name, v)
		return nil
	}
	return t.d.table(pathKey(t.path, k), name, m)
}

// tables returns the array of tables at k ([[k]]).
func (t *table) tables(k, name string) []*table {
	v, present := t.m[k]
	if !present {
		return nil
	}
	var ms []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		ms = x
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				t.typeErr(k, "an array of tables "+name, v)
				return nil
			}
			ms = append(ms, m)
		}
	default:
		t.typeErr(k, "an array of tables "+name, v)
		return nil
	}
	out := make([]*table, len(ms))
	for i, m := range ms {
		out[i] = t.d.table(pathIndex(pathKey(t.path, k), i), name, m)
	}
	return out
}

var topKeys = []string{"dataplane", "interface", "route", "conntrack", "fragments", "icmp", "nat_behavior", "control", "sets", "raw", "mangle", "nat", "filter"}

func (d *decoder) document(raw map[string]any) {
	top := d.table("", "the top level", raw)
	for _, k := range top.keys() {
		found := false
		for _, a := range topKeys {
			found = found || a == k
		}
		if !found {
			d.errs = append(d.errs, UnknownKey(top.pos(k), k, "at the top level", topKeys))
		}
	}
	if t := top.sub("dataplane", "[dataplane]"); t != nil {
		d.dataplane(t)
	}
	d.interfaces(top.tables("interface", "[[interface]]"))
	d.routes(top.tables("route", "[[route]]"))
	if t := top.sub("conntrack", "[conntrack]"); t != nil {
		d.conntrack(t)
	}
	if t := top.sub("fragments", "[fragments]"); t != nil {
		d.fragments(t)
	}
	if t := top.sub("icmp", "[icmp]"); t != nil {
		d.icmp(t)
	}
	if t := top.sub("nat_behavior", "[nat_behavior]"); t != nil {
		d.natBehavior(t)
	}
	if t := top.sub("control", "[control]"); t != nil {
		d.control(t)
	}
	if t := top.sub("sets", "[sets]"); t != nil {
		d.sets(t)
	}
	for _, name := range ruleTables {
		if t := top.sub(name, "["+name+"]"); t != nil {
			d.ruleTable(t, name)
		}
	}
	sort.SliceStable(d.cfg.Chains, func(i, j int) bool {
		return posLess(d.cfg.Chains[i].Pos, d.cfg.Chains[j].Pos)
	})
}

func posLess(a, b Pos) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}
