package mark_test

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
		{"set", "mangle.prerouting", "action = \"mark\"\nset_mark = 1", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK set 0x1"},
		{"set hex", "mangle.forward", "action = \"mark\"\nset_mark = \"0x4000\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK set 0x4000"},
		{"set under a mask", "mangle.output", "action = \"mark\"\nset_mark = \"0x1/0xff\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK xset 0x1/0xff"},
		{"and", "mangle.postrouting", "action = \"mark\"\nand_mark = \"0xffff00ff\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK and 0xffff00ff"},
		{"or", "raw.prerouting", "action = \"mark\"\nor_mark = 16", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK or 0x10"},
		{"xor", "filter.forward", "action = \"mark\"\nxor_mark = \"0x3\"", "MARK all -- 0.0.0.0/0 0.0.0.0/0 MARK xor 0x3"},
		{"with matches", "mangle.prerouting", "src = \"10.8.0.0/16\"\naction = \"mark\"\nset_mark = 2", "MARK all -- 10.8.0.0/16 0.0.0.0/0 MARK set 0x2"},
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

	const one = `action mark needs exactly one of set_mark, and_mark, or_mark, xor_mark`
	bad := []struct {
		name, chain, keys, err string
	}{
		{"none", "mangle.prerouting", `action = "mark"`, `t.toml:2:1: ` + one},
		{"two", "mangle.prerouting", "action = \"mark\"\nset_mark = 1\nor_mark = 2", `t.toml:2:1: ` + one},
		{"set name", "mangle.prerouting", "action = \"mark\"\nset_mark = \"vpn\"", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got string "vpn"`},
		{"set negative", "mangle.prerouting", "action = \"mark\"\nset_mark = -1", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got integer -1`},
		{"and with a mask", "mangle.prerouting", "action = \"mark\"\nand_mark = \"0x1/0xff\"", `t.toml:3:1: and_mark: expected a mark like "0x1", got string "0x1/0xff"`},
		{"or too big", "mangle.prerouting", "action = \"mark\"\nor_mark = \"0x100000000\"", `t.toml:3:1: or_mark: expected a mark like "0x1", got string "0x100000000"`},
		{"xor bool", "mangle.prerouting", "action = \"mark\"\nxor_mark = true", `t.toml:3:1: xor_mark: expected a mark like "0x1", got boolean true`},
		{"set_mark without action", "mangle.prerouting", `set_mark = 1`, `t.toml:2:1: set_mark needs an action (action = "connmark" or action = "mark")`},
		{"connmark's key", "mangle.prerouting", "action = \"mark\"\nset_mark = 1\nsave_mark = true", `t.toml:4:1: save_mark does not apply to action "mark"; it goes with action = "connmark"`},
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
