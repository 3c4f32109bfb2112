package gotochain_test

import (
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
