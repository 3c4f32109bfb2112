package rules_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"fwd/packet"
	"fwd/rules"
)

// randomRuleset writes a filter ruleset with chains of random rules over a
// small address and port space (so rules overlap and indexes have nested
// intervals), with jumps, returns and gotos between chains.
func randomRuleset(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(prelude)
	addr := func() string {
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf("10.0.%d.0/24", r.IntN(4))
		case 1:
			return "10.0.0.0/16"
		default:
			return fmt.Sprintf("10.0.%d.%d", r.IntN(4), r.IntN(8))
		}
	}
	port := func() string {
		if r.IntN(3) == 0 {
			lo := r.IntN(20)
			return fmt.Sprintf("%q", fmt.Sprintf("%d-%d", 1000+lo, 1000+lo+r.IntN(10)))
		}
		return fmt.Sprint(1000 + r.IntN(30))
	}
	chains := []string{"forward", "u1", "u2", "u3"}
	for ci, ch := range chains {
		if ci == 0 {
			b.WriteString("\n[filter.forward]\npolicy = \"drop\"\n")
		} else {
			fmt.Fprintf(&b, "\n[filter.%s]\n", ch)
		}
		n := 1 + r.IntN(40)
		// Long same-kind stretches so runs get indexed.
		kind := r.IntN(4)
		for i := 0; i < n; i++ {
			if r.IntN(8) == 0 {
				kind = r.IntN(4)
			}
			fmt.Fprintf(&b, "[[filter.%s.rule]]\n", ch)
			switch kind {
			case 0:
				fmt.Fprintf(&b, "src = %q\n", addr())
			case 1:
				fmt.Fprintf(&b, "dst = %q\n", addr())
			case 2:
				fmt.Fprintf(&b, "dport = %s\n", port())
			case 3:
				fmt.Fprintf(&b, "sport = [%s, %s]\n", port(), port())
			}
			// Extra matches.
			switch r.IntN(6) {
			case 0:
				fmt.Fprintf(&b, "proto = %q\n", []string{"tcp", "udp"}[r.IntN(2)])
			case 1:
				if kind != 0 {
					fmt.Fprintf(&b, "src = %q\n", "!"+addr())
				}
			case 2:
				fmt.Fprintf(&b, "in = %q\n", []string{"lan0", "wan+"}[r.IntN(2)])
			case 3:
				fmt.Fprintf(&b, "mark = %d\n", r.IntN(3))
			}
			if kind != 1 && r.IntN(4) == 0 {
				fmt.Fprintf(&b, "dst = %q\n", addr())
			}
			// Action; jumps only go to later chains (no loops).
			switch a := r.IntN(10); {
			case a < 3:
				b.WriteString("action = \"accept\"\n")
			case a < 5:
				b.WriteString("action = \"drop\"\n")
			case a == 5:
				b.WriteString("action = \"mark\"\nor_mark = 1\n")
			case a == 6 && ci > 0:
				b.WriteString("action = \"return\"\n")
			case a >= 7 && ci < len(chains)-1:
				verb := "jump"
				if a == 9 {
					verb = "goto"
				}
				fmt.Fprintf(&b, "action = %q\ntarget = %q\n", verb, chains[ci+1+r.IntN(len(chains)-ci-1)])
			default:
				b.WriteString("action = \"reject\"\n")
			}
		}
	}
	return b.String()
}

func randomPacket(r *rand.Rand) pk {
	p := pk{
		src: fmt.Sprintf("10.0.%d.%d", r.IntN(5), r.IntN(10)), dst: fmt.Sprintf("10.0.%d.%d", r.IntN(5), r.IntN(10)),
		sport: uint16(995 + r.IntN(40)), dport: uint16(995 + r.IntN(40)), in: int16(r.IntN(3)), out: int16(r.IntN(3)),
		mark: uint32(r.IntN(3)),
	}
	p.proto = []uint8{6, 17, 1}[r.IntN(3)]
	return p
}

// TestDifferential runs random rulesets and packets through the indexed
// classifier and the plain linear walk and requires the same verdicts,
// deciding rules, packet effects and counters.
func TestDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		src := randomRuleset(r)
		cfg := mustParse(t, "diff.toml", src)
		fast, err := rules.CompileWith(cfg, nil, rules.Options{MinRun: 2})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, src)
		}
		ref, err := rules.CompileWith(cfg, nil, rules.Options{NoIndex: true})
		if err != nil {
			t.Fatal(err)
		}
		fc, rc := fast.Builtin(rules.TableFilter, packet.Forward), ref.Builtin(rules.TableFilter, packet.Forward)
		for i := 0; i < 300; i++ {
			p := randomPacket(r)
			a, b := p.build(), p.build()
			va, ra := fast.Eval(fc, a, nil)
			vb, rb := ref.EvalLinear(rc, b, nil)
			name := func(x *rules.Rule) string {
				if x == nil {
					return "policy"
				}
				return fmt.Sprintf("%s:%d", x.Chain.Name, x.Num)
			}
			if va != vb || name(ra) != name(rb) || a.Mark != b.Mark || a.Drop != b.Drop {
				t.Fatalf("seed %d packet %+v: indexed %v %s mark %d, linear %v %s mark %d\n%s", seed, p, va, name(ra), a.Mark, vb, name(rb), b.Mark, src)
			}
		}
		for _, c := range fast.Chains(rules.TableFilter) {
			oc := ref.Chain(rules.TableFilter, c.Name)
			for i, r := range c.Rules {
				p1, b1 := fast.Counters(r)
				p2, b2 := ref.Counters(oc.Rules[i])
				if p1 != p2 || b1 != b2 {
					t.Fatalf("seed %d %s:%d counters %d/%d vs linear %d/%d", seed, c.Name, r.Num, p1, b1, p2, b2)
				}
			}
			p1, _ := fast.PolicyCounters(c)
			p2, _ := ref.PolicyCounters(oc)
			if p1 != p2 {
				t.Fatalf("seed %d %s policy %d vs %d", seed, c.Name, p1, p2)
			}
		}
	}
}

// TestIndexUsed makes sure the differential test exercises indexes: a long
// src chain compiles into one indexed run.
func TestIndexUsed(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "[[filter.input.rule]]\nsrc = \"10.0.%d.%d\"\naction = \"accept\"\n", i/256, i%256)
	}
	rs := mustCompile(t, mustParse(t, "i.toml", b.String()))
	st := rs.Stats(rs.Builtin(rules.TableFilter, packet.Input))
	if st.IndexedRules != 100 || st.Runs != 1 {
		t.Fatalf("stats %+v, want one indexed run of 100", st)
	}
}
