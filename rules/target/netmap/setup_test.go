package netmap_test

import (
	"fwd/rules/rulestest"
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
		{"prerouting", "nat.prerouting", "dst = \"203.0.113.16/28\"\naction = \"netmap\"\nto = \"192.168.1.16/28\"", "NETMAP all -- 0.0.0.0/0 203.0.113.16/28 to:192.168.1.16/28"},
		{"postrouting", "nat.postrouting", "src = \"192.168.1.16/28\"\naction = \"netmap\"\nto = \"203.0.113.16/28\"", "NETMAP all -- 192.168.1.16/28 0.0.0.0/0 to:203.0.113.16/28"},
		{"input", "nat.input", "action = \"netmap\"\nto = \"10.9.0.0/16\"", "NETMAP all -- 0.0.0.0/0 0.0.0.0/0 to:10.9.0.0/16"},
		{"output", "nat.output", "action = \"netmap\"\nto = \"10.9.0.0/16\"", "NETMAP all -- 0.0.0.0/0 0.0.0.0/0 to:10.9.0.0/16"},
		{"one address", "nat.prerouting", "action = \"netmap\"\nto = \"192.168.1.10\"", "NETMAP all -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.10/32"},
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
		{"no to", "nat.prerouting", `action = "netmap"`, `t.toml:2:1: action netmap needs to = "NETWORK/LEN"`},
		{"host bits", "nat.prerouting", "action = \"netmap\"\nto = \"192.168.1.17/28\"", `t.toml:3:1: to: "192.168.1.17/28" has host bits set; did you mean "192.168.1.16/28"?`},
		{"range", "nat.prerouting", "action = \"netmap\"\nto = \"192.168.1.16-192.168.1.31\"", `t.toml:3:1: to: "192.168.1.16-192.168.1.31" is not an IPv4 address or prefix`},
		{"to not a string", "nat.prerouting", "action = \"netmap\"\nto = 24", `t.toml:3:1: to: expected a string like "10.0.0.0/24", got integer 24`},
		{"to_ports", "nat.prerouting", "proto = \"tcp\"\naction = \"netmap\"\nto = \"192.168.1.16/28\"\nto_ports = 80", `t.toml:5:1: netmap maps addresses only; to_ports does not apply`},
		{"filter", "filter.forward", "action = \"netmap\"\nto = \"192.168.1.16/28\"", `t.toml:2:1: action netmap is only valid in table nat (chains prerouting, input, output, postrouting), not in filter`},
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
