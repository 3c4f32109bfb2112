package dnat_test

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
		{"address and port", "nat.prerouting", "proto = \"tcp\"\ndport = 8080\naction = \"dnat\"\nto = \"192.168.1.10:80\"", "DNAT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:8080 to:192.168.1.10:80"},
		{"address", "nat.prerouting", "dst = \"203.0.113.2\"\naction = \"dnat\"\nto = \"192.168.1.10\"", "DNAT all -- 0.0.0.0/0 203.0.113.2 to:192.168.1.10"},
		{"port only", "nat.prerouting", "proto = \"udp\"\naction = \"dnat\"\nto = \":5353\"", "DNAT udp -- 0.0.0.0/0 0.0.0.0/0 to::5353"},
		{"range", "nat.output", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10-192.168.1.12:8000-8002\"\npersistent = true", "DNAT tcp -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.10-192.168.1.12:8000-8002 persistent"},
		{"random", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"\nrandom = true", "DNAT all -- 0.0.0.0/0 0.0.0.0/0 to:192.168.1.10 random"},
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

	bad := []struct {
		name, chain, keys, err string
	}{
		{"no to", "nat.prerouting", `action = "dnat"`, `t.toml:2:1: action dnat needs to = "ADDR[-ADDR][:PORT[-PORT]]"`},
		{"empty to", "nat.prerouting", "action = \"dnat\"\nto = \"\"", `t.toml:3:1: to: "" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"name", "nat.prerouting", "action = \"dnat\"\nto = \"webserver:80\"", `t.toml:3:1: to: "webserver:80" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"bad port", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10:http\"", `t.toml:4:1: to: "192.168.1.10:http" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"backwards ports", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10:90-80\"", `t.toml:4:1: to: "192.168.1.10:90-80" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"port without proto", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:3:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"port with two protos", "nat.prerouting", "proto = [\"tcp\", \"udp\"]\naction = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:4:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"port on icmp", "nat.prerouting", "proto = \"icmp\"\naction = \"dnat\"\nto = \"192.168.1.10:80\"", `t.toml:4:1: dnat with ports needs proto = "tcp" or "udp"`},
		{"to_ports", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"192.168.1.10\"\nto_ports = 80", `t.toml:5:1: to_ports is for masquerade and redirect; give dnat ports in to ("addr:port")`},
		{"persistent not a bool", "nat.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"\npersistent = 1", `t.toml:4:1: persistent: expected a boolean, got integer 1`},
		{"postrouting", "nat.postrouting", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is not valid in chain postrouting; only in nat prerouting, output`},
		{"input", "nat.input", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is not valid in chain input; only in nat prerouting, output`},
		{"mangle", "mangle.prerouting", "action = \"dnat\"\nto = \"192.168.1.10\"", `t.toml:2:1: action dnat is only valid in table nat (chains prerouting, output), not in mangle`},
		{"user chain from postrouting", "nat.pub", "action = \"dnat\"\nto = \"192.168.1.10\"\n\n[[nat.prerouting.rule]]\naction = \"jump\"\ntarget = \"pub\"\n\n[[nat.postrouting.rule]]\naction = \"jump\"\ntarget = \"pub\"", `t.toml:2:1: action dnat is not valid in chain pub (reached from postrouting); only in nat prerouting, output`},
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
