package ct_state_test

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
		{"one", `ct_state = "new"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate NEW"},
		{"upper case", `ct_state = "INVALID"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate INVALID"},
		{"array in libxt order", `ct_state = ["established", "related"]`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate RELATED,ESTABLISHED"},
		{"comma list", `ct_state = "untracked,new,invalid"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate INVALID,NEW,UNTRACKED"},
		{"repeated", `ct_state = ["new", "new"]`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate NEW"},
		{"negated", `ct_state = "!new"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! ctstate NEW"},
		{"negated list", `ct_state = "! established, related"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! ctstate RELATED,ESTABLISHED"},
		{"with proto", "proto = \"tcp\"\nct_state = \"untracked\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 ctstate UNTRACKED"},
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

	const states = "(new, established, related, invalid, untracked)"
	bad := []struct {
		name, keys, err string
	}{
		{"misspelt", `ct_state = "estabished"`, `t.toml:2:1: ct_state: string "estabished" is not a state ` + states + `; did you mean "established"?`},
		{"misspelt in list", `ct_state = ["new", "relatd"]`, `t.toml:2:1: ct_state: string "relatd" is not a state ` + states + `; did you mean "related"?`},
		{"iptables spelling", `ct_state = "NEW,ESTABLISHED,RELATD"`, `t.toml:2:1: ct_state: string "RELATD" is not a state ` + states + `; did you mean "related"?`},
		{"none", `ct_state = "none"`, `t.toml:2:1: ct_state: string "none" is not a state ` + states},
		{"integer", `ct_state = 1`, `t.toml:2:1: ct_state: integer 1 is not a state ` + states},
		{"empty", `ct_state = ""`, `t.toml:2:1: ct_state: empty value`},
		{"empty array", `ct_state = []`, `t.toml:2:1: ct_state: empty array`},
		{"negated element", `ct_state = "new,!invalid"`, `t.toml:2:1: ct_state: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `ct_state = ["!new"]`, `t.toml:2:1: ct_state: an array element cannot be negated; write one string "!a,b"`},
		{"table", `ct_state = { new = true }`, `t.toml:2:1: ct_state: expected a value or an array of values, got table { new = true }`},
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
