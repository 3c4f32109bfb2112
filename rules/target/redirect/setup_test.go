package redirect_test

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
		{"port", "nat.prerouting", "proto = \"tcp\"\ndport = 80\naction = \"redirect\"\nto_ports = 3128", "REDIRECT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:80 redir ports 3128"},
		{"range", "nat.prerouting", "proto = \"udp\"\naction = \"redirect\"\nto_ports = \"5300-5309\"", "REDIRECT udp -- 0.0.0.0/0 0.0.0.0/0 redir ports 5300-5309"},
		{"port kept", "nat.prerouting", "proto = \"udp\"\ndport = 53\naction = \"redirect\"", "REDIRECT udp -- 0.0.0.0/0 0.0.0.0/0 udp dpt:53"},
		{"random", "nat.prerouting", "proto = \"tcp\"\naction = \"redirect\"\nto_ports = \"8000-8009\"\nrandom = true", "REDIRECT tcp -- 0.0.0.0/0 0.0.0.0/0 redir ports 8000-8009 random"},
		{"output", "nat.output", "proto = \"tcp\"\naction = \"redirect\"\nto_ports = 8080", "REDIRECT tcp -- 0.0.0.0/0 0.0.0.0/0 redir ports 8080"},
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
		{"to", "nat.prerouting", "proto = \"tcp\"\naction = \"redirect\"\nto = \"127.0.0.1:3128\"", `t.toml:4:1: to does not apply to redirect (it takes the interface's address); use to_ports for ports`},
		{"ports without proto", "nat.prerouting", "action = \"redirect\"\nto_ports = 3128", `t.toml:3:1: redirect with ports needs proto = "tcp" or "udp"`},
		{"ports as a name", "nat.prerouting", "proto = \"tcp\"\naction = \"redirect\"\nto_ports = \"squid\"", `t.toml:4:1: to_ports: expected a port or a range "a-b", got string "squid"`},
		{"ports as an array", "nat.prerouting", "proto = \"tcp\"\naction = \"redirect\"\nto_ports = [3128]", `t.toml:4:1: to_ports: expected a port or a range "a-b", got array [3128]`},
		{"postrouting", "nat.postrouting", "proto = \"tcp\"\naction = \"redirect\"\nto_ports = 3128", `t.toml:3:1: action redirect is not valid in chain postrouting; only in nat prerouting, output`},
		{"filter", "filter.input", `action = "redirect"`, `t.toml:2:1: action redirect is only valid in table nat (chains prerouting, output), not in filter`},
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
