package src_range_test

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
		{"range", `src_range = "10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 source IP range 10.0.0.5-10.0.0.20"},
		{"spaces", `src_range = " 10.0.0.5 - 10.0.0.20 "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 source IP range 10.0.0.5-10.0.0.20"},
		{"one address", `src_range = "192.0.2.1-192.0.2.1"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 source IP range 192.0.2.1-192.0.2.1"},
		{"whole space", `src_range = "0.0.0.0-255.255.255.255"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 source IP range 0.0.0.0-255.255.255.255"},
		{"negated", `src_range = "!10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! source IP range 10.0.0.5-10.0.0.20"},
		{"negated space", `src_range = "! 10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! source IP range 10.0.0.5-10.0.0.20"},
		{"with dst", "dst = \"192.0.2.0/24\"\nsrc_range = \"10.0.0.5-10.0.0.20\"", "ACCEPT all -- 0.0.0.0/0 192.0.2.0/24 source IP range 10.0.0.5-10.0.0.20"},
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
		{"backwards", `src_range = "10.0.0.20-10.0.0.5"`, `t.toml:2:1: src_range: range "10.0.0.20-10.0.0.5" ends before it starts`},
		{"one address only", `src_range = "10.0.0.5"`, `t.toml:2:1: src_range: "10.0.0.5" is not an address range "a.b.c.d-e.f.g.h"`},
		{"prefix", `src_range = "10.0.0.0/8-10.0.0.9"`, `t.toml:2:1: src_range: "10.0.0.0/8-10.0.0.9" is not an address range "a.b.c.d-e.f.g.h"`},
		{"bad address", `src_range = "10.0.0.5-10.0.0.256"`, `t.toml:2:1: src_range: "10.0.0.5-10.0.0.256" is not an address range "a.b.c.d-e.f.g.h"`},
		{"ipv6", `src_range = "::1-::9"`, `t.toml:2:1: src_range: "::1-::9" is not an address range "a.b.c.d-e.f.g.h"`},
		{"negated backwards", `src_range = "!10.0.0.9-10.0.0.1"`, `t.toml:2:1: src_range: range "10.0.0.9-10.0.0.1" ends before it starts`},
		{"array", `src_range = ["10.0.0.1-10.0.0.2"]`, `t.toml:2:1: src_range: expected a string "a.b.c.d-e.f.g.h", got array ["10.0.0.1-10.0.0.2"]`},
		{"integer", `src_range = 5`, `t.toml:2:1: src_range: expected a string "a.b.c.d-e.f.g.h", got integer 5`},
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
