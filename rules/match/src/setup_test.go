package src_test

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

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"address", `src = "10.1.1.1"`, "ACCEPT all -- 10.1.1.1 0.0.0.0/0"},
		{"host prefix", `src = "10.1.1.1/32"`, "ACCEPT all -- 10.1.1.1 0.0.0.0/0"},
		{"prefix", `src = "10.0.0.0/8"`, "ACCEPT all -- 10.0.0.0/8 0.0.0.0/0"},
		{"everything", `src = "0.0.0.0/0"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"array", `src = ["192.0.2.1", "10.1.0.0/16"]`, "ACCEPT all -- 192.0.2.1,10.1.0.0/16 0.0.0.0/0"},
		{"comma list", `src = "192.0.2.1, 10.1.0.0/16"`, "ACCEPT all -- 192.0.2.1,10.1.0.0/16 0.0.0.0/0"},
		{"negated", `src = "!10.0.0.0/8"`, "ACCEPT all -- !10.0.0.0/8 0.0.0.0/0"},
		{"negated list", `src = "! 10.0.0.1,10.0.0.2"`, "ACCEPT all -- !10.0.0.1,10.0.0.2 0.0.0.0/0"},
		{"net set", `src = "@nets"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 match-set nets src"},
		{"addr set negated", `src = "!@hosts"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! match-set hosts src"},
		{"addr_port set", `src = "@svc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 match-set svc src,src"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile("[[filter.forward.rule]]\n" + tc.keys + "\naction = \"accept\"\n" + tail)
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
		{"host bits", `src = "10.0.0.1/8"`, `t.toml:2:1: src: "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?`},
		{"not an address", `src = "10.0.0.300"`, `t.toml:2:1: src: "10.0.0.300" is not an IPv4 address or prefix`},
		{"ipv6", `src = "2001:db8::/32"`, `t.toml:2:1: src: "2001:db8::/32" is not an IPv4 address or prefix`},
		{"bad prefix length", `src = "10.0.0.0/33"`, `t.toml:2:1: src: "10.0.0.0/33" is not an IPv4 address or prefix`},
		{"integer", `src = 167772161`, `t.toml:2:1: src: expected an address, prefix or "@set", got integer 167772161`},
		{"empty", `src = ""`, `t.toml:2:1: src: empty value`},
		{"bare bang", `src = "!"`, `t.toml:2:1: src: empty value`},
		{"empty element", `src = "10.0.0.1,"`, `t.toml:2:1: src: empty element in "10.0.0.1,"`},
		{"negated element", `src = "10.0.0.1,!10.0.0.2"`, `t.toml:2:1: src: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `src = ["!10.0.0.1"]`, `t.toml:2:1: src: an array element cannot be negated; write one string "!a,b"`},
		{"empty array", `src = []`, `t.toml:2:1: src: empty array`},
		{"unknown set", `src = "@net"`, `t.toml:2:1: no set named "net"; did you mean "nets"?`},
		{"port set", `src = "@ports"`, `t.toml:2:1: set "ports" has type port; this match needs ipv4_addr or ipv4_net or ipv4_addr_port`},
		{"set in a list", `src = ["@nets", "192.0.2.1"]`, `t.toml:2:1: src: a set cannot be mixed with other elements`},
		{"table", `src = { net = "10.0.0.0/8" }`, `t.toml:2:1: src: expected a value or an array of values, got table { net = "10.0.0.0/8" }`},
		{"nested array", `src = [["10.0.0.1"]]`, `t.toml:2:1: src: expected a value or an array of values, got array [["10.0.0.1"]]`},
		{"indented key", `  src = "10.0.0.256"`, `t.toml:2:3: src: "10.0.0.256" is not an IPv4 address or prefix`},
		{"two mistakes", "src = \"10.0.0.1/8\"\ndst = \"x\"", "t.toml:2:1: src: \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?\nt.toml:3:1: dst: \"x\" is not an IPv4 address or prefix"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := compile("[[filter.forward.rule]]\n" + tc.keys + "\naction = \"accept\"\n" + tail)
			if err == nil {
				t.Fatalf("compiled, want error %q; listing: %s", tc.err, ruleLine(t, rs))
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
