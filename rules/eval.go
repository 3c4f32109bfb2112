package rules

import (
	"fmt"
	"slices"
	"strings"

	"fwd/packet"
)

// frame is a return address of the chain walk.
type frame struct {
	c   *Chain
	pos int
}

// Tracer collects what a walk did, for `fwd replay --trace`. The zero
// value is ready; a nil *Tracer records nothing (the datapath passes nil).
type Tracer struct {
	Chains []*Chain // every chain entered, in order
	Rule   *Rule    // the deciding rule; nil when a policy decided
	Policy *Chain   // the chain whose policy decided
	Logged []*Rule  // non-terminal rules that fired on the way (log, mark)
}

// Eval walks chain c (a built-in chain) for pkt with first-match semantics,
// following jump, goto and return, counting every matched rule and the
// policy, and returns the final verdict (Accept, Drop or Reject) and the
// deciding rule (nil when the policy decided). It allocates nothing when
// tr is nil.
func (rs *Ruleset) Eval(c *Chain, pkt *packet.Packet, tr *Tracer) (Verdict, *Rule) {
	return rs.walk(c, pkt, tr, false)
}

// EvalLinear is Eval without the indexes: every rule is tested in order,
// as iptables does. It is the reference the differential tests compare
// Eval with.
func (rs *Ruleset) EvalLinear(c *Chain, pkt *packet.Packet, tr *Tracer) (Verdict, *Rule) {
	return rs.walk(c, pkt, tr, true)
}

func (rs *Ruleset) walk(c *Chain, pkt *packet.Packet, tr *Tracer, linear bool) (Verdict, *Rule) {
	var stack [MaxDepth + 1]frame
	sp := 0
	base := c
	pos := 0
	stripe := rs.ctr.stripe(pkt)
	n := uint64(len(pkt.Data))
	if tr != nil {
		tr.Chains = append(tr.Chains, c)
	}
	for {
		var r *Rule
		if linear {
			r = nextLinear(c, pos, pkt)
		} else {
			r = next(c, pos, pkt)
		}
		if r == nil {
			// End of chain: a user chain returns, a built-in chain's policy
			// decides.
			if sp > 0 {
				sp--
				c, pos = stack[sp].c, stack[sp].pos
				continue
			}
			return rs.policy(base, stripe, n, pkt, tr)
		}
		rs.ctr.add(stripe, r.id, n)
		v := r.verdict
		if r.target != nil {
			v = r.target.Do(pkt)
		}
		switch v {
		case Continue:
			if tr != nil && r.target != nil {
				tr.Logged = append(tr.Logged, r)
			}
			pos = r.idx + 1
		case Return:
			if sp == 0 {
				return rs.policy(base, stripe, n, pkt, tr)
			}
			sp--
			c, pos = stack[sp].c, stack[sp].pos
		case Jump, Goto:
			if v == Jump {
				if sp >= MaxDepth {
					// Compile rejects deeper rulesets; fail closed anyway.
					pkt.Drop = packet.DropRule
					return Drop, r
				}
				stack[sp] = frame{c, r.idx + 1}
				sp++
			}
			c, pos = r.jump, 0
			if tr != nil {
				tr.Chains = append(tr.Chains, c)
			}
		default: // Accept, Drop, Reject
			if v == Drop {
				pkt.Drop = packet.DropRule
				if pkt.CTState == packet.CTInvalid {
					pkt.Drop = packet.DropCTInvalid
				}
			}
			if tr != nil {
				tr.Rule = r
			}
			return v, r
		}
	}
}

func (rs *Ruleset) policy(c *Chain, stripe int, n uint64, pkt *packet.Packet, tr *Tracer) (Verdict, *Rule) {
	if c.policyID >= 0 {
		rs.ctr.add(stripe, c.policyID, n)
	}
	if tr != nil {
		tr.Policy = c
	}
	if c.Policy == Drop {
		pkt.Drop = packet.DropPolicy
		if pkt.CTState == packet.CTInvalid {
			pkt.Drop = packet.DropCTInvalid
		}
		return Drop, nil
	}
	return Accept, nil
}

func matchAll(ms []Matcher, pkt *packet.Packet) bool {
	for _, m := range ms {
		if !m.Match(pkt) {
			return false
		}
	}
	return true
}

// next returns the first rule of c at or after pos that matches pkt.
func next(c *Chain, pos int, pkt *packet.Packet) *Rule {
	for pos < len(c.Rules) {
		r := &c.runs[c.ruleRun[pos]]
		if r.idx == nil {
			for i := pos; i < r.end; i++ {
				if matchAll(c.Rules[i].matches, pkt) {
					return c.Rules[i]
				}
			}
		} else if k, ok := r.field.key(pkt); ok {
			cands := r.idx.lookup(k)
			if pos > r.start && len(cands) > 0 && int(cands[0]) < pos {
				i, _ := slices.BinarySearch(cands, int32(pos))
				cands = cands[i:]
			}
			for _, ci := range cands {
				rr := c.Rules[ci]
				if matchAll(rr.rest, pkt) {
					return rr
				}
			}
		}
		pos = r.end
	}
	return nil
}

func nextLinear(c *Chain, pos int, pkt *packet.Packet) *Rule {
	for i := pos; i < len(c.Rules); i++ {
		if matchAll(c.Rules[i].matches, pkt) {
			return c.Rules[i]
		}
	}
	return nil
}

// Note renders a trace in the spirit of `nft monitor trace`: the chains
// entered, the deciding rule (table, chain, number, name or comment,
// file:line) or the policy, and the verdict.
func (tr *Tracer) Note(v Verdict) string {
	var b strings.Builder
	if len(tr.Chains) > 0 {
		fmt.Fprintf(&b, "%s ", tr.Chains[0].Table)
	}
	for i, c := range tr.Chains {
		if i > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(c.Name)
	}
	for _, r := range tr.Logged {
		fmt.Fprintf(&b, "; %s", r.traceText())
	}
	switch {
	case tr.Rule != nil:
		fmt.Fprintf(&b, "; %s", tr.Rule.traceText())
	case tr.Policy != nil:
		fmt.Fprintf(&b, "; %s policy", tr.Policy.Name)
	}
	fmt.Fprintf(&b, " (verdict %s)", v)
	return b.String()
}

func (r *Rule) traceText() string {
	s := fmt.Sprintf("rule %s:%d", r.Chain.Name, r.Num)
	if r.Name != "" {
		s += fmt.Sprintf(" %q", r.Name)
	} else if r.Comment != "" {
		s += fmt.Sprintf(" %q", r.Comment)
	}
	if r.Pos.Line != 0 {
		s += " at " + r.Pos.String()
	}
	if r.Action != "" {
		s += " " + r.Action
		if r.jump != nil {
			s += " " + r.jump.Name
		}
	}
	return s
}
