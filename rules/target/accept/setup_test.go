package accept_test

import (
	"os"
	"strings"
	"testing"

	"fwd/config"
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
		{"filter", "filter.input", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"raw", "raw.prerouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"mangle", "mangle.postrouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"nat", "nat.prerouting", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"user chain", "filter.mine", `action = "accept"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0"},
		{"with matches", "filter.forward", "src = \"10.0.0.0/8\"\nproto = \"udp\"\ndport = 53\naction = \"accept\"", "ACCEPT udp -- 10.0.0.0/8 0.0.0.0/0 udp dpt:53"},
		{"action first", "filter.forward", "action = \"accept\"\nct_state = \"established\"", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ctstate ESTABLISHED"},
		{"no action", "filter.forward", `src = "10.0.0.1"`, "all -- 10.0.0.1 0.0.0.0/0"},
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

	const actions = "(actions: accept, connmark, dnat, drop, goto, jump, log, mark, masquerade, netmap, notrack, redirect, reject, return, snat)"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"misspelt", "filter.input", `action = "acept"`, `t.toml:2:1: unknown action "acept"; did you mean "accept"? ` + actions},
		{"upper case", "filter.input", `action = "ACCEPT"`, `t.toml:2:1: unknown action "ACCEPT" ` + actions},
		{"integer", "filter.input", `action = 1`, `t.toml:2:1: action: expected a string, got integer 1`},
		{"another target's option", "filter.input", "action = \"accept\"\nreject_with = \"tcp-reset\"", `t.toml:3:1: reject_with does not apply to action "accept"; it goes with action = "reject"`},
		{"target key", "filter.input", "action = \"accept\"\ntarget = \"x\"", `t.toml:3:1: target does not apply to action "accept"; it goes with action = "goto" or action = "jump"`},
		{"unknown key", "filter.input", "action = \"accept\"\nverdict = \"x\"", `t.toml:3:1: unknown rule key "verdict"`},
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
