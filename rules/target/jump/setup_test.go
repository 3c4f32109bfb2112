package jump_test

import (
	"fmt"
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
		{"jump", "filter.input", "action = \"jump\"\ntarget = \"web\"", "web all -- 0.0.0.0/0 0.0.0.0/0"},
		{"with matches", "filter.forward", "proto = \"tcp\"\ndport = 22\naction = \"jump\"\ntarget = \"ssh\"", "ssh tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:22"},
		{"target first", "filter.output", "target = \"web\"\naction = \"jump\"", "web all -- 0.0.0.0/0 0.0.0.0/0"},
		{"nat", "nat.prerouting", "action = \"jump\"\ntarget = \"mine\"\n\n[[nat.mine.rule]]\naction = \"accept\"", "mine all -- 0.0.0.0/0 0.0.0.0/0"},
		{"from a user chain", "filter.top", "action = \"jump\"\ntarget = \"ssh\"", "ssh all -- 0.0.0.0/0 0.0.0.0/0"},
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
		{"no target", "filter.input", `action = "jump"`, `t.toml:2:1: action "jump" needs target = "CHAIN"`},
		{"target not a string", "filter.input", "action = \"jump\"\ntarget = 1", `t.toml:3:1: target: expected a chain name, got integer 1`},
		{"unknown chain", "filter.input", "action = \"jump\"\ntarget = \"webb\"", `t.toml:3:1: no chain "webb" in table filter; did you mean "web"?`},
		{"other table's chain", "filter.input", "action = \"jump\"\ntarget = \"mine\"\n\n[[nat.mine.rule]]\naction = \"accept\"", `t.toml:3:1: no chain "mine" in table filter`},
		{"built-in chain", "filter.input", "action = \"jump\"\ntarget = \"forward\"", `t.toml:3:1: cannot jump to built-in chain "forward"`},
		{"itself", "filter.web", "action = \"jump\"\ntarget = \"web\"", `t.toml:3:1: jump loop: web -> web`},
		{"target without action", "filter.input", `target = "web"`, `t.toml:2:1: target needs an action (action = "goto" or action = "jump")`},
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

// TestLoop: a loop through several chains is reported at the jump that
// closes it.
func TestLoop(t *testing.T) {
	_, err := compile(`
[[filter.input.rule]]
action = "jump"
target = "a"

[[filter.a.rule]]
action = "jump"
target = "b"

[[filter.b.rule]]
action = "jump"
target = "c"

[[filter.c.rule]]
action = "jump"
target = "a"
`)
	want := `t.toml:16:1: jump loop: a -> b -> c -> a`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %q", err, want)
	}
}

// TestDepth: 16 nested chains are allowed, 17 are not.
func TestDepth(t *testing.T) {
	nest := func(n int) string {
		s := "[[filter.input.rule]]\naction = \"jump\"\ntarget = \"c1\"\n"
		for i := 1; i < n; i++ {
			s += fmt.Sprintf("\n[[filter.c%d.rule]]\naction = \"jump\"\ntarget = \"c%d\"\n", i, i+1)
		}
		return s + fmt.Sprintf("\n[[filter.c%d.rule]]\naction = \"accept\"\n", n)
	}
	if _, err := compile(nest(rules.MaxDepth)); err != nil {
		t.Errorf("%d nested chains: %v", rules.MaxDepth, err)
	}
	// The jump into c17 is c16's rule; its target key is on line 7+4*15
	// (3 lines of input, then 4 a chain).
	want := fmt.Sprintf("t.toml:%d:1: jumps nest deeper than %d chains", 7+4*15, rules.MaxDepth)
	if _, err := compile(nest(rules.MaxDepth + 1)); err == nil || err.Error() != want {
		t.Errorf("%d nested chains: error %v, want %q", rules.MaxDepth+1, err, want)
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
