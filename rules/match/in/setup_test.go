package in_test

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
		{"name", "filter.forward", `in = "lan0"`, "ACCEPT all -- lan0 * 0.0.0.0/0 0.0.0.0/0"},
		{"wildcard", "filter.input", `in = "wan+"`, "ACCEPT all -- wan+ * 0.0.0.0/0 0.0.0.0/0"},
		{"array", "filter.forward", `in = ["lan0", "wan1"]`, "ACCEPT all -- lan0,wan1 * 0.0.0.0/0 0.0.0.0/0"},
		{"comma list", "filter.forward", `in = "lan0, wan1"`, "ACCEPT all -- lan0,wan1 * 0.0.0.0/0 0.0.0.0/0"},
		{"negated", "filter.forward", `in = "!wan0"`, "ACCEPT all -- !wan0 * 0.0.0.0/0 0.0.0.0/0"},
		{"negated wildcard", "filter.forward", `in = "!wan+"`, "ACCEPT all -- !wan+ * 0.0.0.0/0 0.0.0.0/0"},
		{"with out", "filter.forward", "in = \"lan0\"\nout = \"wan0\"", "ACCEPT all -- lan0 wan0 0.0.0.0/0 0.0.0.0/0"},
		{"raw prerouting", "raw.prerouting", `in = "wan0"`, "ACCEPT all -- wan0 * 0.0.0.0/0 0.0.0.0/0"},
		{"nat prerouting", "nat.prerouting", `in = "wan0"`, "ACCEPT all -- wan0 * 0.0.0.0/0 0.0.0.0/0"},
		{"mangle input", "mangle.input", `in = "lan0"`, "ACCEPT all -- lan0 * 0.0.0.0/0 0.0.0.0/0"},
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
		{"unknown", "filter.forward", `in = "lan9"`, `t.toml:2:1: no interface named "lan9"; did you mean "lan0"?`},
		{"wildcard matches none", "filter.forward", `in = "eth+"`, `t.toml:2:1: no interface matches "eth+" (interfaces: lan0, wan0, wan1)`},
		{"unknown in list", "filter.forward", `in = ["lan0", "wlan0"]`, `t.toml:2:1: no interface named "wlan0"; did you mean "lan0"?`},
		{"integer", "filter.forward", `in = 0`, `t.toml:2:1: in: expected an interface name, got integer 0`},
		{"empty", "filter.forward", `in = ""`, `t.toml:2:1: in: empty value`},
		{"negated element", "filter.forward", `in = "lan0,!wan0"`, `t.toml:2:1: in: negate the whole list ("!a,b"), not one element`},
		{"negated array element", "filter.forward", `in = ["!lan0"]`, `t.toml:2:1: in: an array element cannot be negated; write one string "!a,b"`},
		{"output", "filter.output", `in = "lan0"`, `t.toml:2:1: in cannot be used in chain output: packets there have no input interface`},
		{"postrouting", "nat.postrouting", `in = "lan0"`, `t.toml:2:1: in cannot be used in chain postrouting: packets there have no input interface`},
		{"raw output", "raw.output", `in = "lan0"`, `t.toml:2:1: in cannot be used in chain output: packets there have no input interface`},
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

// TestUserChain: a user chain may use in only when no chain without an
// input interface jumps to it.
func TestUserChain(t *testing.T) {
	const user = `
[[filter.c.rule]]
in = "lan0"
action = "accept"
`
	for _, tc := range []struct {
		name, from, err string
	}{
		{"unreachable", "", ""},
		{"from input", "input", ""},
		{"from input and forward", "input forward", ""},
		{"from output", "output", `t.toml:3:1: in cannot be used in chain c (reached from output): packets there have no input interface`},
		{"from forward and output", "forward output", `t.toml:3:1: in cannot be used in chain c (reached from output): packets there have no input interface`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := user
			for _, h := range strings.Fields(tc.from) {
				src += "\n[[filter." + h + ".rule]]\naction = \"jump\"\ntarget = \"c\"\n"
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
