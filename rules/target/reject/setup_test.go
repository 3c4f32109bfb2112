package reject_test

import (
	"fwd/rules/rulestest"
	"testing"

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
		{"host prohibited", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-host-prohibited\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-host-prohibited"},
		{"net prohibited", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-net-prohibited\"", "REJECT all -- 0.0.0.0/0 0.0.0.0/0 reject-with icmp-net-prohibited"},
		{"iptables tcp-rst alias", "filter.input", "proto = \"tcp\"\naction = \"reject\"\nreject_with = \"tcp-rst\"", "REJECT tcp -- 0.0.0.0/0 0.0.0.0/0 reject-with tcp-reset"},
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

	const kinds = " is not one of icmp-port-unreachable, icmp-net-unreachable, icmp-host-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited, tcp-reset"
	bad := []struct {
		name, chain, keys, err string
	}{
		{"misspelt", "filter.input", "action = \"reject\"\nreject_with = \"icmp-port-unreachabel\"", `t.toml:3:1: reject_with: string "icmp-port-unreachabel"` + kinds + `; did you mean "icmp-port-unreachable"?`},
		{"not for reject", "filter.input", "action = \"reject\"\nreject_with = \"icmp-frag-needed\"", `t.toml:3:1: reject_with: string "icmp-frag-needed"` + kinds},
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

// compile, listing and ruleLine are the shared helpers under this file's
// names (fwd/rules/rulestest).
func compile(snippet string) (*rules.Ruleset, error) { return rulestest.Compile(snippet) }

func listing(t testing.TB, rs *rules.Ruleset, verbose bool) string {
	return rulestest.Listing(t, rs, verbose)
}

func ruleLine(t *testing.T, rs *rules.Ruleset) string { return rulestest.RuleLine(t, rs) }

// TestREADME checks the README's example compiles to the listing it shows.
func TestREADME(t *testing.T) { rulestest.README(t, tail) }
