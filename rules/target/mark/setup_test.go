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

// rule is a snippet with one rule in table.chain holding keys.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"set", "mangle.prerouting", "action = \"mark\"\nset_mark = 1", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK set 0x1"},
		{"set hex", "mangle.forward", "action = \"mark\"\nset_mark = \"0x4000\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK set 0x4000"},
		{"set under a mask", "mangle.output", "action = \"mark\"\nset_mark = \"0x1/0xff\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK xset 0x1/0xff"},
		{"and", "mangle.postrouting", "action = \"mark\"\nand_mark = \"0xffff00ff\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK and 0xffff00ff"},
		{"or", "raw.prerouting", "action = \"mark\"\nor_mark = 16", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK or 0x10"},
		{"xor", "filter.forward", "action = \"mark\"\nxor_mark = \"0x3\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK xor 0x3"},
		{"with matches", "mangle.prerouting", "src = \"10.8.0.0/16\"\naction = \"mark\"\nset_mark = 2", "MARK all -- 10.8.0.0/16 0.0.0.0/0 MARK set 0x2"},
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

	const one = `action mark needs exactly one of set_mark, and_mark, or_mark, xor_mark`
	bad := []struct {
		name, chain, keys, err string
	}{
		{"none", "mangle.prerouting", `action = "mark"`, `t.toml:2:1: ` + one},
		{"two", "mangle.prerouting", "action = \"mark\"\nset_mark = 1\nor_mark = 2", `t.toml:2:1: ` + one},
		{"set name", "mangle.prerouting", "action = \"mark\"\nset_mark = \"vpn\"", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got string "vpn"`},
		{"set negative", "mangle.prerouting", "action = \"mark\"\nset_mark = -1", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got integer -1`},
		{"and with a mask", "mangle.prerouting", "action = \"mark\"\nand_mark = \"0x1/0xff\"", `t.toml:3:1: and_mark: expected a mark like "0x1", got string "0x1/0xff"`},
		{"or too big", "mangle.prerouting", "action = \"mark\"\nor_mark = \"0x100000000\"", `t.toml:3:1: or_mark: expected a mark like "0x1", got string "0x100000000"`},
		{"xor bool", "mangle.prerouting", "action = \"mark\"\nxor_mark = true", `t.toml:3:1: xor_mark: expected a mark like "0x1", got boolean true`},
		{"set_mark without action", "mangle.prerouting", `set_mark = 1`, `t.toml:2:1: set_mark needs an action (action = "connmark" or action = "mark")`},
		{"connmark's key", "mangle.prerouting", "action = \"mark\"\nset_mark = 1\nsave_mark = true", `t.toml:4:1: save_mark does not apply to action "mark"; it goes with action = "connmark"`},
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
