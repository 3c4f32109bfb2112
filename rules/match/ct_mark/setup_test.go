package ct_mark_test

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
		{"integer", `ct_mark = 5`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x5"},
		{"hex", `ct_mark = "0x10"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x10"},
		{"decimal string", `ct_mark = "16"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x10"},
		{"mask", `ct_mark = "0x1/0xff"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x1/0xff"},
		{"value outside mask", `ct_mark = "0x301/0xff"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x1/0xff"},
		{"zero", `ct_mark = 0`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0x0"},
		{"largest", `ct_mark = 4294967295`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match 0xffffffff"},
		{"negated", `ct_mark = "!0x1"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match !0x1"},
		{"negated mask", `ct_mark = "! 0x0/0xf0"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 connmark match !0x0/0xf0"},
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

	const want = `expected a mark like 5, "0x1" or "0x1/0xff", got`
	bad := []struct {
		name, keys, err string
	}{
		{"negative", `ct_mark = -1`, `t.toml:2:1: ct_mark: ` + want + ` integer -1`},
		{"too big", `ct_mark = 4294967296`, `t.toml:2:1: ct_mark: ` + want + ` integer 4294967296`},
		{"too big string", `ct_mark = "0x100000000"`, `t.toml:2:1: ct_mark: ` + want + ` string "0x100000000"`},
		{"name", `ct_mark = "vpn"`, `t.toml:2:1: ct_mark: ` + want + ` string "vpn"`},
		{"bad mask", `ct_mark = "0x1/ff"`, `t.toml:2:1: ct_mark: ` + want + ` string "0x1/ff"`},
		{"two masks", `ct_mark = "1/2/3"`, `t.toml:2:1: ct_mark: ` + want + ` string "1/2/3"`},
		{"bare bang", `ct_mark = "!"`, `t.toml:2:1: ct_mark: ` + want + ` string "!"`},
		{"array", `ct_mark = [1, 2]`, `t.toml:2:1: ct_mark: ` + want + ` array [1, 2]`},
		{"boolean", `ct_mark = true`, `t.toml:2:1: ct_mark: ` + want + ` boolean true`},
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
