package proto_test

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
		{"name", `proto = "tcp"`, "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0"},
		{"upper case", `proto = "UDP"`, "ACCEPT udp -- 0.0.0.0/0 0.0.0.0/0"},
		{"number", `proto = 1`, "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0"},
		{"number string", `proto = "47"`, "ACCEPT gre -- 0.0.0.0/0 0.0.0.0/0"},
		{"unnamed number", `proto = 253`, "ACCEPT 253 -- 0.0.0.0/0 0.0.0.0/0"},
		{"alias", `proto = "ipencap"`, "ACCEPT 4 -- 0.0.0.0/0 0.0.0.0/0"},
		{"all", `proto = "all"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"zero is all", `proto = 0`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"zero string is all", `proto = "0"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		// The prot column is iptables' %-5s: a list runs into the opt column.
		{"array", `proto = ["tcp", "udp"]`, "ACCEPT tcp,udp-- 0.0.0.0/0 0.0.0.0/0"},
		{"comma list", `proto = "tcp, sctp"`, "ACCEPT tcp,sctp-- 0.0.0.0/0 0.0.0.0/0"},
		{"negated", `proto = "!icmp"`, "ACCEPT !icmp -- 0.0.0.0/0 0.0.0.0/0"},
		{"negated list", `proto = "!tcp,udp"`, "ACCEPT !tcp,udp-- 0.0.0.0/0 0.0.0.0/0"},
		{"with ports", "proto = \"tcp\"\ndport = 22", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:22"},
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
		{"misspelt", `proto = "tpc"`, `t.toml:2:1: proto: string "tpc" is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"too big", `proto = 256`, `t.toml:2:1: proto: integer 256 is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"negative", `proto = -1`, `t.toml:2:1: proto: integer -1 is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"too big string", `proto = "300"`, `t.toml:2:1: proto: string "300" is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"boolean", `proto = true`, `t.toml:2:1: proto: boolean true is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"bad in array", `proto = ["tcp", 1.5]`, `t.toml:2:1: proto: float 1.5 is not a protocol name (tcp, udp, icmp, ...) or number 0..255`},
		{"empty", `proto = ""`, `t.toml:2:1: proto: empty value`},
		{"empty array", `proto = []`, `t.toml:2:1: proto: empty array`},
		{"negated element", `proto = "tcp,!udp"`, `t.toml:2:1: proto: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `proto = ["!tcp"]`, `t.toml:2:1: proto: an array element cannot be negated; write one string "!a,b"`},
		{"ports need tcp or udp", "proto = \"icmp\"\nsport = 53", `t.toml:3:1: sport needs proto tcp or udp (the rule has proto icmp)`},
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
