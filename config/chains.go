package config

import (
	"strconv"
	"strings"
)

// SetTypes are the element types a [sets.NAME] may hold.
var SetTypes = []string{"ipv4_addr", "ipv4_net", "port", "ipv4_addr_port"}

func (d *decoder) sets(t *table) {
	for _, name := range t.keys() {
		st := t.sub(name, "[sets."+name+"]")
		if st == nil {
			continue
		}
		st.allow("type", "elements")
		s := &Set{Name: name, Pos: st.pos("")}
		if !validName(name) {
			d.errorf(s.Pos, "set name %q: use letters, digits, '_' and '-'", name)
		}
		if d.cfg.Set(name) != nil {
			d.errorf(s.Pos, "duplicate set %q", name)
		}
		typ, typOK := st.oneOf("type", SetTypes...)
		if _, present := st.m["type"]; !present {
			d.errorf(s.Pos, "[sets.%s] needs a type (one of %s)", name, strings.Join(SetTypes, ", "))
		}
		s.Type = typ
		if v, present := st.m["elements"]; present {
			list, ok := v.([]any)
			if !ok {
				st.typeErr("elements", "an array", v)
			} else {
				base := pathKey(st.path, "elements")
				for i, e := range list {
					ev := d.value(pathIndex(base, i), e)
					if typOK {
						if msg := checkElement(typ, e); msg != "" {
							d.errorf(ev.Pos, "elements[%d]: %s", i, msg)
						}
					}
					s.Elements = append(s.Elements, ev)
				}
			}
		}
		d.cfg.Sets = append(d.cfg.Sets, s)
	}
}

func validName(s string) bool {
	return isBareKey(s)
}

// checkElement returns a message when e is not an element of type typ.
func checkElement(typ string, e any) string {
	switch typ {
	case "port":
		switch x := e.(type) {
		case int64:
			if x < 0 || x > 65535 {
				return strconv.FormatInt(x, 10) + " is not a port (0..65535)"
			}
			return ""
		case string:
			if _, _, err := parseRange(x, 65535); err != "" {
				return quoteMsg(x, `is not a port or a port range like "8000-8099"`)
			}
			return ""
		}
		return "expected a port or a port range, got " + Describe(e)
	}
	s, ok := e.(string)
	if !ok {
		return "expected a string, got " + Describe(e)
	}
	switch typ {
	case "ipv4_addr":
		if _, msg := parseAddr(s); msg != "" {
			return msg
		}
	case "ipv4_net":
		if _, msg := parseNet(s); msg != "" {
			return msg
		}
	case "ipv4_addr_port":
		host, port, found := strings.Cut(s, ":")
		_, amsg := parseAddr(host)
		pn, err := strconv.Atoi(port)
		if !found || amsg != "" || err != nil || pn < 0 || pn > 65535 {
			return quoteMsg(s, `is not an address and port like "192.0.2.1:80"`)
		}
	}
	return ""
}

// value converts a decoded TOML value at path into a Value with places:
// arrays get each element's place, inline tables each key's.
func (d *decoder) value(path string, v any) Value {
	pos := d.idx.lookup(path)
	switch x := v.(type) {
	case []any:
		vs := make([]Value, len(x))
		for i, e := range x {
			vs[i] = d.value(pathIndex(path, i), e)
		}
		return Value{V: vs, Pos: pos}
	case []map[string]any:
		vs := make([]Value, len(x))
		for i, e := range x {
			vs[i] = d.value(pathIndex(path, i), e)
		}
		return Value{V: vs, Pos: pos}
	case map[string]any:
		m := make(map[string]Value, len(x))
		for k, e := range x {
			m[k] = d.value(pathKey(path, k), e)
		}
		return Value{V: m, Pos: pos}
	}
	return Value{V: v, Pos: pos}
}

// Tables and their built-in chains (hooks), as iptables has them.
var (
	ruleTables = []string{"raw", "mangle", "nat", "filter"}
	Hooks      = []string{"prerouting", "input", "forward", "output", "postrouting"}
	TableHooks = map[string][]string{
		"raw":    {"prerouting", "output"},
		"mangle": {"prerouting", "input", "forward", "output", "postrouting"},
		"nat":    {"prerouting", "input", "output", "postrouting"},
		"filter": {"input", "forward", "output"},
	}
)

// IsHook reports whether name is a built-in chain (hook) name.
func IsHook(name string) bool {
	for _, h := range Hooks {
		if h == name {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) ruleTable(t *table, tname string) {
	for _, name := range t.keys() {
		ct := t.sub(name, "["+tname+"."+name+"]")
		if ct == nil {
			continue
		}
		ch := &Chain{Table: tname, Name: name, Pos: ct.pos("")}
		hooks := TableHooks[tname]
		builtin := contains(hooks, name)
		switch {
		case IsHook(name) && !builtin:
			d.errorf(ch.Pos, "table %s has no %s chain (its built-in chains are %s)", tname, name, strings.Join(hooks, ", "))
		case !IsHook(name):
			if !validName(name) || len(name) > 28 {
				d.errorf(ch.Pos, "chain name %q: use at most 28 letters, digits, '_' and '-'", name)
			} else if IsHook(strings.ToLower(name)) {
				d.errorf(ch.Pos, "chain %q: built-in chains are lowercase; did you mean %q?", name, strings.ToLower(name))
			}
		}
		ct.allow("policy", "rule")
		if s, ok := ct.oneOf("policy", "accept", "drop"); ok {
			ch.PolicyPos = ct.pos("policy")
			if !IsHook(name) {
				ct.errorf("policy", "only built-in chains have a policy; %q is a user chain", name)
			} else {
				ch.Policy = s
			}
		}
		for _, rt := range ct.tables("rule", "[["+tname+"."+name+".rule]]") {
			r := &Rule{Pos: rt.pos("")}
			for _, k := range rt.keys() {
				kp := pathKey(rt.path, k)
				r.Keys = append(r.Keys, KV{Key: k, Value: d.value(kp, rt.m[k]), Pos: d.idx.lookup(kp)})
			}
			ch.Rules = append(ch.Rules, r)
		}
		d.cfg.Chains = append(d.cfg.Chains, ch)
	}
}
