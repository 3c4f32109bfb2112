package rules_test

import (
	"strings"
	"testing"

	"fwd/config"
	"fwd/packet"
	"fwd/rules"
)

// FuzzCompile feeds rule snippets through config.Parse and rules.Compile:
// no panic, errors are positioned config errors, and a compiled ruleset
// lists and classifies a packet at every hook.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		`src = "10.0.0.0/8"` + "\naction = \"accept\"",
		`dport = "!80,443"` + "\nproto = \"tcp\"\naction = \"reject\"\nreject_with = \"tcp-reset\"",
		`tcp_flags = { mask = ["syn"], set = ["syn"] }` + "\naction = \"drop\"",
		`icmp_type = "3/4"` + "\naction = \"log\"\nlog_prefix = \"x\"",
		`limit = "3/minute"` + "\nlimit_burst = 3\naction = \"accept\"",
		`hashlimit = { rate = "1/second", mode = "dst" }` + "\naction = \"accept\"",
		`connlimit = { above = 3, prefix = 24 }` + "\naction = \"drop\"",
		`action = "jump"` + "\ntarget = \"u\"\n[[filter.u.rule]]\naction = \"return\"",
		`action = "goto"` + "\ntarget = \"input\"",
		`ttl = { gt = 3 }` + "\nlength = \"10-20\"\nmark = \"0x1/0x3\"\naction = \"mark\"\nset_mark = 1",
		`src = "@s"` + "\ndst = [\"1.2.3.4\", \"5.6.7.0/24\"]\naction = \"accept\"",
		`in = "lan+"` + "\nout = \"!wan0\"\nct_state = \"!new\"\naction = \"drop\"",
		`srcc = 1`,
		`action = "dnat"` + "\nto = \"1.2.3.4:80\"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	head := `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"

[sets.s]
type = "ipv4_net"
elements = ["10.0.0.0/8"]

[[filter.forward.rule]]
`
	f.Fuzz(func(t *testing.T, snippet string) {
		cfg, err := config.Parse("f.toml", []byte(head+snippet+"\n"))
		if err != nil {
			return
		}
		rs, err := rules.Compile(cfg, nil)
		if err != nil {
			if _, ok := err.(config.ErrorList); !ok {
				t.Fatalf("error %T is not a config.ErrorList: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error without place: %v", err)
			}
			return
		}
		var b strings.Builder
		rs.WriteListing(&b, rules.ListOptions{Verbose: true, LineNumbers: true})
		for tab := rules.Table(0); int(tab) < rules.NumTables; tab++ {
			for h := packet.Prerouting; h <= packet.Postrouting; h++ {
				if c := rs.Builtin(tab, h); c != nil {
					p := pk{src: "10.1.2.3", dst: "192.0.2.1", sport: 1, dport: 80, in: 0, out: 1}.build()
					v1, _ := rs.Eval(c, p, nil)
					v2, _ := rs.EvalLinear(c, pk{src: "10.1.2.3", dst: "192.0.2.1", sport: 1, dport: 80, in: 0, out: 1}.build(), nil)
					if v1 != v2 && !strings.Contains(snippet, "limit") {
						t.Fatalf("indexed %v, linear %v", v1, v2)
					}
				}
			}
		}
	})
}
