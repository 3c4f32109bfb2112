package length_test

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
		{"number", `length = 40`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length 40"},
		{"number string", `length = "1500"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length 1500"},
		{"range", `length = "0-100"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length 0:100"},
		{"colon range", `length = "1400:65535"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length 1400:65535"},
		{"spaces", `length = " 20 - 60 "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length 20:60"},
		{"negated", `length = "!0-100"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length !0:100"},
		{"negated number", `length = "! 576"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 length !576"},
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

	const want = `t.toml:2:1: length: expected "min-max" or a number 0..65535, got `
	bad := []struct {
		name, keys, err string
	}{
		{"negative", `length = -1`, want + `integer -1`},
		{"too big", `length = 65536`, want + `integer 65536`},
		{"too big string", `length = "0-65536"`, want + `string "0-65536"`},
		{"backwards", `length = "100-20"`, want + `string "100-20"`},
		{"open", `length = "100-"`, want + `string "100-"`},
		{"words", `length = "small"`, want + `string "small"`},
		{"array", `length = [40, 52]`, want + `array [40, 52]`},
		{"float", `length = 40.5`, want + `float 40.5`},
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
