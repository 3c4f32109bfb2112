package masquerade_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = `
[[interface]]
name = "wan0"
addr = "203.0.113.2/24"
`

// rule is a snippet with one rule in table.chain holding keys.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"plain", "nat.postrouting", "out = \"wan0\"\naction = \"masquerade\"", "MASQUERADE all -- 0.0.0.0/0 0.0.0.0/0"},
		{"with source", "nat.postrouting", "src = \"192.168.1.0/24\"\naction = \"masquerade\"", "MASQUERADE all -- 192.168.1.0/24 0.0.0.0/0"},
		{"ports", "nat.postrouting", "proto = \"tcp\"\naction = \"masquerade\"\nto_ports = \"1024-65535\"", "MASQUERADE tcp -- 0.0.0.0/0 0.0.0.0/0 masq ports: 1024-65535"},
		{"one port", "nat.postrouting", "proto = \"udp\"\naction = \"masquerade\"\nto_ports = 4500", "MASQUERADE udp -- 0.0.0.0/0 0.0.0.0/0 masq ports: 4500"},
		{"colon range", "nat.postrouting", "proto = \"udp\"\naction = \"masquerade\"\nto_ports = \"2000:2999\"", "MASQUERADE udp -- 0.0.0.0/0 0.0.0.0/0 masq ports: 2000-2999"},
		{"random", "nat.postrouting", "action = \"masquerade\"\nrandom = true", "MASQUERADE all -- 0.0.0.0/0 0.0.0.0/0 random"},
		{"fully random", "nat.postrouting", "proto = \"tcp\"\naction = \"masquerade\"\nto_ports = \"1024-65535\"\nfully_random = true", "MASQUERADE tcp -- 0.0.0.0/0 0.0.0.0/0 masq ports: 1024-65535 random-fully"},
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
		{"to", "nat.postrouting", "action = \"masquerade\"\nto = \"203.0.113.2\"", `t.toml:3:1: to does not apply to masquerade (it takes the interface's address); use to_ports for ports`},
		{"ports without proto", "nat.postrouting", "action = \"masquerade\"\nto_ports = \"1024-65535\"", `t.toml:3:1: masquerade with ports needs proto = "tcp" or "udp"`},
		{"bad ports", "nat.postrouting", "proto = \"tcp\"\naction = \"masquerade\"\nto_ports = \"1024-\"", `t.toml:4:1: to_ports: expected a port or a range "a-b", got string "1024-"`},
		{"port too big", "nat.postrouting", "proto = \"tcp\"\naction = \"masquerade\"\nto_ports = 65536", `t.toml:4:1: to_ports: expected a port or a range "a-b", got integer 65536`},
		{"backwards ports", "nat.postrouting", "proto = \"tcp\"\naction = \"masquerade\"\nto_ports = \"2000-1000\"", `t.toml:4:1: to_ports: expected a port or a range "a-b", got string "2000-1000"`},
		{"fully_random not a bool", "nat.postrouting", "action = \"masquerade\"\nfully_random = \"on\"", `t.toml:3:1: fully_random: expected a boolean, got string "on"`},
		{"input", "nat.input", `action = "masquerade"`, `t.toml:2:1: action masquerade is not valid in chain input; only in nat postrouting`},
		{"prerouting", "nat.prerouting", `action = "masquerade"`, `t.toml:2:1: action masquerade is not valid in chain prerouting; only in nat postrouting`},
		{"filter", "filter.forward", `action = "masquerade"`, `t.toml:2:1: action masquerade is only valid in table nat (chains postrouting), not in filter`},
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
func TestREADME(t *testing.T) { rulestest.README(t, "") }
