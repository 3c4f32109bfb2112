package accept_test

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
		{"filter", "filter.input", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"raw", "raw.prerouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"mangle", "mangle.postrouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"nat", "nat.prerouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"user chain", "filter.mine", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"with matches", "filter.forward", "src = \"10.0.0.0/8\"\nproto = \"udp\"\ndport = 53\naction = \"accept\"", "ACCEPT udp -- 10.0.0.0/8 0.0.0.0/0 udp dpt:53"},
		{"action first", "filter.forward", "action = \"accept\"\nct_state = \"established\"", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate ESTABLISHED"},
		{"no action", "filter.forward", `src = "10.0.0.1"`, "all -- 10.0.0.1 0.0.0.0/0"},
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

	const actions = "(actions: accept, connmark, dnat, drop, goto, jump, log, mark, masquerade, netmap, notrack, offload, redirect, reject, return, snat)"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"misspelt", "filter.input", `action = "acept"`, `t.toml:2:1: unknown action "acept"; did you mean "accept"? ` + actions},
		{"upper case", "filter.input", `action = "ACCEPT"`, `t.toml:2:1: unknown action "ACCEPT" ` + actions},
		{"integer", "filter.input", `action = 1`, `t.toml:2:1: action: expected a string, got integer 1`},
		{"another target's option", "filter.input", "action = \"accept\"\nreject_with = \"tcp-reset\"", `t.toml:3:1: reject_with does not apply to action "accept"; it goes with action = "reject"`},
		{"target key", "filter.input", "action = \"accept\"\ntarget = \"x\"", `t.toml:3:1: target does not apply to action "accept"; it goes with action = "goto" or action = "jump"`},
		{"unknown key", "filter.input", "action = \"accept\"\nverdict = \"x\"", `t.toml:3:1: unknown rule key "verdict"`},
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
