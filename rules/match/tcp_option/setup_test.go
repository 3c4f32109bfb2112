package tcp_option_test

import (
	"fwd/rules/rulestest"
	"testing"

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
		{"name", "proto = \"tcp\"\ntcp_option = \"mss\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=2"},
		{"number", "proto = \"tcp\"\ntcp_option = 30", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=30"},
		{"number string", "proto = \"tcp\"\ntcp_option = \"34\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=34"},
		{"aliases", "proto = \"tcp\"\ntcp_option = [\"window_scale\", \"SACKOK\"]", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=3,4"},
		{"list", "proto = \"tcp\"\ntcp_option = \"sack_permitted,sack,timestamp\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=4,5,8"},
		{"negated", "proto = \"tcp\"\ntcp_option = \"!wscale\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp option=!3"},
		{"with syn", "proto = \"tcp\"\nsyn = true\ntcp_option = \"!mss\"", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x17/0x02 option=!2"},
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

	const kinds = "is not an option kind (0..255, mss, wscale, sack_permitted, sack, timestamp)"
	bad := []struct {
		name, keys, err string
	}{
		{"unknown name", `tcp_option = "fastopen"`, `t.toml:2:1: tcp_option: string "fastopen" ` + kinds},
		{"too big", `tcp_option = 256`, `t.toml:2:1: tcp_option: integer 256 ` + kinds},
		{"negative", `tcp_option = -2`, `t.toml:2:1: tcp_option: integer -2 ` + kinds},
		{"too big string", `tcp_option = "300"`, `t.toml:2:1: tcp_option: string "300" ` + kinds},
		{"bad in list", `tcp_option = ["mss", true]`, `t.toml:2:1: tcp_option: boolean true ` + kinds},
		{"empty", `tcp_option = ""`, `t.toml:2:1: tcp_option: empty value`},
		{"negated element", `tcp_option = "mss,!sack"`, `t.toml:2:1: tcp_option: negate the whole list ("!a,b"), not one element`},
		{"on udp", "proto = \"udp\"\ntcp_option = \"mss\"", `t.toml:3:1: tcp_option needs proto tcp (the rule has proto udp)`},
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

// compile, listing and ruleLine are the shared helpers under this file's
// names (fwd/rules/rulestest).
func compile(snippet string) (*rules.Ruleset, error) { return rulestest.Compile(snippet) }

func listing(t testing.TB, rs *rules.Ruleset, verbose bool) string {
	return rulestest.Listing(t, rs, verbose)
}

func ruleLine(t *testing.T, rs *rules.Ruleset) string { return rulestest.RuleLine(t, rs) }

// TestREADME checks the README's example compiles to the listing it shows.
func TestREADME(t *testing.T) { rulestest.README(t, tail) }
