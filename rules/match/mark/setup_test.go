package mark_test

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
		{"integer", `mark = 5`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x5"},
		{"hex", `mark = "0x10"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x10"},
		{"decimal string", `mark = "16"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x10"},
		{"mask", `mark = "0x1/0xff"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x1/0xff"},
		{"value outside mask", `mark = "0x301/0xff"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x1/0xff"},
		{"zero", `mark = 0`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0x0"},
		{"largest", `mark = 4294967295`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match 0xffffffff"},
		{"negated", `mark = "!0x1"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match !0x1"},
		{"negated mask", `mark = "! 0x0/0xf0"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 mark match !0x0/0xf0"},
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

	const want = `expected a mark like 5, "0x1" or "0x1/0xff", got`
	bad := []struct {
		name, keys, err string
	}{
		{"negative", `mark = -1`, `t.toml:2:1: mark: ` + want + ` integer -1`},
		{"too big", `mark = 4294967296`, `t.toml:2:1: mark: ` + want + ` integer 4294967296`},
		{"too big string", `mark = "0x100000000"`, `t.toml:2:1: mark: ` + want + ` string "0x100000000"`},
		{"name", `mark = "vpn"`, `t.toml:2:1: mark: ` + want + ` string "vpn"`},
		{"bad mask", `mark = "0x1/ff"`, `t.toml:2:1: mark: ` + want + ` string "0x1/ff"`},
		{"two masks", `mark = "1/2/3"`, `t.toml:2:1: mark: ` + want + ` string "1/2/3"`},
		{"bare bang", `mark = "!"`, `t.toml:2:1: mark: ` + want + ` string "!"`},
		{"array", `mark = [1, 2]`, `t.toml:2:1: mark: ` + want + ` array [1, 2]`},
		{"boolean", `mark = true`, `t.toml:2:1: mark: ` + want + ` boolean true`},
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
