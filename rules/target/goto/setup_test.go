package gotochain_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet: the user chains it may jump to.
const tail = `
[[filter.web.rule]]
action = "accept"

[[filter.ssh.rule]]
action = "accept"
`

// rule is a snippet with one rule in table.chain holding keys, so the
// rule's first key is on line 2.
func rule(chain, keys string) string {
	return "[[" + chain + ".rule]]\n" + keys + "\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"goto", "filter.input", "action = \"goto\"\ntarget = \"web\"", "web all -- 0.0.0.0/0 0.0.0.0/0 [goto]"},
		{"with matches", "filter.forward", "proto = \"tcp\"\ndport = 22\naction = \"goto\"\ntarget = \"ssh\"", "ssh tcp -- 0.0.0.0/0 0.0.0.0/0 [goto] tcp dpt:22"},
		{"with a comment", "filter.forward", "comment = \"to web\"\naction = \"goto\"\ntarget = \"web\"", "web all -- 0.0.0.0/0 0.0.0.0/0 [goto] /* to web */"},
		{"nat", "nat.postrouting", "action = \"goto\"\ntarget = \"mine\"\n\n[[nat.mine.rule]]\naction = \"accept\"", "mine all -- 0.0.0.0/0 0.0.0.0/0 [goto]"},
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

	bad := []struct {
		name, chain, keys, err string
	}{
		{"no target", "filter.input", `action = "goto"`, `t.toml:2:1: action "goto" needs target = "CHAIN"`},
		{"target not a string", "filter.input", "action = \"goto\"\ntarget = [\"web\"]", `t.toml:3:1: target: expected a chain name, got array ["web"]`},
		{"unknown chain", "filter.input", "action = \"goto\"\ntarget = \"sshh\"", `t.toml:3:1: no chain "sshh" in table filter; did you mean "ssh"?`},
		{"built-in chain", "filter.forward", "action = \"goto\"\ntarget = \"output\"", `t.toml:3:1: cannot goto to built-in chain "output"`},
		{"loop", "filter.web", "action = \"goto\"\ntarget = \"ssh\"\n\n[[filter.ssh.rule]]\naction = \"jump\"\ntarget = \"web\"", `t.toml:7:1: jump loop: web -> ssh -> web`},
		{"jump option misspelt", "filter.input", "action = \"goto\"\ntarget = \"web\"\ntargets = \"ssh\"", `t.toml:4:1: unknown rule key "targets"; did you mean "target"?`},
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
