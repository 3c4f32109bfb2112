package log_test

import (
	"fwd/rules/rulestest"
	"strings"
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
		{"plain", "filter.input", `action = "log"`, "LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4"},
		{"prefix", "filter.forward", "action = \"log\"\nlog_prefix = \"fwd drop: \"", `LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4 prefix "fwd drop: "`},
		{"29-byte prefix", "filter.forward", "action = \"log\"\nlog_prefix = \"" + strings.Repeat("p", 29) + "\"", `LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4 prefix "` + strings.Repeat("p", 29) + `"`},
		{"level", "raw.prerouting", "action = \"log\"\nlog_level = 7", "LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 7"},
		{"level 0", "mangle.forward", "action = \"log\"\nlog_level = 0", "LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 0"},
		{"limit", "nat.prerouting", "action = \"log\"\nlog_limit = \"1/minute\"\nlog_burst = 1", "LOG all -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4"},
		{"no limit", "filter.output", "proto = \"icmp\"\naction = \"log\"\nlog_limit = \"none\"", "LOG icmp -- 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4"},
		{"with a limit match", "filter.input", "limit = \"3/hour\"\naction = \"log\"\nlog_prefix = \"x\"", `LOG all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 3/hour burst 5 LOG flags 0 level 4 prefix "x"`},
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
		{"prefix too long", "filter.input", "action = \"log\"\nlog_prefix = \"" + strings.Repeat("p", 30) + "\"", `t.toml:3:1: log_prefix: expected a string of at most 29 bytes, got string "` + strings.Repeat("p", 30) + `"`},
		{"prefix not a string", "filter.input", "action = \"log\"\nlog_prefix = 1", `t.toml:3:1: log_prefix: expected a string of at most 29 bytes, got integer 1`},
		{"level too big", "filter.input", "action = \"log\"\nlog_level = 8", `t.toml:3:1: log_level: expected 0..7, got integer 8`},
		{"level name", "filter.input", "action = \"log\"\nlog_level = \"warning\"", `t.toml:3:1: log_level: expected 0..7, got string "warning"`},
		{"limit", "filter.input", "action = \"log\"\nlog_limit = \"5\"", `t.toml:3:1: log_limit: expected a rate like "5/second" or "none", got string "5"`},
		{"limit number", "filter.input", "action = \"log\"\nlog_limit = 5", `t.toml:3:1: log_limit: expected a rate like "5/second" or "none", got integer 5`},
		{"burst zero", "filter.input", "action = \"log\"\nlog_burst = 0", `t.toml:3:1: log_burst: expected 1..10000, got integer 0`},
		{"prefix without log", "filter.input", "action = \"drop\"\nlog_prefix = \"x\"", `t.toml:3:1: log_prefix does not apply to action "drop"; it goes with action = "log"`},
		{"prefix without action", "filter.input", `log_prefix = "x"`, `t.toml:2:1: log_prefix needs an action (action = "log")`},
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
