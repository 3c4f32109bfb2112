package ttl_test

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
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"eq", `ttl = { eq = 1 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL == 1"},
		{"ne", `ttl = { ne = 64 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL != 64"},
		{"lt", `ttl = { lt = 10 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL < 10"},
		{"gt", `ttl = { gt = 0 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL > 0"},
		{"largest", `ttl = { eq = 255 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL == 255"},
		{"dotted key", "ttl.lt = 5", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 TTL match TTL < 5"},
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

	const one = `t.toml:2:1: ttl: expected one of { eq = N }, { lt = N }, { gt = N }, { ne = N }, got `
	bad := []struct {
		name, keys, err string
	}{
		{"number", `ttl = 64`, one + `integer 64`},
		{"empty table", `ttl = {}`, one + `table {  }`},
		{"two comparisons", `ttl = { gt = 1, lt = 9 }`, one + `table { gt = 1, lt = 9 }`},
		{"unknown comparison", `ttl = { le = 5 }`, `t.toml:2:1: ttl: unknown comparison "le" (eq, ne, lt, gt)`},
		{"too big", `ttl = { eq = 256 }`, `t.toml:2:1: ttl.eq: expected an integer 0..255, got integer 256`},
		{"negative", `ttl = { gt = -1 }`, `t.toml:2:1: ttl.gt: expected an integer 0..255, got integer -1`},
		{"string", `ttl = { lt = "5" }`, `t.toml:2:1: ttl.lt: expected an integer 0..255, got string "5"`},
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
