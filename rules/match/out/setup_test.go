package out_test

import (
	"fwd/rules/rulestest"
	"strings"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml. The interfaces get indexes 0, 1, 2 in file order.
const tail = `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"

[[interface]]
name = "wan1"
addr = "198.51.100.2/24"
`

// rule is a snippet with one rule in table.chain holding keys.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

// ruleLineV is the `fwd rules -L -v` line of the first rule without its
// counters, columns joined by single spaces.
func ruleLineV(t *testing.T, rs *rules.Ruleset) string {
	t.Helper()
	l := listing(t, rs, true)
	for _, line := range strings.Split(l, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "#" || f[0] == "Chain" || f[0] == "pkts" {
			continue
		}
		return strings.Join(f[2:], " ")
	}
	t.Fatalf("no rule in the listing:\n%s", l)
	return ""
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"name", "filter.forward", `out = "wan0"`, "ACCEPT all -- * wan0 0.0.0.0/0 0.0.0.0/0"},
		{"wildcard", "nat.postrouting", `out = "wan+"`, "ACCEPT all -- * wan+ 0.0.0.0/0 0.0.0.0/0"},
		{"array", "filter.forward", `out = ["lan0", "wan1"]`, "ACCEPT all -- * lan0,wan1 0.0.0.0/0 0.0.0.0/0"},
		{"comma list", "filter.output", `out = "lan0,wan1"`, "ACCEPT all -- * lan0,wan1 0.0.0.0/0 0.0.0.0/0"},
		{"negated", "filter.forward", `out = "!wan0"`, "ACCEPT all -- * !wan0 0.0.0.0/0 0.0.0.0/0"},
		{"negated wildcard", "filter.forward", `out = "!wan+"`, "ACCEPT all -- * !wan+ 0.0.0.0/0 0.0.0.0/0"},
		{"with in", "filter.forward", "out = \"wan0\"\nin = \"lan0\"", "ACCEPT all -- lan0 wan0 0.0.0.0/0 0.0.0.0/0"},
		{"raw output", "raw.output", `out = "lan0"`, "ACCEPT all -- * lan0 0.0.0.0/0 0.0.0.0/0"},
		{"mangle postrouting", "mangle.postrouting", `out = "wan1"`, "ACCEPT all -- * wan1 0.0.0.0/0 0.0.0.0/0"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile(rule(tc.chain, tc.keys))
			if err != nil {
				t.Fatal(err)
			}
			if got := ruleLineV(t, rs); got != tc.want {
				t.Errorf("listing:\n got %q\nwant %q", got, tc.want)
			}
		})
	}

	bad := []struct {
		name, chain, keys, err string
	}{
		{"unknown", "filter.forward", `out = "wan2"`, `t.toml:2:1: no interface named "wan2"; did you mean "wan0"?`},
		{"wildcard matches none", "filter.forward", `out = "ppp+"`, `t.toml:2:1: no interface matches "ppp+" (interfaces: lan0, wan0, wan1)`},
		{"unknown in list", "filter.forward", `out = "lan0,dmz0"`, `t.toml:2:1: no interface named "dmz0"`},
		{"integer", "filter.forward", `out = ["wan0", 1]`, `t.toml:2:1: out: expected an interface name, got integer 1`},
		{"empty", "filter.forward", `out = "!"`, `t.toml:2:1: out: empty value`},
		{"empty array", "filter.forward", `out = []`, `t.toml:2:1: out: empty array`},
		{"negated element", "filter.forward", `out = "wan0, !wan1"`, `t.toml:2:1: out: negate the whole list ("!a,b"), not one element`},
		{"input", "filter.input", `out = "lan0"`, `t.toml:2:1: out cannot be used in chain input: packets there have no output interface yet`},
		{"prerouting", "nat.prerouting", `out = "lan0"`, `t.toml:2:1: out cannot be used in chain prerouting: packets there have no output interface yet`},
		{"raw prerouting", "raw.prerouting", `out = "lan0"`, `t.toml:2:1: out cannot be used in chain prerouting: packets there have no output interface yet`},
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

// TestUserChain: a user chain may use out only when no chain before
// routing jumps to it.
func TestUserChain(t *testing.T) {
	const user = `
[[mangle.c.rule]]
out = "wan0"
action = "accept"
`
	for _, tc := range []struct {
		name, from, err string
	}{
		{"unreachable", "", ""},
		{"from forward", "forward", ""},
		{"from output and postrouting", "output postrouting", ""},
		{"from prerouting", "prerouting", `t.toml:3:1: out cannot be used in chain c (reached from prerouting): packets there have no output interface yet`},
		{"from input and prerouting", "forward input prerouting", `t.toml:3:1: out cannot be used in chain c (reached from prerouting, input): packets there have no output interface yet`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := user
			for _, h := range strings.Fields(tc.from) {
				src += "\n[[mangle." + h + ".rule]]\naction = \"jump\"\ntarget = \"c\"\n"
			}
			_, err := compile(src + tail)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error:\n got %q\nwant %q", got, tc.err)
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
func TestREADME(t *testing.T) { rulestest.README(t, "") }
