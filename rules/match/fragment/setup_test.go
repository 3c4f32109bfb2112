package fragment_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one raw prerouting rule holding keys.
func rule(keys string) string {
	return "[[raw.prerouting.rule]]\n" + keys + "\naction = \"drop\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"fragments", `fragment = true`, "DROP all -f 0.0.0.0/0 0.0.0.0/0"},
		{"not fragments", `fragment = false`, "DROP all !f 0.0.0.0/0 0.0.0.0/0"},
		{"with proto", "proto = \"udp\"\nfragment = true", "DROP udp -f 0.0.0.0/0 0.0.0.0/0"},
		{"with src", "src = \"192.0.2.0/24\"\nfragment = true", "DROP all -f 192.0.2.0/24 0.0.0.0/0"},
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
		{"string", `fragment = "yes"`, `t.toml:2:1: fragment: expected true or false, got string "yes"`},
		{"negation string", `fragment = "!true"`, `t.toml:2:1: fragment: expected true or false, got string "!true"`},
		{"integer", `fragment = 1`, `t.toml:2:1: fragment: expected true or false, got integer 1`},
		{"misspelt", `fragments = true`, `t.toml:2:1: unknown rule key "fragments"; did you mean "fragment"?`},
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
