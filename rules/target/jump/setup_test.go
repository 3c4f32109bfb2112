package jump_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"fwd/config"
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

// compile decodes snippet as t.toml and compiles it, the path fwd check
// and fwd run take.
func compile(snippet string) (*rules.Ruleset, error) {
	cfg, err := config.Parse("t.toml", []byte(snippet))
	if err != nil {
		return nil, err
	}
	return rules.Compile(cfg, nil)
}

// listing is `fwd rules -L` (with -v when verbose) of rs.
func listing(t testing.TB, rs *rules.Ruleset, verbose bool) string {
	t.Helper()
	var b strings.Builder
	if err := rs.WriteListing(&b, rules.ListOptions{Verbose: verbose}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ruleLine is the listing line of the ruleset's first rule, its columns
// joined by single spaces.
func ruleLine(t *testing.T, rs *rules.Ruleset) string {
	t.Helper()
	l := listing(t, rs, false)
	for _, line := range strings.Split(l, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "#" || f[0] == "Chain" || f[0] == "target" {
			continue
		}
		return strings.Join(f, " ")
	}
	t.Fatalf("no rule in the listing:\n%s", l)
	return ""
}

// TestREADME compiles the first TOML example of README.md and checks
// that every line of the listing shown after it is in the listing.
func TestREADME(t *testing.T) {
	src, want := readmeExample(t)
	rs, err := compile(src + tail)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	l := listing(t, rs, len(want) > 0 && strings.Contains(want[0], "pkts"))
	have := map[string]bool{}
	for _, line := range strings.Split(l, "\n") {
		have[strings.TrimRight(line, " ")] = true
	}
	for _, line := range want {
		if !have[line] {
			t.Errorf("README listing line not in the listing:\n%s\nlisting:\n%s", line, l)
		}
	}
}

// readmeExample returns the first "~~~ toml" block after "## Examples" in
// README.md and the lines of the next plain "~~~" block (a listing).
func readmeExample(t *testing.T) (toml string, listing []string) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "## Examples")
	if !ok {
		t.Fatal("README.md has no Examples section")
	}
	_, s, ok = strings.Cut(s, "~~~ toml\n")
	if !ok {
		t.Fatal("README.md Examples has no ~~~ toml block")
	}
	toml, s, _ = strings.Cut(s, "~~~\n")
	_, s, ok = strings.Cut(s, "~~~\n")
	if !ok {
		t.Fatal("README.md Examples shows no listing after the TOML")
	}
	s, _, _ = strings.Cut(s, "~~~\n")
	for _, l := range strings.Split(strings.Trim(s, "\n"), "\n") {
		listing = append(listing, strings.TrimRight(l, " "))
	}
	return toml, listing
}
