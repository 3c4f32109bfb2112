package limit_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one filter input rule holding keys.
func rule(keys string) string {
	return "[[filter.input.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"per minute", `limit = "3/minute"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 3/min burst 5"},
		{"burst", "limit = \"10/s\"\nlimit_burst = 20", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 10/sec burst 20"},
		{"burst first", "limit_burst = 1\nlimit = \"1/sec\"", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/sec burst 1"},
		{"second", `limit = "100/second"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 100/sec burst 5"},
		{"min", `limit = "6/min"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 6/min burst 5"},
		{"hour", `limit = "1/h"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/hour burst 5"},
		{"day", `limit = " 2 / day "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 2/day burst 5"},
		{"biggest burst", "limit = \"1/d\"\nlimit_burst = 10000", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/day burst 10000"},
		{"with proto", "proto = \"icmp\"\nlimit = \"1/s\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/sec burst 5"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile(rule(tc.keys))
			if err != nil {
				t.Fatal(err)
			}
			if got := ruleLine(t, rs); got != tc.want {
				t.Errorf("listing:\n got %q\nwant %q", got, tc.want)
			}
		})
	}

	const rate = `is not a rate like "3/minute" (per second, minute, hour or day)`
	bad := []struct {
		name, keys, err string
	}{
		{"integer", `limit = 3`, `t.toml:2:1: limit: expected a rate like "3/minute", got integer 3`},
		{"no unit", `limit = "3"`, `t.toml:2:1: limit: "3" ` + rate},
		{"week", `limit = "3/week"`, `t.toml:2:1: limit: "3/week" ` + rate},
		{"zero", `limit = "0/s"`, `t.toml:2:1: limit: "0/s" ` + rate},
		{"negative", `limit = "-1/s"`, `t.toml:2:1: limit: "-1/s" ` + rate},
		{"too fast", `limit = "2000000000/s"`, `t.toml:2:1: limit: "2000000000/s" ` + rate},
		{"not a number", `limit = "many/s"`, `t.toml:2:1: limit: "many/s" ` + rate},
		{"burst zero", "limit = \"1/s\"\nlimit_burst = 0", `t.toml:3:1: limit_burst: expected an integer 1..10000, got integer 0`},
		{"burst too big", "limit = \"1/s\"\nlimit_burst = 10001", `t.toml:3:1: limit_burst: expected an integer 1..10000, got integer 10001`},
		{"burst string", "limit = \"1/s\"\nlimit_burst = \"5\"", `t.toml:3:1: limit_burst: expected an integer 1..10000, got string "5"`},
		{"burst alone", `limit_burst = 5`, `t.toml:2:1: limit_burst only goes with limit`},
		{"burst misspelt", "limit = \"1/s\"\nlimit_brust = 5", `t.toml:3:1: unknown rule key "limit_brust"; did you mean "limit_burst"?`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(rule(tc.keys))
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
