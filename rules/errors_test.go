package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"fwd/config"
	"fwd/rules"
)

// TestCompileErrors checks rule mistakes are reported at the key's
// file:line:col, all in one run.
func TestCompileErrors(t *testing.T) {
	// prelude is 30 lines; the chains start at line 31.
	src := prelude + `
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
srcc = "10.0.0.1"
action = "acept"

[[filter.forward.rule]]
dport = "http"
proto = "icmp"
action = "dnat"
to = "1.2.3.4"

[[filter.forward.rule]]
in = "lan9"
out = "wan+"
src = "@nope"
dst = "@ports"
action = "reject"
reject_with = "tcp-reset"
log_prefix = "x"

[[filter.forward.rule]]
action = "jump"
target = "loop1"

[filter.loop1]
[[filter.loop1.rule]]
action = "jump"
target = "loop2"

[filter.loop2]
[[filter.loop2.rule]]
action = "goto"
target = "loop1"

[[filter.input.rule]]
out = "wan0"
limit_burst = 3
action = "jump"
target = "nochain"

[[nat.postrouting.rule]]
action = "dnat"
to = "1.2.3.4:80"

[[nat.prerouting.rule]]
action = "masquerade"
`
	want := []string{
		`bad.toml:34:1: unknown rule key "srcc"; did you mean "src"?`,
		`bad.toml:35:1: unknown action "acept"; did you mean "accept"? (actions: accept, connmark, dnat, drop, goto, jump, log, mark, masquerade, netmap, notrack, offload, redirect, reject, return, snat)`,
		`bad.toml:38:1: dport needs proto tcp or udp (the rule has proto icmp)`,
		`bad.toml:40:1: action dnat is only valid in table nat (chains prerouting, output), not in filter`,
		`bad.toml:44:1: no interface named "lan9"; did you mean "lan0"?`,
		`bad.toml:46:1: no set named "nope"`,
		`bad.toml:47:1: set "ports" has type port; this match needs ipv4_addr or ipv4_net or ipv4_addr_port`,
		`bad.toml:49:1: reject_with tcp-reset needs proto = "tcp" (only TCP segments can be reset)`,
		`bad.toml:50:1: log_prefix does not apply to action "reject"; it goes with action = "log"`,
		`bad.toml:64:1: jump loop: loop1 -> loop2 -> loop1`,
		`bad.toml:67:1: out cannot be used in chain input: packets there have no output interface yet`,
		`bad.toml:68:1: limit_burst only goes with limit`,
		`bad.toml:70:1: no chain "nochain" in table filter`,
		`bad.toml:73:1: action dnat is not valid in chain postrouting; only in nat prerouting, output`,
		`bad.toml:74:1: dnat with ports needs proto = "tcp" or "udp"`,
		`bad.toml:77:1: action masquerade is not valid in chain prerouting; only in nat postrouting`,
	}
	_, err := rules.Compile(mustParse(t, "bad.toml", src), nil)
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not a config.ErrorList: %v", err, err)
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRuleErrors checks single mistakes, each with its exact message.
func TestRuleErrors(t *testing.T) {
	tests := []struct {
		name  string
		chain string // TABLE.CHAIN
		keys  string
		want  string // message after "r.toml:LINE:COL: "
	}{
		{"wrong type", "filter.forward", `dport = true`, `dport: expected a port, a range or "@set", got boolean true`},
		{"bad prefix", "filter.forward", `src = "10.0.0.1/8"`, `src: "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?`},
		{"array negation", "filter.forward", `src = ["!10.0.0.1"]`, `src: an array element cannot be negated; write one string "!a,b"`},
		{"in at postrouting", "nat.postrouting", `in = "lan0"`, `in cannot be used in chain postrouting: packets there have no input interface`},
		{"out at prerouting", "mangle.prerouting", `out = "lan0"`, `out cannot be used in chain prerouting: packets there have no output interface yet`},
		{"wildcard matching nothing", "filter.forward", `in = "eth+"`, `no interface matches "eth+" (interfaces: lan0, wan0, wan1)`},
		{"notrack outside raw", "filter.forward", `action = "notrack"`, `action notrack is only valid in table raw (chains prerouting, output), not in filter`},
		{"reject in nat", "nat.prerouting", `action = "reject"`, `action reject is only valid in table filter (chains input, forward, output), not in nat`},
		{"snat at prerouting", "nat.prerouting", "action = \"snat\"\nto = \"192.0.2.1\"", `action snat is not valid in chain prerouting; only in nat input, postrouting`},
		{"snat without to", "nat.postrouting", `action = "snat"`, `action snat needs to = "ADDR[-ADDR][:PORT[-PORT]]"`},
		{"bad ct_state", "filter.forward", `ct_state = "establshed"`, `ct_state: string "establshed" is not a state (new, established, related, invalid, untracked); did you mean "established"?`},
		{"bad icmp name", "filter.forward", "proto = \"icmp\"\nicmp_type = \"echo-reqest\"", `icmp_type: "echo-reqest" is not an ICMP type; did you mean "echo-request"?`},
		{"bad rate", "filter.forward", `limit = "3/fortnight"`, `limit: "3/fortnight" is not a rate like "3/minute" (per second, minute, hour or day)`},
		{"ttl two ops", "filter.forward", `ttl = { lt = 3, gt = 1 }`, `ttl: expected one of { eq = N }, { lt = N }, { gt = N }, { ne = N }, got table { gt = 1, lt = 3 }`},
		{"target without jump", "filter.forward", `target = "x"`, `target needs an action (action = "goto" or action = "jump")`},
		{"jump to builtin", "filter.forward", "action = \"jump\"\ntarget = \"input\"", `cannot jump to built-in chain "input"`},
		{"mark target two ops", "mangle.forward", "action = \"mark\"\nset_mark = 1\nor_mark = 2", `action mark needs exactly one of set_mark, and_mark, or_mark, xor_mark`},
		{"reject_with typo", "filter.forward", "action = \"reject\"\nreject_with = \"icmp-port-unreach\"", `reject_with: string "icmp-port-unreach" is not one of icmp-port-unreachable, icmp-net-unreachable, icmp-host-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited, tcp-reset; did you mean "icmp-port-unreachable"?`},
		{"dnat bad to", "nat.prerouting", "proto = \"tcp\"\naction = \"dnat\"\nto = \"1.2.3:80\"", `to: "1.2.3:80" is not ADDR[-ADDR][:PORT[-PORT]]`},
		{"mac_src at output", "filter.output", `mac_src = "00:11:22:33:44:55"`, `mac_src cannot be used in chain output (reached from output or postrouting): packets there have no received frame`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, chain, _ := strings.Cut(tt.chain, ".")
			src := prelude + fmt.Sprintf("\n[[%s.%s.rule]]\n%s\n", table, chain, tt.keys)
			_, err := rules.Compile(mustParse(t, "r.toml", src), nil)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			var list config.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			if list[0].Msg != tt.want {
				t.Fatalf("message\n got %s\nwant %s", list[0].Msg, tt.want)
			}
			if list[0].Pos.File != "r.toml" || list[0].Pos.Line < 31 {
				t.Fatalf("position %v not at the rule", list[0].Pos)
			}
		})
	}
}

// TestJumpDepth rejects nesting deeper than rules.MaxDepth and accepts
// exactly MaxDepth.
func TestJumpDepth(t *testing.T) {
	build := func(n int) string {
		var b strings.Builder
		b.WriteString("[[filter.input.rule]]\naction = \"jump\"\ntarget = \"c1\"\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "[[filter.c%d.rule]]\n", i)
			if i < n {
				fmt.Fprintf(&b, "action = \"jump\"\ntarget = \"c%d\"\n", i+1)
			} else {
				b.WriteString("action = \"accept\"\n")
			}
		}
		return b.String()
	}
	if _, err := rules.Compile(mustParse(t, "d.toml", build(rules.MaxDepth)), nil); err != nil {
		t.Fatalf("depth %d: %v", rules.MaxDepth, err)
	}
	_, err := rules.Compile(mustParse(t, "d.toml", build(rules.MaxDepth+1)), nil)
	if err == nil || !strings.Contains(err.Error(), "jumps nest deeper than 16 chains") {
		t.Fatalf("depth %d: err = %v", rules.MaxDepth+1, err)
	}
	// A chain jumping to itself is a loop.
	_, err = rules.Compile(mustParse(t, "d.toml", "[[filter.x.rule]]\naction = \"goto\"\ntarget = \"x\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "d.toml:3:1: jump loop: x -> x") {
		t.Fatalf("self loop: err = %v", err)
	}
}
