package hashlimit_test

import (
	"fwd/rules/rulestest"
	"testing"

	"fwd/rules"
	_ "fwd/rules/stage" // every match and target, as the binary links them
)

// tail follows the rule in every snippet, so the rule's first key is on
// line 2 of t.toml.
const tail = ""

// rule is a snippet with one filter input rule holding keys.
func rule(keys string) string {
	return "[[filter.input.rule]]\n" + keys + "\naction = \"accept\"\n" + tail
}

func TestSetup(t *testing.T) {
	good := []struct {
		name, keys, want string
	}{
		{"rate", `hashlimit = { rate = "10/second" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 10/sec burst 5 mode srcip"},
		{"burst", `hashlimit = { rate = "3/min", burst = 1 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 3/min burst 1 mode srcip"},
		{"dst", `hashlimit = { rate = "1/s", mode = "dst" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 1/sec burst 5 mode dstip"},
		{"iptables mode names", `hashlimit = { rate = "1/s", mode = "dstip" }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 1/sec burst 5 mode dstip"},
		{"prefix", `hashlimit = { rate = "100/h", prefix = 24 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 100/hour burst 5 mode srcip srcmask 24"},
		{"dst prefix", `hashlimit = { rate = "100/h", mode = "dst", prefix = 0 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 100/hour burst 5 mode dstip dstmask 0"},
		{"above", `hashlimit = { rate = "20/s", burst = 40, above = true, size = 65536 }`, "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: above 20/sec burst 40 mode srcip"},
		{"table", "hashlimit.rate = \"2/d\"\nhashlimit.size = 1", "ACCEPT all -- 0.0.0.0/0 0.0.0.0/0 limit: up to 2/day burst 5 mode srcip"},
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
		{"string", `hashlimit = "10/s"`, `t.toml:2:1: hashlimit: expected { rate = "10/second", burst = 5, mode = "src" }, got string "10/s"`},
		{"no rate", `hashlimit = { burst = 5 }`, `t.toml:2:1: hashlimit needs a rate`},
		{"bad rate", `hashlimit = { rate = "10/week" }`, `t.toml:2:1: hashlimit.rate: string "10/week" is not a rate like "10/second"`},
		{"rate number", `hashlimit = { rate = 10 }`, `t.toml:2:1: hashlimit.rate: integer 10 is not a rate like "10/second"`},
		{"burst zero", `hashlimit = { rate = "1/s", burst = 0 }`, `t.toml:2:1: hashlimit.burst: expected an integer 1..10000, got integer 0`},
		{"mode", `hashlimit = { rate = "1/s", mode = "srcport" }`, `t.toml:2:1: hashlimit.mode: expected "src" or "dst", got string "srcport"`},
		{"prefix", `hashlimit = { rate = "1/s", prefix = 33 }`, `t.toml:2:1: hashlimit.prefix: expected 0..32, got integer 33`},
		{"size zero", `hashlimit = { rate = "1/s", size = 0 }`, `t.toml:2:1: hashlimit.size: expected 1..1048576, got integer 0`},
		{"size too big", `hashlimit = { rate = "1/s", size = 2000000 }`, `t.toml:2:1: hashlimit.size: expected 1..1048576, got integer 2000000`},
		{"above", `hashlimit = { rate = "1/s", above = "yes" }`, `t.toml:2:1: hashlimit.above: expected true or false, got string "yes"`},
		{"unknown key", `hashlimit = { rate = "1/s", expire = 10 }`, `t.toml:2:1: hashlimit: unknown key "expire" (rate, burst, mode, prefix, size, above)`},
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
