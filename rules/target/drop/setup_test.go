package drop_test

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
		{"filter", "filter.forward", `action = "drop"`, "DROP all -- 0.0.0.0/0 0.0.0.0/0"},
		{"raw", "raw.prerouting", "src = \"192.0.2.0/24\"\naction = \"drop\"", "DROP all -- 192.0.2.0/24 0.0.0.0/0"},
		{"mangle", "mangle.output", `action = "drop"`, "DROP all -- 0.0.0.0/0 0.0.0.0/0"},
		{"nat", "nat.prerouting", "proto = \"tcp\"\ndport = 25\naction = \"drop\"", "DROP tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:25"},
		{"user chain", "filter.blocked", "comment = \"blocked\"\naction = \"drop\"", "DROP all -- 0.0.0.0/0 0.0.0.0/0 /* blocked */"},
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
		{"misspelt", "filter.input", `action = "dorp"`, `t.toml:2:1: unknown action "dorp"; did you mean "drop"? (actions: accept, connmark, dnat, drop, goto, jump, log, mark, masquerade, netmap, notrack, offload, redirect, reject, return, snat)`},
		{"nat option", "filter.input", "action = \"drop\"\nto = \"10.0.0.1\"", `t.toml:3:1: to does not apply to action "drop"; it goes with action = "dnat" or action = "masquerade" or action = "netmap" or action = "redirect" or action = "snat"`},
		{"log option", "filter.input", "log_prefix = \"x\"\naction = \"drop\"", `t.toml:2:1: log_prefix does not apply to action "drop"; it goes with action = "log"`},
		{"policy in a rule", "filter.input", "action = \"drop\"\npolicy = \"drop\"", `t.toml:3:1: unknown rule key "policy"`},
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
