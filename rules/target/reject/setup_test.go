package reject_test

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
		{"default", "filter.input", `action = "reject"`, "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-port-unreachable"},
		{"port", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-port-unreachable\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-port-unreachable"},
		{"net", "filter.output", "action = \"reject\"\nreject_with = \"icmp-net-unreachable\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-net-unreachable"},
		{"host", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-host-unreachable\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-host-unreachable"},
		{"proto", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-proto-unreachable\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-proto-unreachable"},
		{"admin", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-admin-prohibited\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-admin-prohibited"},
		{"host prohibited alias", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-host-prohibited\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-admin-prohibited"},
		{"net prohibited alias", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-net-prohibited\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-admin-prohibited"},
		{"tcp reset", "filter.input", "proto = \"tcp\"\naction = \"reject\"\nreject_with = \"tcp-reset\"", "REJECT tcp -- 0.0.0.0/0 0.0.0.0/0 reject-with tcp-reset"},
		{"user chain", "filter.refuse", "proto = \"udp\"\naction = \"reject\"", "REJECT udp -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-port-unreachable"},
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

	const kinds = " is not one of icmp-port-unreachable, icmp-net-unreachable, icmp-host-unreachable, icmp-proto-unreachable, icmp-admin-prohibited, tcp-reset"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"misspelt", "filter.input", "action = \"reject\"\nreject_with = \"icmp-port-unreachabel\"", `t.toml:3:1: reject_with: string "icmp-port-unreachabel"` + kinds + `; did you mean "icmp-port-unreachable"?`},
		{"not for reject", "filter.input", "action = \"reject\"\nreject_with = \"icmp-frag-needed\"", `t.toml:3:1: reject_with: string "icmp-frag-needed"` + kinds},
		{"iptables tcp-rst", "filter.input", "proto = \"tcp\"\naction = \"reject\"\nreject_with = \"tcp-rst\"", `t.toml:4:1: reject_with: string "tcp-rst"` + kinds + `; did you mean "tcp-reset"?`},
		{"integer", "filter.input", "action = \"reject\"\nreject_with = 3", `t.toml:3:1: reject_with: integer 3` + kinds},
		{"reset without proto", "filter.input", "action = \"reject\"\nreject_with = \"tcp-reset\"", `t.toml:3:1: reject_with tcp-reset needs proto = "tcp" (only TCP segments can be reset)`},
		{"reset on tcp and udp", "filter.input", "proto = [\"tcp\", \"udp\"]\naction = \"reject\"\nreject_with = \"tcp-reset\"", `t.toml:4:1: reject_with tcp-reset needs proto = "tcp" (only TCP segments can be reset)`},
		{"nat table", "nat.prerouting", `action = "reject"`, `t.toml:2:1: action reject is only valid in table filter (chains input, forward, output), not in nat`},
		{"raw table", "raw.prerouting", `action = "reject"`, `t.toml:2:1: action reject is only valid in table filter (chains input, forward, output), not in raw`},
		{"mangle table", "mangle.forward", `action = "reject"`, `t.toml:2:1: action reject is only valid in table filter (chains input, forward, output), not in mangle`},
		{"option without action", "filter.input", `reject_with = "tcp-reset"`, `t.toml:2:1: reject_with needs an action (action = "reject")`},
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
