package sport_test

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
const tail = `
[sets.ports]
type = "port"
elements = [22, "8000-8099"]

[sets.nets]
type = "ipv4_net"
elements = ["10.0.0.0/8"]
`

// rule is a snippet with one filter forward rule holding keys.
func rule(keys string) string {
	return "[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"port", "proto = \"tcp\"\nsport = 22", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp spt:22"},
		{"port string", "proto = \"udp\"\nsport = \"53\"", "ACCEPT udp -- 0.0.0.0/0 0.0.0.0/0 udp spt:53"},
		{"without proto", `sport = 53`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 tcp/udp spt:53"},
		{"range", "proto = \"tcp\"\nsport = \"8000-8099\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp spts:8000:8099"},
		{"range with colon", "proto = \"tcp\"\nsport = \"1024:65535\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp spts:1024:65535"},
		{"negated", "proto = \"tcp\"\nsport = \"!22\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp spt:!22"},
		{"negated range", "proto = \"tcp\"\nsport = \"!0-1023\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp spts:!0:1023"},
		{"array", "proto = \"tcp\"\nsport = [80, 443, \"8000-8099\"]", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport sports 80,443,8000:8099"},
		{"comma list", "proto = \"tcp\"\nsport = \"80,443\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport sports 80,443"},
		{"negated list", "proto = \"tcp\"\nsport = \"!80,443\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 multiport sports ! 80,443"},
		{"set", "proto = \"tcp\"\nsport = \"@ports\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 match-set ports src"},
		{"negated set", "proto = \"tcp\"\nsport = \"!@ports\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 ! match-set ports src"},
		{"with sport", "proto = \"udp\"\nsport = 68\ndport = 67", "ACCEPT udp -- 0.0.0.0/0 0.0.0.0/0 udp spt:68 dpt:67"},
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
		{"service name", `sport = "http"`, `t.toml:2:1: sport: "http" is not a port, a range "a-b" or "@set"`},
		{"too big", `sport = 65536`, `t.toml:2:1: sport: 65536 is not a port (0..65535)`},
		{"negative", `sport = -1`, `t.toml:2:1: sport: -1 is not a port (0..65535)`},
		{"too big string", `sport = "70000"`, `t.toml:2:1: sport: "70000" is not a port, a range "a-b" or "@set"`},
		{"backwards range", `sport = "99-10"`, `t.toml:2:1: sport: "99-10" is not a port, a range "a-b" or "@set"`},
		{"open range", `sport = "1024-"`, `t.toml:2:1: sport: "1024-" is not a port, a range "a-b" or "@set"`},
		{"float", `sport = 22.5`, `t.toml:2:1: sport: expected a port, a range or "@set", got float 22.5`},
		{"bad in array", `sport = [22, "ssh"]`, `t.toml:2:1: sport: "ssh" is not a port, a range "a-b" or "@set"`},
		{"empty", `sport = ""`, `t.toml:2:1: sport: empty value`},
		{"empty array", `sport = []`, `t.toml:2:1: sport: empty array`},
		{"negated element", `sport = "80,!443"`, `t.toml:2:1: sport: negate the whole list ("!a,b"), not one element`},
		{"negated array element", `sport = [80, "!443"]`, `t.toml:2:1: sport: an array element cannot be negated; write one string "!a,b"`},
		{"unknown set", `sport = "@port"`, `t.toml:2:1: no set named "port"; did you mean "ports"?`},
		{"address set", `sport = "@nets"`, `t.toml:2:1: set "nets" has type ipv4_net; this match needs port`},
		{"set in a list", `sport = "22,@ports"`, `t.toml:2:1: sport: a set cannot be mixed with other elements`},
		{"icmp", "proto = \"icmp\"\nsport = 22", `t.toml:3:1: sport needs proto tcp or udp (the rule has proto icmp)`},
		{"proto after", "sport = 22\nproto = 47", `t.toml:2:1: sport needs proto tcp or udp (the rule has proto gre)`},
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
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		listing = append(listing, strings.TrimRight(l, " "))
	}
	return toml, listing
}
