package returnchain_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one rule in table.chain holding keys.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"user chain", "filter.mine", `action = "return"`, "RETURN all -- 0.0.0.0/0 0.0.0.0/0"},
		{"built-in chain", "filter.forward", "src = \"10.0.0.0/8\"\naction = \"return\"", "RETURN all -- 10.0.0.0/8 0.0.0.0/0"},
		{"nat", "nat.prerouting", "proto = \"udp\"\naction = \"return\"", "RETURN udp -- 0.0.0.0/0 0.0.0.0/0"},
		{"raw", "raw.output", `action = "return"`, "RETURN all -- 0.0.0.0/0 0.0.0.0/0"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile(rule(tc.chain, tc.keys))
			if err != nil {
				t.Fatal(err)
			}
			if got := ruleLine(t, rs); got != tc.want {
				t.Errorf("listing:\n got %q\nwant %q", got, tc.want)
			}
		})
	}

	bad := []struct {
		name, chain, keys, err string
	}{
		{"misspelt", "filter.mine", `action = "retrun"`, `t.toml:2:1: unknown action "retrun"; did you mean "return"? (actions: accept, connmark, dnat, drop, goto, jump, log, mark, masquerade, netmap, notrack, offload, redirect, reject, return, snat)`},
		{"with a target", "filter.mine", "action = \"return\"\ntarget = \"input\"", `t.toml:3:1: target does not apply to action "return"; it goes with action = "goto" or action = "jump"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(rule(tc.chain, tc.keys))
			if err == nil {
				t.Fatalf("compiled, want error %q", tc.err)
			}
			if err.Error() != tc.err {
				t.Errorf("error:\n got %q\nwant %q", err, tc.err)
			}
		})
	}
}

// compile, listing and ruleLine are the shared helpers under this file's
// names (fwd/rules/rulestest).
func compile(snippet string) (*rules.Ruleset, error) { return rulestest.Compile(snippet) }

func listing(t testing.TB, rs *rules.Ruleset, verbose bool) string {
	return rulestest.Listing(t, rs, verbose)
}

func ruleLine(t *testing.T, rs *rules.Ruleset) string { return rulestest.RuleLine(t, rs) }

// TestREADME checks the README's example compiles to the listing it shows.
func TestREADME(t *testing.T) { rulestest.README(t, tail) }
