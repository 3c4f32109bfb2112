package connlimit_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"drop\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"count", `connlimit = 10`, "DROP all -- 0.0.0.0/0 0.0.0.0/0 #conn src/32 > 10"},
		{"zero", `connlimit = 0`, "DROP all -- 0.0.0.0/0 0.0.0.0/0 #conn src/32 > 0"},
		{"above prefix", `connlimit = { above = 2, prefix = 24 }`, "DROP all -- 0.0.0.0/0 0.0.0.0/0 #conn src/24 > 2"},
		{"upto dst", `connlimit = { upto = 5, mode = "dst" }`, "DROP all -- 0.0.0.0/0 0.0.0.0/0 #conn dst/32 <= 5"},
		{"timeout", `connlimit = { above = 100, mode = "src", prefix = 0, timeout = "30s" }`, "DROP all -- 0.0.0.0/0 0.0.0.0/0 #conn src/0 > 100"},
		{"with dport", "proto = \"tcp\"\ndport = 80\nconnlimit = 16", "DROP tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:80 #conn src/32 > 16"},
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

	bad := []struct {
		name, keys, err string
	}{
		{"string", `connlimit = "10"`, `t.toml:2:1: connlimit: expected a count or { above = N, prefix = 24 }, got string "10"`},
		{"negative", `connlimit = -1`, `t.toml:2:1: connlimit: expected a count, got integer -1`},
		{"huge", `connlimit = 2000000000`, `t.toml:2:1: connlimit: expected a count, got integer 2000000000`},
		{"neither", `connlimit = { prefix = 24 }`, `t.toml:2:1: connlimit needs one of above or upto`},
		{"both", `connlimit = { above = 1, upto = 2 }`, `t.toml:2:1: connlimit needs one of above or upto`},
		{"above string", `connlimit = { above = "3" }`, `t.toml:2:1: connlimit.above: expected a count, got string "3"`},
		{"upto negative", `connlimit = { upto = -3 }`, `t.toml:2:1: connlimit.upto: expected a count, got integer -3`},
		{"prefix", `connlimit = { above = 1, prefix = 33 }`, `t.toml:2:1: connlimit.prefix: expected 0..32, got integer 33`},
		{"mode", `connlimit = { above = 1, mode = "both" }`, `t.toml:2:1: connlimit.mode: expected "src" or "dst", got string "both"`},
		{"timeout unit", `connlimit = { above = 1, timeout = "300" }`, `t.toml:2:1: connlimit.timeout: expected a duration like "5m", got string "300"`},
		{"timeout zero", `connlimit = { above = 1, timeout = "0s" }`, `t.toml:2:1: connlimit.timeout: expected a duration like "5m", got string "0s"`},
		{"timeout number", `connlimit = { above = 1, timeout = 300 }`, `t.toml:2:1: connlimit.timeout: expected a duration like "5m", got integer 300`},
		{"unknown key", `connlimit = { above = 1, saddr = true }`, `t.toml:2:1: connlimit: unknown key "saddr" (above, upto, prefix, mode, timeout)`},
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
