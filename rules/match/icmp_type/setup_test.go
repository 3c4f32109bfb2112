package icmp_type_test

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
		{"name", "proto = \"icmp\"\nicmp_type = \"echo-request\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8"},
		{"alias", "proto = \"icmp\"\nicmp_type = \"ping\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8"},
		{"name with code", "proto = \"icmp\"\nicmp_type = \"fragmentation-needed\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 4"},
		{"number", "proto = \"icmp\"\nicmp_type = 11", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 11"},
		{"type/code", "proto = \"icmp\"\nicmp_type = \"3/3\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 3"},
		{"number string", "proto = \"icmp\"\nicmp_type = \"0\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 0"},
		{"any", "proto = \"icmp\"\nicmp_type = \"any\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype any"},
		{"array", "proto = \"icmp\"\nicmp_type = [\"echo-reply\", \"destination-unreachable\", \"time-exceeded\"]", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 0,3,11"},
		{"comma list", "proto = \"icmp\"\nicmp_type = \"echo-request, 3/4\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8,3 code 4"},
		{"negated", "proto = \"icmp\"\nicmp_type = \"!redirect\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype !5"},
		{"without proto", `icmp_type = "host-prohibited"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 10"},
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
		{"misspelt", `icmp_type = "echo-reqest"`, `t.toml:2:1: icmp_type: "echo-reqest" is not an ICMP type; did you mean "echo-request"?`},
		{"misspelt in list", `icmp_type = ["echo-reply", "time-exeeded"]`, `t.toml:2:1: icmp_type: "time-exeeded" is not an ICMP type; did you mean "time-exceeded"?`},
		{"nonsense", `icmp_type = "xyzzy"`, `t.toml:2:1: icmp_type: string "xyzzy" is not an ICMP type name, number or "type/code"`},
		{"too big", `icmp_type = 256`, `t.toml:2:1: icmp_type: integer 256 is not an ICMP type name, number or "type/code"`},
		{"negative", `icmp_type = -3`, `t.toml:2:1: icmp_type: integer -3 is not an ICMP type name, number or "type/code"`},
		{"bad code", `icmp_type = "3/x"`, `t.toml:2:1: icmp_type: string "3/x" is not an ICMP type name, number or "type/code"`},
		{"code too big", `icmp_type = "3/256"`, `t.toml:2:1: icmp_type: string "3/256" is not an ICMP type name, number or "type/code"`},
		{"boolean", `icmp_type = true`, `t.toml:2:1: icmp_type: boolean true is not an ICMP type name, number or "type/code"`},
		{"empty", `icmp_type = ""`, `t.toml:2:1: icmp_type: empty value`},
		{"negated element", `icmp_type = "0,!8"`, `t.toml:2:1: icmp_type: negate the whole list ("!a,b"), not one element`},
		{"on tcp", "proto = \"tcp\"\nicmp_type = 8", `t.toml:3:1: icmp_type needs proto icmp (the rule has proto tcp)`},
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
