package dport_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = `
[sets.ports]
type = "port"
elements = [22, "8000-8099"]

[sets.nets]
type = "ipv4_net"
elements = ["10.0.0.0/8"]
`

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"port", "proto = \"tcp\"\ndport = 22", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:22"},
		{"port string", "proto = \"udp\"\ndport = \"53\"", "ACCEPT udp -- 0.0.0.0/0 0.0.0.0/0 udp dpt:53"},
		{"without proto", `dport = 53`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 tcp/udp dpt:53"},
		{"range", "proto = \"tcp\"\ndport = \"8000-8099\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpts:8000:8099"},
		{"range with colon", "proto = \"tcp\"\ndport = \"1024:65535\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpts:1024:65535"},
		{"negated", "proto = \"tcp\"\ndport = \"!22\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:!22"},
		{"negated range", "proto = \"tcp\"\ndport = \"!0-1023\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpts:!0:1023"},
		{"array", "proto = \"tcp\"\ndport = [80, 443, \"8000-8099\"]", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport dports 80,443,8000:8099"},
		{"comma list", "proto = \"tcp\"\ndport = \"80,443\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport dports 80,443"},
		{"negated list", "proto = \"tcp\"\ndport = \"!80,443\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport dports ! 80,443"},
		{"set", "proto = \"tcp\"\ndport = \"@ports\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 match-set ports dst"},
		{"negated set", "proto = \"tcp\"\ndport = \"!@ports\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 ! match-set ports dst"},
		{"with sport", "proto = \"udp\"\nsport = 68\ndport = 67", "ACCEPT udp -- 0.0.0.0/0 0.0.0.0/0 udp spt:68 dpt:67"},
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
		{"service name", `dport = "http"`, `t.toml:2:1: dport: "http" is not a port, a range "a-b" or "@set"`},
		{"too big", `dport = 65536`, `t.toml:2:1: dport: 65536 is not a port (0..65535)`},
		{"negative", `dport = -1`, `t.toml:2:1: dport: -1 is not a port (0..65535)`},
		{"too big string", `dport = "70000"`, `t.toml:2:1: dport: "70000" is not a port, a range "a-b" or "@set"`},
		{"backwards range", `dport = "99-10"`, `t.toml:2:1: dport: "99-10" is not a port, a range "a-b" or "@set"`},
		{"open range", `dport = "1024-"`, `t.toml:2:1: dport: "1024-" is not a port, a range "a-b" or "@set"`},
		{"float", `dport = 22.5`, `t.toml:2:1: dport: expected a port, a range or "@set", got float 22.5`},
		{"bad in array", `dport = [22, "ssh"]`, `t.toml:2:1: dport: "ssh" is not a port, a range "a-b" or "@set"`},
		{"empty", `dport = ""`, `t.toml:2:1: dport: empty value`},
		{"empty array", `dport = []`, `t.toml:2:1: dport: empty array`},
		{"negated element", `dport = "80,!443"`, `t.toml:2:1: dport: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `dport = [80, "!443"]`, `t.toml:2:1: dport: an array element cannot be negated; write one string "!a,b"`},
		{"unknown set", `dport = "@port"`, `t.toml:2:1: no set named "port"; did you mean "ports"?`},
		{"address set", `dport = "@nets"`, `t.toml:2:1: set "nets" has type ipv4_net; this match needs port`},
		{"set in a list", `dport = "22,@ports"`, `t.toml:2:1: dport: a set cannot be mixed with other elements`},
		{"icmp", "proto = \"icmp\"\ndport = 22", `t.toml:3:1: dport needs proto tcp or udp (the rule has proto icmp)`},
		{"proto after", "dport = 22\nproto = 47", `t.toml:2:1: dport needs proto tcp or udp (the rule has proto gre)`},
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
