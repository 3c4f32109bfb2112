package connmark_test

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
		{"set", "mangle.prerouting", "action = \"connmark\"\nset_mark = 2", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK set 0x2"},
		{"set under a mask", "mangle.forward", "action = \"connmark\"\nset_mark = \"0x20/0xf0\"", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK xset 0x20/0xf0"},
		{"save", "mangle.postrouting", "action = \"connmark\"\nsave_mark = true", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK save"},
		{"save under a mask", "mangle.postrouting", "action = \"connmark\"\nsave_mark = true\nmask = \"0xff\"", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK save mask 0xff"},
		{"restore", "mangle.prerouting", "action = \"connmark\"\nrestore_mark = true", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore"},
		{"restore under a mask", "mangle.output", "action = \"connmark\"\nrestore_mark = true\nmask = 255", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore mask 0xff"},
		{"one true one false", "mangle.prerouting", "action = \"connmark\"\nrestore_mark = true\nsave_mark = false", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore"},
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

	const one = `action connmark needs exactly one of set_mark, save_mark = true, restore_mark = true`
	const maskUse = `mask: goes with save_mark or restore_mark and is a mark like "0xff"`
	bad := []struct {
		name, chain, keys, err string
	}{
		{"none", "mangle.prerouting", `action = "connmark"`, `t.toml:2:1: ` + one},
		{"only false", "mangle.prerouting", "action = \"connmark\"\nsave_mark = false", `t.toml:2:1: ` + one},
		{"save and restore", "mangle.prerouting", "action = \"connmark\"\nsave_mark = true\nrestore_mark = true", `t.toml:2:1: ` + one},
		{"set and save", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nsave_mark = true", `t.toml:2:1: ` + one},
		{"bad set", "mangle.prerouting", "action = \"connmark\"\nset_mark = \"one\"", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got string "one"`},
		{"save not a bool", "mangle.prerouting", "action = \"connmark\"\nsave_mark = 1", `t.toml:3:1: save_mark: expected true, got integer 1`},
		{"mask with set", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nmask = \"0xff\"", `t.toml:4:1: ` + maskUse},
		{"bad mask", "mangle.prerouting", "action = \"connmark\"\nsave_mark = true\nmask = \"ff\"", `t.toml:4:1: ` + maskUse},
		{"mask alone", "mangle.prerouting", "action = \"connmark\"\nmask = 1", `t.toml:3:1: ` + maskUse},
		{"mark's key", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nor_mark = 1", `t.toml:4:1: or_mark does not apply to action "connmark"; it goes with action = "mark"`},
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
