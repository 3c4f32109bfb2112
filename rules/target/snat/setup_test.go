package snat_test

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
		{"address", "nat.postrouting", "src = \"192.168.1.0/24\"\naction = \"snat\"\nto = \"203.0.113.2\"", "SNAT all -- 192.168.1.0/24 0.0.0.0/0 to:203.0.113.2"},
		{"range", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.2-203.0.113.9\"", "SNAT all -- 0.0.0.0/0 0.0.0.0/0 to:203.0.113.2-203.0.113.9"},
		{"port", "nat.postrouting", "proto = \"udp\"\naction = \"snat\"\nto = \"203.0.113.2:5000\"", "SNAT udp -- 0.0.0.0/0 0.0.0.0/0 to:203.0.113.2:5000"},
		{"ports", "nat.postrouting", "proto = \"tcp\"\naction = \"snat\"\nto = \"203.0.113.2:1024-65535\"", "SNAT tcp -- 0.0.0.0/0 0.0.0.0/0 to:203.0.113.2:1024-65535"},
		{"flags", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.2\"\nrandom = true\nfully_random = true\npersistent = true", "SNAT all -- 0.0.0.0/0 0.0.0.0/0 to:203.0.113.2 random random-fully persistent"},
		{"flags false", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.2\"\nrandom = false", "SNAT all -- 0.0.0.0/0 0.0.0.0/0 to:203.0.113.2"},
		{"input", "nat.input", "action = \"snat\"\nto = \"192.168.1.1\"", "SNAT all -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.1"},
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
		{"no to", "nat.postrouting", `action = "snat"`, `t.toml:2:1: action snat needs to = "ADDR[-ADDR][:PORT[-PORT]]"`},
		{"bad address", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.256\"", `t.toml:3:1: to: "203.0.113.256" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"prefix", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.0/24\"", `t.toml:3:1: to: "203.0.113.0/24" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"backwards range", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.9-203.0.113.2\"", `t.toml:3:1: to: "203.0.113.9-203.0.113.2" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"port 0", "nat.postrouting", "proto = \"tcp\"\naction = \"snat\"\nto = \"203.0.113.2:0\"", `t.toml:4:1: to: "203.0.113.2:0" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"to not a string", "nat.postrouting", "action = \"snat\"\nto = [\"203.0.113.2\"]", `t.toml:3:1: to: expected a string like "192.0.2.1:80", got array ["203.0.113.2"]`},
		{"ports without proto", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.2:1024-2047\"", `t.toml:3:1: snat with ports needs proto = "tcp" or "udp"`},
		{"to_ports", "nat.postrouting", "proto = \"tcp\"\naction = \"snat\"\nto = \"203.0.113.2\"\nto_ports = \"1024-2047\"", `t.toml:5:1: to_ports is for masquerade and redirect; give snat ports in to ("addr:port")`},
		{"random not a bool", "nat.postrouting", "action = \"snat\"\nto = \"203.0.113.2\"\nrandom = \"yes\"", `t.toml:4:1: random: expected a boolean, got string "yes"`},
		{"prerouting", "nat.prerouting", "action = \"snat\"\nto = \"203.0.113.2\"", `t.toml:2:1: action snat is not valid in chain prerouting; only in nat input, postrouting`},
		{"output", "nat.output", "action = \"snat\"\nto = \"203.0.113.2\"", `t.toml:2:1: action snat is not valid in chain output; only in nat input, postrouting`},
		{"filter", "filter.forward", "action = \"snat\"\nto = \"203.0.113.2\"", `t.toml:2:1: action snat is only valid in table nat (chains input, postrouting), not in filter`},
		{"user chain from prerouting", "nat.mine", "action = \"snat\"\nto = \"203.0.113.2\"\n\n[[nat.prerouting.rule]]\naction = \"jump\"\ntarget = \"mine\"", `t.toml:2:1: action snat is not valid in chain mine (reached from prerouting); only in nat input, postrouting`},
		{"to without action", "nat.postrouting", `to = "203.0.113.2"`, `t.toml:2:1: to needs an action (action = "dnat" or action = "masquerade" or action = "netmap" or action = "redirect" or action = "snat")`},
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
