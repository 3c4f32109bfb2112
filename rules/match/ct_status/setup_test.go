package ct_status_test

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
		{"one", `ct_status = "assured"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstatus ASSURED"},
		{"upper case", `ct_status = "SEEN_REPLY"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstatus SEEN_REPLY"},
		{"array in bit order", `ct_status = ["dnat", "snat", "confirmed", "expected"]`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstatus EXPECTED,CONFIRMED,SNAT,DNAT"},
		{"comma list", `ct_status = "assured,seen_reply"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstatus SEEN_REPLY,ASSURED"},
		{"negated", `ct_status = "!assured"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! ctstatus ASSURED"},
		{"negated list", `ct_status = "!snat,dnat"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! ctstatus SNAT,DNAT"},
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

	const all = "(expected, seen_reply, assured, confirmed, snat, dnat, offload)"
	bad := []struct {
		name, keys, err string
	}{
		{"unknown", `ct_status = "established"`, `t.toml:2:1: ct_status: string "established" is not a status ` + all},
		{"dash", `ct_status = "seen-reply"`, `t.toml:2:1: ct_status: string "seen-reply" is not a status ` + all},
		{"unknown in list", `ct_status = ["assured", "none"]`, `t.toml:2:1: ct_status: string "none" is not a status ` + all},
		{"integer", `ct_status = 4`, `t.toml:2:1: ct_status: integer 4 is not a status ` + all},
		{"empty", `ct_status = ""`, `t.toml:2:1: ct_status: empty value`},
		{"empty array", `ct_status = []`, `t.toml:2:1: ct_status: empty array`},
		{"negated element", `ct_status = "snat,!dnat"`, `t.toml:2:1: ct_status: negate the whole list ("!a,b"), not one element`},
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
