package rules

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// Table names a netfilter table. The order is the listing order.
type Table uint8

const (
	TableRaw Table = iota
	TableMangle
	TableNAT
	TableFilter
	numTables
)

// NumTables is the size of arrays indexed by Table.
const NumTables = int(numTables)

var tableNames = [...]string{"raw", "mangle", "nat", "filter"}

func (t Table) String() string {
	if int(t) < len(tableNames) {
		return tableNames[t]
	}
	return "unknown"
}

// ParseTable maps a table name to a Table.
func ParseTable(s string) (Table, bool) {
	for i, n := range tableNames {
		if n == s {
			return Table(i), true
		}
	}
	return 0, false
}

// tableHooks are the built-in chains of each table, as iptables has them.
var tableHooks = [NumTables][]packet.Hook{
	TableRaw:    {packet.Prerouting, packet.Output},
	TableMangle: {packet.Prerouting, packet.Input, packet.Forward, packet.Output, packet.Postrouting},
	TableNAT:    {packet.Prerouting, packet.Input, packet.Output, packet.Postrouting},
	TableFilter: {packet.Input, packet.Forward, packet.Output},
}

// MaxDepth bounds jump nesting (nftables' NFT_JUMP_STACK_SIZE is 16);
// deeper rulesets are rejected at load.
const MaxDepth = 16

// Chain is a compiled chain.
type Chain struct {
	Table Table
	Name  string      // the hook name for a built-in chain
	Hook  packet.Hook // HookNone for a user chain
	// Policy is Accept or Drop for a built-in chain.
	Policy Verdict
	Pos    config.Pos
	Rules  []*Rule
	// Refs is the number of jump/goto rules that enter this chain.
	Refs int

	policyID int // counter slot of the policy
	runs     []run
	ruleRun  []int32 // run index of each rule
}

// Builtin reports whether c is a built-in (hook) chain.
func (c *Chain) Builtin() bool { return c.Hook != packet.HookNone }

// Rule is a compiled rule.
type Rule struct {
	Chain   *Chain
	Num     int // 1-based position in the chain, as --line-numbers
	Name    string
	Comment string
	Pos     config.Pos
	Action  string // the action key ("accept", "jump", ...); "" for a counting rule

	matches []Matcher // every match: stateless first, stateful last
	target  Target
	verdict Verdict // fixed verdict of simple targets, or Continue/Jump/Goto
	jump    *Chain
	id      int // counter slot
	idx     int // index in Chain.Rules
	ident   string
	list    Listing
	// rest is matches without the run's index match (set when the rule's
	// run is indexed).
	rest []Matcher
}

// Target returns the rule's target (nil for a counting rule).
func (r *Rule) Target() Target { return r.target }

// JumpChain returns the chain a jump or goto rule enters, else nil.
func (r *Rule) JumpChain() *Chain { return r.jump }

// Ruleset is a compiled configuration: every table's chains, the named
// sets and the counters. It is immutable after Compile except for counters
// and set contents, so one Ruleset is shared by every worker.
type Ruleset struct {
	chains  [NumTables][]*Chain // built-in chains first (hook order), then user chains in file order
	builtin [NumTables][packet.NumHooks]*Chain
	present [NumTables]bool // the table appears in the configuration
	sets    map[string]*Set
	setList []*Set
	rules   []*Rule // every rule, by counter slot
	ctr     *counters
	cfg     *config.Config
	env     *pipeline.Env
	indexed bool
}

// Chain returns the chain table/name, or nil.
func (rs *Ruleset) Chain(t Table, name string) *Chain {
	for _, c := range rs.chains[t] {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Builtin returns the built-in chain of table t at hook h, or nil when the
// configuration does not use table t or t has no chain at h.
func (rs *Ruleset) Builtin(t Table, h packet.Hook) *Chain {
	if int(h) >= packet.NumHooks {
		return nil
	}
	return rs.builtin[t][h]
}

// Chains returns the chains of table t in listing order.
func (rs *Ruleset) Chains(t Table) []*Chain { return rs.chains[t] }

// HasTable reports whether the configuration uses table t.
func (rs *Ruleset) HasTable(t Table) bool { return rs.present[t] }

// Rule returns rule number num (1-based) of table/chain, or nil.
func (rs *Ruleset) Rule(t Table, chain string, num int) *Rule {
	c := rs.Chain(t, chain)
	if c == nil || num < 1 || num > len(c.Rules) {
		return nil
	}
	return c.Rules[num-1]
}

// Set returns the named set, or nil. Its elements can be changed at run
// time (Add, Delete) without recompiling.
func (rs *Ruleset) Set(name string) *Set { return rs.sets[name] }

// Sets returns the named sets in file order.
func (rs *Ruleset) Sets() []*Set { return rs.setList }

// Counters returns the packets and bytes counted by r.
func (rs *Ruleset) Counters(r *Rule) (pkts, bytes uint64) { return rs.ctr.read(r.id) }

// PolicyCounters returns the packets and bytes that fell through c to its
// policy (zero for user chains).
func (rs *Ruleset) PolicyCounters(c *Chain) (pkts, bytes uint64) {
	if c.policyID < 0 {
		return 0, 0
	}
	return rs.ctr.read(c.policyID)
}

// ZeroCounters resets every counter (iptables -Z).
func (rs *Ruleset) ZeroCounters() { rs.ctr.zero() }

// ChainStats describes how a chain was compiled.
type ChainStats struct {
	Rules        int
	Runs         int // stretches of rules walked or looked up as one
	IndexedRuns  int
	IndexedRules int // rules reached through an index
}

// Stats returns how c was compiled (for `fwd check -v` and tests).
func (rs *Ruleset) Stats(c *Chain) ChainStats {
	s := ChainStats{Rules: len(c.Rules), Runs: len(c.runs)}
	for _, r := range c.runs {
		if r.idx != nil {
			s.IndexedRuns++
			s.IndexedRules += r.end - r.start
		}
	}
	return s
}
