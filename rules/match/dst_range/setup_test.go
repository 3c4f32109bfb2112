package dst_range_test

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

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"range", `dst_range = "10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 destination IP range 10.0.0.5-10.0.0.20"},
		{"spaces", `dst_range = " 10.0.0.5 - 10.0.0.20 "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 destination IP range 10.0.0.5-10.0.0.20"},
		{"one address", `dst_range = "192.0.2.1-192.0.2.1"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 destination IP range 192.0.2.1-192.0.2.1"},
		{"whole space", `dst_range = "0.0.0.0-255.255.255.255"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 destination IP range 0.0.0.0-255.255.255.255"},
		{"negated", `dst_range = "!10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! destination IP range 10.0.0.5-10.0.0.20"},
		{"negated space", `dst_range = "! 10.0.0.5-10.0.0.20"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 ! destination IP range 10.0.0.5-10.0.0.20"},
		{"with src", "src = \"192.0.2.0/24\"\ndst_range = \"10.0.0.5-10.0.0.20\"", "ACCEPT all -- 192.0.2.0/24 0.0.0.0/0 destination IP range 10.0.0.5-10.0.0.20"},
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

	bad := []struct {
		name, keys, err string
	}{
		{"backwards", `dst_range = "10.0.0.20-10.0.0.5"`, `t.toml:2:1: dst_range: range "10.0.0.20-10.0.0.5" ends before it starts`},
		{"one address only", `dst_range = "10.0.0.5"`, `t.toml:2:1: dst_range: "10.0.0.5" is not an address range "a.b.c.d-e.f.g.h"`},
		{"prefix", `dst_range = "10.0.0.0/8-10.0.0.9"`, `t.toml:2:1: dst_range: "10.0.0.0/8-10.0.0.9" is not an address range "a.b.c.d-e.f.g.h"`},
		{"bad address", `dst_range = "10.0.0.5-10.0.0.256"`, `t.toml:2:1: dst_range: "10.0.0.5-10.0.0.256" is not an address range "a.b.c.d-e.f.g.h"`},
		{"ipv6", `dst_range = "::1-::9"`, `t.toml:2:1: dst_range: "::1-::9" is not an address range "a.b.c.d-e.f.g.h"`},
		{"negated backwards", `dst_range = "!10.0.0.9-10.0.0.1"`, `t.toml:2:1: dst_range: range "10.0.0.9-10.0.0.1" ends before it starts`},
		{"array", `dst_range = ["10.0.0.1-10.0.0.2"]`, `t.toml:2:1: dst_range: expected a string "a.b.c.d-e.f.g.h", got array ["10.0.0.1-10.0.0.2"]`},
		{"integer", `dst_range = 5`, `t.toml:2:1: dst_range: expected a string "a.b.c.d-e.f.g.h", got integer 5`},
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
