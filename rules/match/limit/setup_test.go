package limit_test

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

// rule is a snippet with one filter input rule holding keys.
func rule(keys string) string {
	return "[[filter.input.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"per minute", `limit = "3/minute"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 3/min burst 5"},
		{"burst", "limit = \"10/s\"\nlimit_burst = 20", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 10/sec burst 20"},
		{"burst first", "limit_burst = 1\nlimit = \"1/sec\"", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/sec burst 1"},
		{"second", `limit = "100/second"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 100/sec burst 5"},
		{"min", `limit = "6/min"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 6/min burst 5"},
		{"hour", `limit = "1/h"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/hour burst 5"},
		{"day", `limit = " 2 / day "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 2/day burst 5"},
		{"biggest burst", "limit = \"1/d\"\nlimit_burst = 10000", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/day burst 10000"},
		{"with proto", "proto = \"icmp\"\nlimit = \"1/s\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 limit: avg 1/sec burst 5"},
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

	const rate = `is not a rate like "3/minute" (per second, minute, hour or day)`
	bad := []struct {
		name, keys, err string
	}{
		{"integer", `limit = 3`, `t.toml:2:1: limit: expected a rate like "3/minute", got integer 3`},
		{"no unit", `limit = "3"`, `t.toml:2:1: limit: "3" ` + rate},
		{"week", `limit = "3/week"`, `t.toml:2:1: limit: "3/week" ` + rate},
		{"zero", `limit = "0/s"`, `t.toml:2:1: limit: "0/s" ` + rate},
		{"negative", `limit = "-1/s"`, `t.toml:2:1: limit: "-1/s" ` + rate},
		{"too fast", `limit = "2000000000/s"`, `t.toml:2:1: limit: "2000000000/s" ` + rate},
		{"not a number", `limit = "many/s"`, `t.toml:2:1: limit: "many/s" ` + rate},
		{"burst zero", "limit = \"1/s\"\nlimit_burst = 0", `t.toml:3:1: limit_burst: expected an integer 1..10000, got integer 0`},
		{"burst too big", "limit = \"1/s\"\nlimit_burst = 10001", `t.toml:3:1: limit_burst: expected an integer 1..10000, got integer 10001`},
		{"burst string", "limit = \"1/s\"\nlimit_burst = \"5\"", `t.toml:3:1: limit_burst: expected an integer 1..10000, got string "5"`},
		{"burst alone", `limit_burst = 5`, `t.toml:2:1: limit_burst only goes with limit`},
		{"burst misspelt", "limit = \"1/s\"\nlimit_brust = 5", `t.toml:3:1: unknown rule key "limit_brust"; did you mean "limit_burst"?`},
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
