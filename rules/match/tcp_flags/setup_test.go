package tcp_flags_test

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
		{"syn", "proto = \"tcp\"\nsyn = true", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x17/0x02"},
		{"not syn", "proto = \"tcp\"\nsyn = false", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:!0x17/0x02"},
		{"mask and set", "proto = \"tcp\"\ntcp_flags = { mask = [\"syn\", \"ack\", \"fin\", \"rst\"], set = [\"syn\"] }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x17/0x02"},
		{"upper case", "proto = \"tcp\"\ntcp_flags = { mask = [\"SYN\", \"RST\"], set = [\"SYN\", \"RST\"] }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x06/0x06"},
		{"all none", "proto = \"tcp\"\ntcp_flags = { mask = [\"all\"], set = [\"none\"] }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0xFF/0x00"},
		{"ecn", "proto = \"tcp\"\ntcp_flags = { mask = [\"ece\", \"cwr\", \"urg\", \"psh\"], set = [\"ece\", \"cwr\"] }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0xE8/0xC0"},
		{"invert", "proto = \"tcp\"\ntcp_flags = { mask = [\"fin\", \"syn\"], set = [\"fin\", \"syn\"], invert = true }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:!0x03/0x03"},
		{"invert false", "proto = \"tcp\"\ntcp_flags = { mask = [\"rst\"], set = [\"rst\"], invert = false }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x04/0x04"},
		{"one flag as a string", "proto = \"tcp\"\ntcp_flags = { mask = \"syn\", set = \"syn\" }", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp flags:0x02/0x02"},
		{"with dport", "proto = \"tcp\"\ndport = 22\nsyn = true", "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:22 flags:0x17/0x02"},
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

	const flags = "(fin, syn, rst, psh, ack, urg, ece, cwr, all, none)"
	bad := []struct {
		name, keys, err string
	}{
		{"string", `tcp_flags = "syn"`, `t.toml:2:1: tcp_flags: expected { mask = [...], set = [...] }, got string "syn"`},
		{"unknown key", `tcp_flags = { mask = ["syn"], set = ["syn"], inverse = true }`, `t.toml:2:1: tcp_flags: unknown key "inverse" (mask, set, invert)`},
		{"no set", `tcp_flags = { mask = ["syn"] }`, `t.toml:2:1: tcp_flags needs both mask and set`},
		{"no mask", `tcp_flags = { set = ["syn"] }`, `t.toml:2:1: tcp_flags needs both mask and set`},
		{"bad flag", `tcp_flags = { mask = ["syn", "fni"], set = ["syn"] }`, `t.toml:2:1: tcp_flags.mask: "fni" is not a TCP flag ` + flags},
		{"bad set flag", `tcp_flags = { mask = ["syn"], set = ["SIN"] }`, `t.toml:2:1: tcp_flags.set: "sin" is not a TCP flag ` + flags},
		{"mask not strings", `tcp_flags = { mask = ["syn", 2], set = ["syn"] }`, `t.toml:2:1: tcp_flags.mask: expected an array of flag names, got array ["syn", 2]`},
		{"set not array", `tcp_flags = { mask = ["syn"], set = 2 }`, `t.toml:2:1: tcp_flags.set: expected an array of flag names, got integer 2`},
		{"set outside mask", `tcp_flags = { mask = ["syn"], set = ["syn", "ack"] }`, `t.toml:2:1: tcp_flags: set has flags that are not in mask; they can never match`},
		{"invert not bool", `tcp_flags = { mask = ["syn"], set = ["syn"], invert = "yes" }`, `t.toml:2:1: tcp_flags.invert: expected true or false, got string "yes"`},
		{"syn not bool", `syn = "yes"`, `t.toml:2:1: syn: expected true or false, got string "yes"`},
		{"syn on udp", "proto = \"udp\"\nsyn = true", `t.toml:3:1: syn needs proto tcp (the rule has proto udp)`},
		{"flags on icmp", "proto = 1\ntcp_flags = { mask = [\"syn\"], set = [\"syn\"] }", `t.toml:3:1: tcp_flags needs proto tcp (the rule has proto icmp)`},
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
