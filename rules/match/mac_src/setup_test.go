package mac_src_test

import (
	"fwd/rules/rulestest"
	"strings"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one rule in table.chain holding keys.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"colons", "filter.input", `mac_src = "00:11:22:aa:bb:cc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"dashes", "filter.forward", `mac_src = "00-11-22-AA-BB-CC"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"dots", "raw.prerouting", `mac_src = "0011.22aa.bbcc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"negated", "mangle.prerouting", `mac_src = "!02:00:00:00:00:01"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC ! 02:00:00:00:00:01"},
		{"nat prerouting", "nat.prerouting", `mac_src = " ! 02:00:00:00:00:01 "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC ! 02:00:00:00:00:01"},
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

	const noFrame = ": packets there have no received frame"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"short", "filter.input", `mac_src = "00:11:22:33:44"`, `t.toml:2:1: mac_src: "00:11:22:33:44" is not a MAC address like "00:11:22:33:44:55"`},
		{"eui64", "filter.input", `mac_src = "00:11:22:33:44:55:66:77"`, `t.toml:2:1: mac_src: "00:11:22:33:44:55:66:77" is not a MAC address like "00:11:22:33:44:55"`},
		{"not hex", "filter.input", `mac_src = "00:11:22:33:44:gg"`, `t.toml:2:1: mac_src: "00:11:22:33:44:gg" is not a MAC address like "00:11:22:33:44:55"`},
		{"list", "filter.input", `mac_src = ["00:11:22:33:44:55"]`, `t.toml:2:1: mac_src: expected a string "00:11:22:33:44:55", got array ["00:11:22:33:44:55"]`},
		{"output", "filter.output", `mac_src = "00:11:22:33:44:55"`, `t.toml:2:1: mac_src cannot be used in chain output (reached from output or postrouting)` + noFrame},
		{"postrouting", "nat.postrouting", `mac_src = "00:11:22:33:44:55"`, `t.toml:2:1: mac_src cannot be used in chain postrouting (reached from output or postrouting)` + noFrame},
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

// TestUserChain: a user chain may use mac_src only when no output or
// postrouting chain jumps to it.
func TestUserChain(t *testing.T) {
	const user = `
[[filter.c.rule]]
mac_src = "00:11:22:33:44:55"
action = "accept"
`
	for _, tc := range []struct {
		name, from, err string
	}{
		{"unreachable", "", ""},
		{"from input and forward", "input forward", ""},
		{"from output", "forward output", `t.toml:3:1: mac_src cannot be used in chain c (reached from output or postrouting): packets there have no received frame`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := user
			for _, h := range strings.Fields(tc.from) {
				src += "\n[[filter." + h + ".rule]]\naction = \"jump\"\ntarget = \"c\"\n"
			}
			_, err := compile(src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error:\n got %q\nwant %q", got, tc.err)
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
