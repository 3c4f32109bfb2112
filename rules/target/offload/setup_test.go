package offload_test

import (
	"testing"

	"fwd/rules/rulestest"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

func rule(chain, keys string) string { return "[[" + chain + ".rule]]\n" + keys + "\n" }

func TestSetup(t *testing.T) {
	good := []struct {
		name, chain, keys, want string
	}{
		{"forward", "filter.forward", "ct_state = \"established\"\naction = \"offload\"", "FLOWOFFLOAD all -- 0.0.0.0/0 0.0.0.0/0 ctstate ESTABLISHED"},
		{"tcp only", "filter.forward", "proto = \"tcp\"\naction = \"offload\"", "FLOWOFFLOAD tcp -- 0.0.0.0/0 0.0.0.0/0"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := rulestest.Compile(rule(tc.chain, tc.keys))
			if err != nil {
				t.Fatal(err)
			}
			if got := rulestest.RuleLine(t, rs); got != tc.want {
				t.Errorf("listing:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	bad := []struct {
		name, chain, keys, err string
	}{
		{"input", "filter.input", `action = "offload"`, `t.toml:2:1: action offload is not valid in chain input; only in filter forward`},
		{"nat", "nat.postrouting", `action = "offload"`, `t.toml:2:1: action offload is only valid in table filter (chains forward), not in nat`},
		{"option", "filter.forward", "action = \"offload\"\nto = \"1.2.3.4\"", `t.toml:3:1: to does not apply to action "offload"; it goes with action = "dnat" or action = "masquerade" or action = "netmap" or action = "redirect" or action = "snat"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rulestest.Compile(rule(tc.chain, tc.keys))
			if err == nil {
				t.Fatalf("compiled, want error %q", tc.err)
			}
			if err.Error() != tc.err {
				t.Errorf("error:\n got %q\nwant %q", err, tc.err)
			}
		})
	}
}

// TestREADME checks the README's example compiles to the listing it shows.
func TestREADME(t *testing.T) { rulestest.README(t, "") }
