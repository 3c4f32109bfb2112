package icmp_type_test

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
		{"name", "proto = \"icmp\"\nicmp_type = \"echo-request\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8"},
		{"alias", "proto = \"icmp\"\nicmp_type = \"ping\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8"},
		{"name with code", "proto = \"icmp\"\nicmp_type = \"fragmentation-needed\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 4"},
		{"number", "proto = \"icmp\"\nicmp_type = 11", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 11"},
		{"type/code", "proto = \"icmp\"\nicmp_type = \"3/3\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 3"},
		{"number string", "proto = \"icmp\"\nicmp_type = \"0\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 0"},
		{"any", "proto = \"icmp\"\nicmp_type = \"any\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype any"},
		{"array", "proto = \"icmp\"\nicmp_type = [\"echo-reply\", \"destination-unreachable\", \"time-exceeded\"]", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 0,3,11"},
		{"comma list", "proto = \"icmp\"\nicmp_type = \"echo-request, 3/4\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype 8,3 code 4"},
		{"negated", "proto = \"icmp\"\nicmp_type = \"!redirect\"", "ACCEPT icmp -- 0.0.0.0/0 0.0.0.0/0 icmptype !5"},
		{"without proto", `icmp_type = "host-prohibited"`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 icmptype 3 code 10"},
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
		{"misspelt", `icmp_type = "echo-reqest"`, `t.toml:2:1: icmp_type: "echo-reqest" is not an ICMP type; did you mean "echo-request"?`},
		{"misspelt in list", `icmp_type = ["echo-reply", "time-exeeded"]`, `t.toml:2:1: icmp_type: "time-exeeded" is not an ICMP type; did you mean "time-exceeded"?`},
		{"nonsense", `icmp_type = "xyzzy"`, `t.toml:2:1: icmp_type: string "xyzzy" is not an ICMP type name, number or "type/code"`},
		{"too big", `icmp_type = 256`, `t.toml:2:1: icmp_type: integer 256 is not an ICMP type name, number or "type/code"`},
		{"negative", `icmp_type = -3`, `t.toml:2:1: icmp_type: integer -3 is not an ICMP type name, number or "type/code"`},
		{"bad code", `icmp_type = "3/x"`, `t.toml:2:1: icmp_type: string "3/x" is not an ICMP type name, number or "type/code"`},
		{"code too big", `icmp_type = "3/256"`, `t.toml:2:1: icmp_type: string "3/256" is not an ICMP type name, number or "type/code"`},
		{"boolean", `icmp_type = true`, `t.toml:2:1: icmp_type: boolean true is not an ICMP type name, number or "type/code"`},
		{"empty", `icmp_type = ""`, `t.toml:2:1: icmp_type: empty value`},
		{"negated element", `icmp_type = "0,!8"`, `t.toml:2:1: icmp_type: negate the whole list ("!a,b"), not one element`},
		{"on tcp", "proto = \"tcp\"\nicmp_type = 8", `t.toml:3:1: icmp_type needs proto icmp (the rule has proto tcp)`},
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
