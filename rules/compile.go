package rules

import (
	"fmt"
	"sort"
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// Options tune CompileWith.
type Options struct {
	// Env gives the clock, the log sink and shared state (conntrack) to
	// stateful matches and targets. Nil: the old ruleset's, else a wall
	// clock and no logging.
	Env *pipeline.Env
	// NoIndex compiles every chain as a plain list (the linear reference).
	NoIndex bool
	// MinRun is the shortest run of rules that gets an index (default 8;
	// shorter runs are cheaper to walk).
	MinRun int
}

// Compile decodes and validates every rule of cfg and compiles every table
// into a classifier. Counters of rules whose identity (table, chain, name,
// or content) is unchanged are carried over from old, which may be nil.
// The error is a config.ErrorList with every mistake of the file.
func Compile(cfg *config.Config, old *Ruleset) (*Ruleset, error) {
	return CompileWith(cfg, old, Options{})
}

// keyOwner says which plugin decodes a rule key.
type keyOwner struct {
	match   string // match module ID whose key this is
	option  string // match module ID whose option this is
	targets []string
}

type plugins struct {
	keys    map[string]*keyOwner
	all     []string // every known rule key, for suggestions
	actions []string // every registered target name
}

func loadPlugins() *plugins {
	p := &plugins{keys: map[string]*keyOwner{}}
	own := func(k string) *keyOwner {
		o := p.keys[k]
		if o == nil {
			o = &keyOwner{}
			p.keys[k] = o
			p.all = append(p.all, k)
		}
		return o
	}
	own("name")
	own("action")
	for _, id := range pipeline.IDs("rules.match.") {
		info, _ := pipeline.Lookup(id)
		m, ok := info.New().(MatchModule)
		if !ok {
			continue
		}
		keys, opts := m.Keys()
		for _, k := range keys {
			own(k).match = id
		}
		for _, k := range opts {
			own(k).option = id
		}
	}
	for _, id := range pipeline.IDs("rules.target.") {
		info, _ := pipeline.Lookup(id)
		t, ok := info.New().(TargetModule)
		if !ok {
			continue
		}
		name := strings.TrimPrefix(id, "rules.target.")
		p.actions = append(p.actions, name)
		for _, k := range t.Options() {
			o := own(k)
			o.targets = append(o.targets, name)
		}
	}
	sort.Strings(p.all)
	return p
}

// CompileWith is Compile with options.
func CompileWith(cfg *config.Config, old *Ruleset, opt Options) (*Ruleset, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	env := opt.Env
	if env == nil && old != nil {
		env = old.env
	}
	if opt.MinRun <= 0 {
		opt.MinRun = 8
	}
	var errs config.ErrorList
	rs := &Ruleset{cfg: cfg, env: env, indexed: !opt.NoIndex}
	rs.sets, rs.setList = compileSets(cfg, &errs)
	if old != nil {
		// A set whose configured elements did not change keeps its live
		// contents (elements added or deleted at run time survive a reload).
		for i, s := range rs.setList {
			os := old.sets[s.Name]
			if os != nil && os.Type == s.Type && old.cfg != nil && sameElements(old.cfg.Set(s.Name), cfg.Set(s.Name)) {
				rs.sets[s.Name], rs.setList[i] = os, os
			}
		}
	}
	pl := loadPlugins()

	// 1. Chains: every built-in chain of each table the file uses, then
	// user chains in file order.
	type cchain struct {
		c   *Chain
		cfg *config.Chain
	}
	var all []*cchain
	byName := map[string]*cchain{} // "table/name"
	for _, ch := range cfg.Chains {
		if t, ok := ParseTable(ch.Table); ok {
			rs.present[t] = true
		}
	}
	for t := Table(0); t < numTables; t++ {
		if !rs.present[t] {
			continue
		}
		for _, h := range tableHooks[t] {
			c := &Chain{Table: t, Name: h.String(), Hook: h, Policy: Accept}
			cc := &cchain{c: c, cfg: cfg.Chain(t.String(), h.String())}
			if cc.cfg != nil {
				c.Pos = cc.cfg.Pos
				if cc.cfg.Policy == "drop" {
					c.Policy = Drop
				}
			}
			rs.builtin[t][h] = c
			rs.chains[t] = append(rs.chains[t], c)
			all = append(all, cc)
			byName[t.String()+"/"+c.Name] = cc
		}
	}
	for _, ch := range cfg.Chains {
		t, ok := ParseTable(ch.Table)
		if !ok || config.IsHook(ch.Name) {
			continue
		}
		if byName[ch.Table+"/"+ch.Name] != nil {
			continue
		}
		c := &Chain{Table: t, Name: ch.Name, Pos: ch.Pos}
		cc := &cchain{c: c, cfg: ch}
		rs.chains[t] = append(rs.chains[t], c)
		all = append(all, cc)
		byName[ch.Table+"/"+ch.Name] = cc
	}

	// 2. Actions and the jump graph, read straight from the keys: the hooks
	// that reach each user chain decide which matches and targets it may use.
	type edge struct {
		to  *Chain
		pos config.Pos
	}
	edges := map[*Chain][]edge{}
	actionOf := map[*config.Rule]string{}
	jumpOf := map[*config.Rule]*Chain{}
	for _, cc := range all {
		if cc.cfg == nil {
			continue
		}
		for _, r := range cc.cfg.Rules {
			kv, ok := r.Get("action")
			if !ok {
				continue
			}
			a, isStr := kv.Value.V.(string)
			if !isStr {
				errs = append(errs, kv.TypeError("a string"))
				actionOf[r] = "!"
				continue
			}
			if _, known := pipeline.Lookup("rules.target." + a); !known {
				sg := ""
				if s := config.Suggest(a, pl.actions); s != "" {
					sg = fmt.Sprintf("; did you mean %q?", s)
				}
				errs = append(errs, kv.Errorf("unknown action %q%s (actions: %s)", a, sg, strings.Join(pl.actions, ", ")))
				actionOf[r] = "!"
				continue
			}
			actionOf[r] = a
			if a != "jump" && a != "goto" {
				continue
			}
			tk, ok := r.Get("target")
			if !ok {
				errs = append(errs, kv.Errorf("action %q needs target = \"CHAIN\"", a))
				continue
			}
			name, isStr := tk.Value.V.(string)
			if !isStr {
				errs = append(errs, tk.TypeError("a chain name"))
				continue
			}
			dst := byName[cc.c.Table.String()+"/"+name]
			switch {
			case dst == nil:
				var names []string
				for _, o := range rs.chains[cc.c.Table] {
					if !o.Builtin() {
						names = append(names, o.Name)
					}
				}
				sg := ""
				if s := config.Suggest(name, names); s != "" {
					sg = fmt.Sprintf("; did you mean %q?", s)
				}
				errs = append(errs, tk.Errorf("no chain %q in table %s%s", name, cc.c.Table, sg))
			case dst.c.Builtin():
				errs = append(errs, tk.Errorf("cannot %s to built-in chain %q", a, name))
			default:
				dst.c.Refs++
				jumpOf[r] = dst.c
				edges[cc.c] = append(edges[cc.c], edge{dst.c, tk.Pos})
			}
		}
	}
	// Loops: a DFS over the jump graph; a back edge closes a loop.
	state := map[*Chain]uint8{} // 1 on stack, 2 done
	var visit func(c *Chain, path []string)
	visit = func(c *Chain, path []string) {
		state[c] = 1
		for _, e := range edges[c] {
			switch state[e.to] {
			case 1:
				i := 0
				for i < len(path) && path[i] != e.to.Name {
					i++
				}
				loop := append(append([]string{}, path[i:]...), c.Name, e.to.Name)
				if i >= len(path) {
					loop = []string{c.Name, e.to.Name}
				}
				errs = append(errs, config.Errorf(e.pos, "jump loop: %s", strings.Join(loop, " -> ")))
			case 0:
				visit(e.to, append(path, c.Name))
			}
		}
		state[c] = 2
	}
	for _, cc := range all {
		if state[cc.c] == 0 {
			visit(cc.c, nil)
		}
	}
	loopFree := len(errs) == 0 || !hasLoopErr(errs)
	// Reachability and depth, from each built-in chain.
	hooks := map[*Chain]packet.HookMask{}
	if loopFree {
		var reach func(c *Chain, h packet.Hook, depth int, pos config.Pos)
		deep := map[*Chain]bool{}
		reach = func(c *Chain, h packet.Hook, depth int, pos config.Pos) {
			if depth > MaxDepth {
				if !deep[c] {
					deep[c] = true
					errs = append(errs, config.Errorf(pos, "jumps nest deeper than %d chains", MaxDepth))
				}
				return
			}
			hooks[c] |= h.Mask()
			for _, e := range edges[c] {
				reach(e.to, h, depth+1, e.pos)
			}
		}
		for _, cc := range all {
			if cc.c.Builtin() {
				reach(cc.c, cc.c.Hook, 0, cc.c.Pos)
			}
		}
	}

	// 3. Decode every rule.
	logf := logSink(env)
	var clock pipeline.Clock = pipeline.WallClock{}
	if env != nil && env.Clock != nil {
		clock = env.Clock
	}
	for _, cc := range all {
		c := cc.c
		if cc.cfg == nil {
			continue
		}
		for i, cr := range cc.cfg.Rules {
			d := &Decoder{
				Table: c.Table.String(), Chain: c.Name, Hooks: hooks[c],
				Rule: cr, Config: cfg, Clock: clock, Log: logf, Env: env,
				rs: rs, errs: &errs, used: make([]bool, len(cr.Keys)), Num: i + 1,
			}
			if c.Builtin() {
				d.Hooks = c.Hook.Mask()
			}
			r := &Rule{Chain: c, Num: i + 1, Pos: cr.Pos, idx: i}
			decodeRule(d, pl, r, actionOf[cr], jumpOf[cr])
			c.Rules = append(c.Rules, r)
		}
	}
	if len(errs) > 0 {
		return nil, errs.Err()
	}

	// 4. Counter slots, identities, and counters carried over from old.
	for _, cc := range all {
		c := cc.c
		c.policyID = -1
		if c.Builtin() {
			c.policyID = len(rs.rules)
			rs.rules = append(rs.rules, nil)
		}
		seen := map[string]int{}
		for _, r := range c.Rules {
			r.id = len(rs.rules)
			rs.rules = append(rs.rules, r)
			id := c.Table.String() + "/" + c.Name + "/"
			if r.Name != "" {
				id += "name=" + r.Name
			} else {
				id += ruleContent(cc.cfg.Rules[r.idx])
			}
			seen[id]++
			r.ident = fmt.Sprintf("%s#%d", id, seen[id])
		}
	}
	rs.ctr = newCounters(len(rs.rules))
	if old != nil {
		prev := map[string]int{}
		for _, r := range old.rules {
			if r != nil {
				prev[r.ident] = r.id
			}
		}
		for t := Table(0); t < numTables; t++ {
			for _, c := range rs.chains[t] {
				if oc := old.Chain(t, c.Name); oc != nil && c.policyID >= 0 && oc.policyID >= 0 {
					pk, by := old.PolicyCounters(oc)
					rs.ctr.set(c.policyID, pk, by)
				}
			}
		}
		for _, r := range rs.rules {
			if r == nil {
				continue
			}
			if id, ok := prev[r.ident]; ok {
				pk, by := old.ctr.read(id)
				rs.ctr.set(r.id, pk, by)
			}
		}
	}

	// 5. Runs and indexes.
	for _, cc := range all {
		buildRuns(cc.c, !opt.NoIndex, opt.MinRun)
	}
	return rs, nil
}

func hasLoopErr(errs config.ErrorList) bool {
	for _, e := range errs {
		if strings.HasPrefix(e.Msg, "jump loop") {
			return true
		}
	}
	return false
}

// ruleContent is the canonical text of a rule's keys, its identity when it
// has no name.
func ruleContent(r *config.Rule) string {
	parts := make([]string, 0, len(r.Keys))
	for _, kv := range r.Keys {
		parts = append(parts, kv.Key+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// decodeRule decodes one rule's keys into r.
func decodeRule(d *Decoder, pl *plugins, r *Rule, action string, jump *Chain) {
	cr := d.Rule
	if kv, ok := d.Get("name"); ok {
		if s, isStr := kv.Value.V.(string); isStr && s != "" {
			r.Name = s
		} else {
			d.Errorf(kv.Pos, "name: expected a non-empty string, got %s", config.Describe(kv.Value.V))
		}
	}
	// The target first: it may read its options.
	if kv, ok := d.Get("action"); ok {
		r.Action = action
		if action != "" && action != "!" {
			m, _ := pipeline.New("rules.target." + action)
			t := m.(TargetModule)
			if t.Decode(d) {
				r.target = t
				r.verdict = Continue
				switch action {
				case "jump", "goto":
					r.target = nil
					r.verdict = Jump
					if action == "goto" {
						r.verdict = Goto
					}
					r.jump = jump
				}
			}
			r.list.Target = t.Name()
			if action == "jump" || action == "goto" {
				if jump != nil {
					r.list.Target = jump.Name
				}
				if action == "goto" {
					r.list.Goto = true
				}
			}
			if l, ok := t.(Lister); ok {
				l.List(&r.list)
			}
		}
		_ = kv
	}
	// Then the matches, in key order.
	var stateless, stateful []Matcher
	matchIDs := map[string]bool{}
	for i, kv := range cr.Keys {
		o := pl.keys[kv.Key]
		if o != nil && o.match != "" {
			matchIDs[o.match] = true
		}
		_ = i
	}
	for i, kv := range cr.Keys {
		if d.used[i] {
			continue
		}
		o := pl.keys[kv.Key]
		switch {
		case o == nil:
			sg := ""
			if s := config.Suggest(kv.Key, pl.all); s != "" {
				sg = fmt.Sprintf("; did you mean %q?", s)
			}
			d.Errorf(kv.Pos, "unknown rule key %q%s", kv.Key, sg)
		case o.match != "":
			d.used[i] = true
			m, _ := pipeline.New(o.match)
			mm := m.(MatchModule)
			if !mm.Decode(d, kv) {
				continue
			}
			if _, ok := mm.(Passive); ok {
				// listed only
			} else if _, ok := mm.(Stateful); ok {
				stateful = append(stateful, mm)
			} else {
				stateless = append(stateless, mm)
			}
			if l, ok := mm.(Lister); ok {
				l.List(&r.list)
			}
		case o.option != "" && matchIDs[o.option]:
			// read by its match, which marks it; reaching here means the
			// match did not want it
			d.used[i] = true
		case o.option != "":
			keys, _ := mustMatch(o.option).Keys()
			d.Errorf(kv.Pos, "%s only goes with %s", kv.Key, strings.Join(keys, " or "))
		case len(o.targets) > 0:
			if action == "" {
				d.Errorf(kv.Pos, "%s needs an action (%s)", kv.Key, quoteActions(o.targets))
			} else if action != "!" {
				d.Errorf(kv.Pos, "%s does not apply to action %q; it goes with %s", kv.Key, action, quoteActions(o.targets))
			}
		case kv.Key == "name" || kv.Key == "action":
		default:
			d.Errorf(kv.Pos, "unknown rule key %q", kv.Key)
		}
	}
	r.matches = append(stateless, stateful...)
	r.Comment = r.list.Comment
}

func quoteActions(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("action = %q", n)
	}
	return strings.Join(q, " or ")
}

func mustMatch(id string) MatchModule {
	m, _ := pipeline.New(id)
	return m.(MatchModule)
}

// buildRuns cuts c's rules into runs: maximal stretches of rules that all
// have an indexable match on one field get an index on it (when at least
// minRun long); the rest are walked linearly.
func buildRuns(c *Chain, indexed bool, minRun int) {
	n := len(c.Rules)
	c.ruleRun = make([]int32, n)
	fieldsOf := func(r *Rule) (m [numFields][]Interval, ok [numFields]bool) {
		for _, mt := range r.matches {
			ix, isIx := mt.(Indexable)
			if !isIx {
				continue
			}
			f, iv, can := ix.Index()
			if !can || ok[f] {
				continue
			}
			m[f], ok[f] = iv, true
		}
		return
	}
	type info struct {
		iv [numFields][]Interval
		ok [numFields]bool
	}
	infos := make([]info, n)
	for i, r := range c.Rules {
		infos[i].iv, infos[i].ok = fieldsOf(r)
	}
	addLinear := func(start, end int) {
		if start >= end {
			return
		}
		if k := len(c.runs); k > 0 && c.runs[k-1].idx == nil && c.runs[k-1].end == start {
			c.runs[k-1].end = end
		} else {
			c.runs = append(c.runs, run{start: start, end: end})
		}
	}
	i := 0
	for i < n {
		if !indexed {
			addLinear(i, n)
			break
		}
		// The longest run starting at i over any one field.
		best, bestEnd := FieldNone, i
		for f := FieldSrc; f < numFields; f++ {
			j := i
			for j < n && infos[j].ok[f] {
				j++
			}
			if j > bestEnd {
				best, bestEnd = f, j
			}
		}
		if best == FieldNone || bestEnd-i < minRun {
			addLinear(i, i+1)
			i++
			continue
		}
		var items []ivRule
		for j := i; j < bestEnd; j++ {
			for _, iv := range infos[j].iv[best] {
				items = append(items, ivRule{iv, int32(j)})
			}
		}
		bits := uint8(32)
		if best == FieldSport || best == FieldDport {
			bits = 16
		}
		x := buildIndex(items, bits, bestEnd-i)
		if x == nil {
			addLinear(i, bestEnd)
			i = bestEnd
			continue
		}
		c.runs = append(c.runs, run{start: i, end: bestEnd, field: best, idx: x})
		for j := i; j < bestEnd; j++ {
			r := c.Rules[j]
			r.rest = r.rest[:0]
			dropped := false
			for _, mt := range r.matches {
				if ix, isIx := mt.(Indexable); isIx && !dropped {
					if f, _, can := ix.Index(); can && f == best {
						dropped = true
						continue
					}
				}
				r.rest = append(r.rest, mt)
			}
		}
		i = bestEnd
	}
	for k, r := range c.runs {
		for j := r.start; j < r.end; j++ {
			c.ruleRun[j] = int32(k)
		}
	}
}

func sameElements(a, b *config.Set) bool {
	if a == nil || b == nil || len(a.Elements) != len(b.Elements) {
		return false
	}
	for i := range a.Elements {
		if a.Elements[i].String() != b.Elements[i].String() {
			return false
		}
	}
	return true
}
