package dnat_test

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
		{"address and port", "nat.prerouting", "proto = \"tcp\"\ndport = 8080\naction = \"dnat\"\nto = \"192.168.1.10:80\"", "DNAT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080 to:192.168.1.10:80"},
		{"address", "nat.prerouting", "dst = \"203.0.113.2\"\naction = \"dnat\"\nto = \"192.168.1.10\"", "DNAT all -- 0.0.0.0/0 203.0.113.2 to:192.168.1.10"},
		{"port only", "nat.prerouting", "proto = \"udp\"\naction = \"dnat\"\nto = \":5353\"", "DNAT udp -- 0.0.0.0/0 0.0.0.0/0 to::5353"},
		{"range", "nat.output", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10-192.168.1.12:8000-8002\"\npersistent = true", "DNAT tcp -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.10-192.168.1.12:8000-8002 persistent"},
		{"random", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"\nrandom = true", "DNAT all -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.10 random"},
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
		{"no to", "nat.prerouting", `action = "dnat"`, `t.toml:2:1: action dnat needs to = "ADDR[-ADDR][:PORT[-PORT]]"`},
		{"empty to", "nat.prerouting", "action = \"dnat\"\nto = \"\"", `t.toml:3:1: to: "" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"name", "nat.prerouting", "action = \"dnat\"\nto = \"webserver:80\"", `t.toml:3:1: to: "webserver:80" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"bad port", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10:http\"", `t.toml:4:1: to: "192.168.1.10:http" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"backwards ports", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10:90-80\"", `t.toml:4:1: to: "192.168.1.10:90-80" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"port without proto", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:3:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"port with two protos", "nat.prerouting", "proto = [\"tcp\", \"udp\"]\naction = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:4:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"port on icmp", "nat.prerouting", "proto = \"icmp\"\naction = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:4:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"to_ports", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10\"\nto_ports = 80", `t.toml:5:1: to_ports is for masquerade and redirect; give dnat ports in to ("addr:port")`},
		{"persistent not a bool", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"\npersistent = 1", `t.toml:4:1: persistent: expected a boolean, got integer 1`},
		{"postrouting", "nat.postrouting", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is not valid in chain postrouting; only in nat prerouting, output`},
		{"input", "nat.input", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is not valid in chain input; only in nat prerouting, output`},
		{"mangle", "mangle.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is only valid in table nat (chains prerouting, output), not in mangle`},
		{"user chain from postrouting", "nat.pub", "action = \"dnat\"\nto = \"192.168.1.10\"\n\n[[nat.prerouting.rule]]\naction = \"jump\"\ntarget = \"pub\"\n\n[[nat.postrouting.rule]]\naction = \"jump\"\ntarget = \"pub\"", `t.toml:2:1: action dnat is not valid in chain pub (reached from postrouting); only in nat prerouting, output`},
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
