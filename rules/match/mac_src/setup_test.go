package mac_src_test

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
	return "[[" + chain + ".rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"colons", "filter.input", `mac_src = "00:11:22:aa:bb:cc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"dashes", "filter.forward", `mac_src = "00-11-22-AA-BB-CC"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"dots", "raw.prerouting", `mac_src = "0011.22aa.bbcc"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC 00:11:22:AA:BB:CC"},
		{"negated", "mangle.prerouting", `mac_src = "!02:00:00:00:00:01"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC ! 02:00:00:00:00:01"},
		{"nat prerouting", "nat.prerouting", `mac_src = " ! 02:00:00:00:00:01 "`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 MAC ! 02:00:00:00:00:01"},
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

	const noFrame = ": packets there have no received frame"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"short", "filter.input", `mac_src = "00:11:22:33:44"`, `t.toml:2:1: mac_src: "00:11:22:33:44" is not a MAC address like "00:11:22:33:44:55"`},
		{"eui64", "filter.input", `mac_src = "00:11:22:33:44:55:66:77"`, `t.toml:2:1: mac_src: "00:11:22:33:44:55:66:77" is not a MAC address like "00:11:22:33:44:55"`},
		{"not hex", "filter.input", `mac_src = "00:11:22:33:44:gg"`, `t.toml:2:1: mac_src: "00:11:22:33:44:gg" is not a MAC address like "00:11:22:33:44:55"`},
		{"list", "filter.input", `mac_src = ["00:11:22:33:44:55"]`, `t.toml:2:1: mac_src: expected a string "00:11:22:33:44:55", got array ["00:11:22:33:44:55"]`},
		{"output", "filter.output", `mac_src = "00:11:22:33:44:55"`, `t.toml:2:1: mac_src cannot be used in chain output (reached from output or postrouting)` + noFrame},
		{"postrouting", "nat.postrouting", `mac_src = "00:11:22:33:44:55"`, `t.toml:2:1: mac_src cannot be used in chain postrouting (reached from output or postrouting)` + noFrame},
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

// TestUserChain: a user chain may use mac_src only when no output or
// postrouting chain jumps to it.
func TestUserChain(t *testing.T) {
	const user = `
[[filter.c.rule]]
mac_src = "00:11:22:33:44:55"
action = "accept"
`
	for _, tc := range []struct {
		name, from, err string
	}{
		{"unreachable", "", ""},
		{"from input and forward", "input forward", ""},
		{"from output", "forward output", `t.toml:3:1: mac_src cannot be used in chain c (reached from output or postrouting): packets there have no received frame`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := user
			for _, h := range strings.Fields(tc.from) {
				src += "\n[[filter." + h + ".rule]]\naction = \"jump\"\ntarget = \"c\"\n"
			}
			_, err := compile(src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error:\n got %q\nwant %q", got, tc.err)
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
