package comment_test

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

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	long := strings.Repeat("x", 255)
	good := []struct {
		name, keys, want string
	}{
		{"text", `comment = "allow the LAN"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 /* allow the LAN */"},
		{"with matches", "comment = \"ssh\"\nproto = \"tcp\"\ndport = 22", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 /* ssh */ tcp dpt:22"},
		{"after matches", "ct_state = \"new\"\ncomment = \"new ones\"", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 /* new ones */ ctstate NEW"},
		{"empty", `comment = ""`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"255 bytes", `comment = "` + long + `"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 /* " + long + " */"},
		{"unicode", `comment = "café ☕"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 /* café ☕ */"},
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
		{"integer", `comment = 42`, `t.toml:2:1: comment: expected a string, got integer 42`},
		{"array", `comment = ["a", "b"]`, `t.toml:2:1: comment: expected a string, got array ["a", "b"]`},
		{"too long", `comment = "` + long + `y"`, `t.toml:2:1: comment: at most 255 bytes (this one has 256)`},
		{"misspelt", `coment = "x"`, `t.toml:2:1: unknown rule key "coment"; did you mean "comment"?`},
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
