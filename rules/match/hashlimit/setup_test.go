package hashlimit_test

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
		{"rate", `hashlimit = { rate = "10/second" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 10/sec burst 5 mode srcip"},
		{"burst", `hashlimit = { rate = "3/min", burst = 1 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 3/min burst 1 mode srcip"},
		{"dst", `hashlimit = { rate = "1/s", mode = "dst" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 1/sec burst 5 mode dstip"},
		{"iptables mode names", `hashlimit = { rate = "1/s", mode = "dstip" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 1/sec burst 5 mode dstip"},
		{"prefix", `hashlimit = { rate = "100/h", prefix = 24 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 100/hour burst 5 mode srcip srcmask 24"},
		{"dst prefix", `hashlimit = { rate = "100/h", mode = "dst", prefix = 0 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 100/hour burst 5 mode dstip dstmask 0"},
		{"above", `hashlimit = { rate = "20/s", burst = 40, above = true, size = 65536 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: above 20/sec burst 40 mode srcip"},
		{"table", "hashlimit.rate = \"2/d\"\nhashlimit.size = 1", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 2/day burst 5 mode srcip"},
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
		{"string", `hashlimit = "10/s"`, `t.toml:2:1: hashlimit: expected { rate = "10/second", burst = 5, mode = "src" }, got string "10/s"`},
		{"no rate", `hashlimit = { burst = 5 }`, `t.toml:2:1: hashlimit needs a rate`},
		{"bad rate", `hashlimit = { rate = "10/week" }`, `t.toml:2:1: hashlimit.rate: string "10/week" is not a rate like "10/second"`},
		{"rate number", `hashlimit = { rate = 10 }`, `t.toml:2:1: hashlimit.rate: integer 10 is not a rate like "10/second"`},
		{"burst zero", `hashlimit = { rate = "1/s", burst = 0 }`, `t.toml:2:1: hashlimit.burst: expected an integer 1..10000, got integer 0`},
		{"mode", `hashlimit = { rate = "1/s", mode = "srcport" }`, `t.toml:2:1: hashlimit.mode: expected "src" or "dst", got string "srcport"`},
		{"prefix", `hashlimit = { rate = "1/s", prefix = 33 }`, `t.toml:2:1: hashlimit.prefix: expected 0..32, got integer 33`},
		{"size zero", `hashlimit = { rate = "1/s", size = 0 }`, `t.toml:2:1: hashlimit.size: expected 1..1048576, got integer 0`},
		{"size too big", `hashlimit = { rate = "1/s", size = 2000000 }`, `t.toml:2:1: hashlimit.size: expected 1..1048576, got integer 2000000`},
		{"above", `hashlimit = { rate = "1/s", above = "yes" }`, `t.toml:2:1: hashlimit.above: expected true or false, got string "yes"`},
		{"unknown key", `hashlimit = { rate = "1/s", expire = 10 }`, `t.toml:2:1: hashlimit: unknown key "expire" (rate, burst, mode, prefix, size, above)`},
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
