package connmark_test

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
		{"set", "mangle.prerouting", "action = \"connmark\"\nset_mark = 2", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK set 0x2"},
		{"set under a mask", "mangle.forward", "action = \"connmark\"\nset_mark = \"0x20/0xf0\"", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK xset 0x20/0xf0"},
		{"save", "mangle.postrouting", "action = \"connmark\"\nsave_mark = true", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK save"},
		{"save under a mask", "mangle.postrouting", "action = \"connmark\"\nsave_mark = true\nmask = \"0xff\"", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK save mask 0xff"},
		{"restore", "mangle.prerouting", "action = \"connmark\"\nrestore_mark = true", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore"},
		{"restore under a mask", "mangle.output", "action = \"connmark\"\nrestore_mark = true\nmask = 255", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore mask 0xff"},
		{"one true one false", "mangle.prerouting", "action = \"connmark\"\nrestore_mark = true\nsave_mark = false", "CONNMARK all -- 0.0.0.0/0 0.0.0.0/0 CONNMARK restore"},
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

	const one = `action connmark needs exactly one of set_mark, save_mark = true, restore_mark = true`
	const maskUse = `mask: goes with save_mark or restore_mark and is a mark like "0xff"`
	bad := []struct {
		name, chain, keys, err string
	}{
		{"none", "mangle.prerouting", `action = "connmark"`, `t.toml:2:1: ` + one},
		{"only false", "mangle.prerouting", "action = \"connmark\"\nsave_mark = false", `t.toml:2:1: ` + one},
		{"save and restore", "mangle.prerouting", "action = \"connmark\"\nsave_mark = true\nrestore_mark = true", `t.toml:2:1: ` + one},
		{"set and save", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nsave_mark = true", `t.toml:2:1: ` + one},
		{"bad set", "mangle.prerouting", "action = \"connmark\"\nset_mark = \"one\"", `t.toml:3:1: set_mark: expected a mark like "0x1" or "0x1/0xff", got string "one"`},
		{"save not a bool", "mangle.prerouting", "action = \"connmark\"\nsave_mark = 1", `t.toml:3:1: save_mark: expected true, got integer 1`},
		{"mask with set", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nmask = \"0xff\"", `t.toml:4:1: ` + maskUse},
		{"bad mask", "mangle.prerouting", "action = \"connmark\"\nsave_mark = true\nmask = \"ff\"", `t.toml:4:1: ` + maskUse},
		{"mask alone", "mangle.prerouting", "action = \"connmark\"\nmask = 1", `t.toml:3:1: ` + maskUse},
		{"mark's key", "mangle.prerouting", "action = \"connmark\"\nset_mark = 1\nor_mark = 1", `t.toml:4:1: or_mark does not apply to action "connmark"; it goes with action = "mark"`},
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
