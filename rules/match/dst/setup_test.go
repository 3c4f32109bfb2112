package dst_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = `
[sets.nets]
type = "ipv4_net"
elements = ["10.0.0.0/8"]

[sets.hosts]
type = "ipv4_addr"
elements = ["192.0.2.7"]

[sets.svc]
type = "ipv4_addr_port"
elements = ["192.0.2.7:443"]

[sets.ports]
type = "port"
elements = [22]
`

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"address", `dst = "10.1.1.1"`, "ACCEPT all -- 0.0.0.0/0 10.1.1.1"},
		{"host prefix", `dst = "10.1.1.1/32"`, "ACCEPT all -- 0.0.0.0/0 10.1.1.1"},
		{"prefix", `dst = "10.0.0.0/8"`, "ACCEPT all -- 0.0.0.0/0 10.0.0.0/8"},
		{"array", `dst = ["192.0.2.1", "10.1.0.0/16"]`, "ACCEPT all -- 0.0.0.0/0 192.0.2.1,10.1.0.0/16"},
		{"comma list", `dst = "192.0.2.1 , 10.1.0.0/16"`, "ACCEPT all -- 0.0.0.0/0 192.0.2.1,10.1.0.0/16"},
		{"negated", `dst = "!10.0.0.0/8"`, "ACCEPT all -- 0.0.0.0/0 !10.0.0.0/8"},
		{"with src", "src = \"10.0.0.0/8\"\ndst = \"!192.0.2.0/24\"", "ACCEPT all -- 10.0.0.0/8 !192.0.2.0/24"},
		{"net set", `dst = "@nets"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 match-set nets dst"},
		{"addr set negated", `dst = "!@hosts"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! match-set hosts dst"},
		{"addr_port set", `dst = "@svc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 match-set svc dst,dst"},
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
		{"host bits", `dst = "192.0.2.1/24"`, `t.toml:2:1: dst: "192.0.2.1/24" has host bits set; did you mean "192.0.2.0/24"?`},
		{"not an address", `dst = "host.example"`, `t.toml:2:1: dst: "host.example" is not an IPv4 address or prefix`},
		{"ipv6", `dst = "::1"`, `t.toml:2:1: dst: "::1" is not an IPv4 address or prefix`},
		{"boolean", `dst = true`, `t.toml:2:1: dst: expected an address, prefix or "@set", got boolean true`},
		{"integer in array", `dst = ["10.0.0.1", 7]`, `t.toml:2:1: dst: expected an address, prefix or "@set", got integer 7`},
		{"empty", `dst = " "`, `t.toml:2:1: dst: empty value`},
		{"empty element", `dst = "10.0.0.1,,10.0.0.2"`, `t.toml:2:1: dst: empty element in "10.0.0.1,,10.0.0.2"`},
		{"negated element", `dst = "10.0.0.1, !10.0.0.2"`, `t.toml:2:1: dst: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `dst = ["10.0.0.1", "!10.0.0.2"]`, `t.toml:2:1: dst: an array element cannot be negated; write one string "!a,b"`},
		{"empty array", `dst = []`, `t.toml:2:1: dst: empty array`},
		{"table", `dst = { addr = "10.0.0.1" }`, `t.toml:2:1: dst: expected a value or an array of values, got table { addr = "10.0.0.1" }`},
		{"unknown set", `dst = "@host"`, `t.toml:2:1: no set named "host"; did you mean "hosts"?`},
		{"port set", `dst = "!@ports"`, `t.toml:2:1: set "ports" has type port; this match needs ipv4_addr or ipv4_net or ipv4_addr_port`},
		{"set in a list", `dst = "192.0.2.1,@nets"`, `t.toml:2:1: dst: a set cannot be mixed with other elements`},
		{"third line", "proto = \"tcp\"\ndst = \"10.0.0.0/33\"", `t.toml:3:1: dst: "10.0.0.0/33" is not an IPv4 address or prefix`},
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
