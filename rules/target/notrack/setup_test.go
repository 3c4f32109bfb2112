package notrack_test

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
		{"prerouting", "raw.prerouting", "proto = \"udp\"\ndport = 53\naction = \"notrack\"", "CT udp -- 0.0.0.0/0 0.0.0.0/0 udp dpt:53 notrack"},
		{"output", "raw.output", `action = "notrack"`, "CT all -- 0.0.0.0/0 0.0.0.0/0 notrack"},
		{"user chain", "raw.dns", `action = "notrack"`, "CT all -- 0.0.0.0/0 0.0.0.0/0 notrack"},
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
		{"filter", "filter.input", `action = "notrack"`, `t.toml:2:1: action notrack is only valid in table raw (chains prerouting, output), not in filter`},
		{"mangle", "mangle.prerouting", `action = "notrack"`, `t.toml:2:1: action notrack is only valid in table raw (chains prerouting, output), not in mangle`},
		{"option", "raw.prerouting", "action = \"notrack\"\nto = \"1.2.3.4\"", `t.toml:3:1: to does not apply to action "notrack"; it goes with action = "dnat" or action = "masquerade" or action = "netmap" or action = "redirect" or action = "snat"`},
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
