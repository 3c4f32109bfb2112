package rules_test

import (
	"strings"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func newStage(t *testing.T, env *pipeline.Env, id string, h packet.Hook) pipeline.Stage {
	t.Helper()
	m, err := pipeline.New(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.(pipeline.Provisioner).Provision(&pipeline.Context{Env: env, Hook: h}); err != nil {
		t.Fatal(err)
	}
	return m.(pipeline.Stage)
}

// TestStages runs the stage modules: verdict mapping, the nat table only
// for new connections, one shared ruleset, trace notes, and reload.
func TestStages(t *testing.T) {
	env := &pipeline.Env{Config: gateway(t), Clock: pipeline.NewVirtual(time.Unix(0, 0))}
	filterFwd := newStage(t, env, "stage.rules.filter", packet.Forward)
	filterIn := newStage(t, env, "stage.rules.filter", packet.Input)
	natPre := newStage(t, env, "stage.rules.nat", packet.Prerouting)
	raw := newStage(t, env, "stage.rules.raw", packet.Prerouting)
	h, _ := env.Lookup(rules.SharedKey).(*rules.Holder)
	if h == nil || h.Load() == nil {
		t.Fatal("no shared ruleset")
	}

	web := pk{src: "198.51.100.20", dst: "192.168.1.10", dport: 80, flags: header.TCPFlagSYN, in: 1, out: 0, ct: packet.CTNew}
	if v := filterFwd.Process(web.build()); v != pipeline.Continue {
		t.Fatalf("accept -> %v, want continue", v)
	}
	p := pk{src: "198.51.100.20", dst: "203.0.113.2", dport: 25, in: 1, out: noIf, ct: packet.CTNew}.build()
	if v := filterIn.Process(p); v != pipeline.Drop || p.Drop != packet.DropPolicy {
		t.Fatalf("policy -> %v %v", v, p.Drop)
	}
	p = pk{src: "192.0.2.1", dst: "192.168.1.20", in: 1, out: 0, ct: packet.CTNew}.build()
	if v := filterFwd.Process(p); v != pipeline.Reject || p.RejectWith != packet.RejectAdminProhibited {
		t.Fatalf("reject -> %v %v", v, p.RejectWith)
	}
	if v := raw.Process(web.build()); v != pipeline.Continue {
		t.Fatalf("raw (no rules) -> %v", v)
	}
	// nat: new and untracked-by-conntrack packets only.
	dn := pk{src: "198.51.100.20", dst: "203.0.113.2", dport: 8080, in: 1, out: noIf}
	for _, c := range []struct {
		st   packet.CTState
		want bool
	}{{packet.CTNew, true}, {packet.CTNone, true}, {packet.CTEstablished, false}, {packet.CTRelated, false}} {
		d := dn
		d.ct = c.st
		pkt := d.build()
		natPre.Process(pkt)
		if (pkt.NAT != nil) != c.want {
			t.Fatalf("nat with ct %v: NAT = %v", c.st, pkt.NAT)
		}
	}
	// Trace.
	tp := web.build()
	tp.Trace = true
	filterFwd.Process(tp)
	want := `filter forward; rule forward:6 "the published web server" at ` + env.Config.File
	if !strings.HasPrefix(tp.Note, want) || !strings.HasSuffix(tp.Note, ` accept (verdict accept)`) {
		t.Fatalf("trace note %q, want prefix %q", tp.Note, want)
	}
	tp = pk{src: "192.168.1.20", dst: "192.168.1.1", dport: 22, flags: header.TCPFlagSYN, in: 0, out: noIf, ct: packet.CTNew}.build()
	tp.Trace = true
	filterIn.Process(tp)
	if !strings.HasPrefix(tp.Note, "filter input -> ssh_guard; rule ssh_guard:1 \"at most 3 new SSH connections a minute per source\"") {
		t.Fatalf("trace note %q", tp.Note)
	}
	// Reload keeps counters of unchanged rules, and set contents changed at
	// run time.
	old := h.Load()
	old.Set("blocklist").Add("203.0.113.99")
	before, _ := old.Counters(old.Rule(rules.TableFilter, "forward", 6))
	if err := h.Reload(gateway(t)); err != nil {
		t.Fatal(err)
	}
	if h.Load() == old {
		t.Fatal("reload did not swap")
	}
	after, _ := h.Load().Counters(h.Load().Rule(rules.TableFilter, "forward", 6))
	if before != 2 || after != before {
		t.Fatalf("counter before %d after reload %d, want 2 and 2", before, after)
	}
	if !h.Load().Set("blocklist").ContainsAddr([4]byte{203, 0, 113, 99}) {
		t.Fatal("runtime set element lost across reload")
	}
}

// TestCountersKeptAcrossCompile checks rule identity: unchanged rules keep
// counters (even when moved), changed ones start at zero, named rules keep
// them when their content changes.
func TestCountersKeptAcrossCompile(t *testing.T) {
	v1 := `
[filter.input]
policy = "drop"

[[filter.input.rule]]
src = "10.0.0.1"
action = "accept"

[[filter.input.rule]]
name = "web"
dport = 80
action = "accept"

[[filter.input.rule]]
src = "10.0.0.3"
action = "accept"
`
	v2 := `
[filter.input]
policy = "drop"

[[filter.input.rule]]
src = "10.0.0.9"
action = "accept"

[[filter.input.rule]]
src = "10.0.0.3"
action = "accept"

[[filter.input.rule]]
name = "web"
dport = [80, 443]
action = "accept"

[[filter.input.rule]]
src = "10.0.0.1"
action = "accept"
`
	rs1 := mustCompile(t, mustParse(t, "v1.toml", v1))
	c := rs1.Builtin(rules.TableFilter, packet.Input)
	for _, p := range []pk{
		{src: "10.0.0.1", dst: "10.1.1.1", dport: 1}, {src: "10.0.0.2", dst: "10.1.1.1", dport: 80},
		{src: "10.0.0.3", dst: "10.1.1.1", dport: 1}, {src: "10.0.0.3", dst: "10.1.1.1", dport: 2},
		{src: "10.0.0.4", dst: "10.1.1.1", dport: 2},
	} {
		rs1.Eval(c, p.build(), nil)
	}
	rs2, err := rules.Compile(mustParse(t, "v2.toml", v2), rs1)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0, 2, 1, 1} // new rule, moved src .3, named web, moved src .1
	for i, w := range want {
		if p, _ := rs2.Counters(rs2.Rule(rules.TableFilter, "input", i+1)); p != w {
			t.Errorf("rule %d: %d packets, want %d", i+1, p, w)
		}
	}
	if p, _ := rs2.PolicyCounters(rs2.Builtin(rules.TableFilter, packet.Input)); p != 1 {
		t.Errorf("policy: %d packets, want 1", p)
	}
}

// TestSetsAtRunTime changes set elements without recompiling.
func TestSetsAtRunTime(t *testing.T) {
	rs := oneRule(t, `src = "@hosts"`+"\n"+`dport = "@ports"`)
	p := pk{src: "10.7.7.7", dst: "10.2.2.2", dport: 9000, in: 0, out: 1}
	if fwdVerdict(rs, p.build()) != rules.Drop {
		t.Fatal("matched before add")
	}
	hosts, ports := rs.Set("hosts"), rs.Set("ports")
	if err := hosts.Add("10.7.7.7"); err != nil {
		t.Fatal(err)
	}
	if err := ports.Add("9000-9001"); err != nil {
		t.Fatal(err)
	}
	if fwdVerdict(rs, p.build()) != rules.Accept {
		t.Fatal("no match after add")
	}
	if got := strings.Join(ports.Elements(), " "); got != "22 8000-8099 9000-9001" {
		t.Fatalf("elements %q", got)
	}
	if err := ports.Delete("9000-9001"); err != nil {
		t.Fatal(err)
	}
	if fwdVerdict(rs, p.build()) != rules.Drop {
		t.Fatal("matched after delete")
	}
	for _, bad := range []struct {
		s    *rules.Set
		elem string
	}{{hosts, "10.0.0.0/8"}, {ports, "70000"}, {rs.Set("svc"), "10.0.0.1"}, {rs.Set("nets"), "10.0.0.1/8"}} {
		if err := bad.s.Add(bad.elem); err == nil {
			t.Errorf("set %s accepted %q", bad.s.Name, bad.elem)
		}
	}
	if err := hosts.Delete("10.9.9.9"); err == nil {
		t.Error("deleting a missing element is not an error")
	}
	nets := rs.Set("nets")
	nets.Add("172.16.0.0/12")
	if !nets.ContainsAddr([4]byte{172, 20, 1, 1}) || nets.ContainsAddr([4]byte{172, 32, 0, 1}) || !nets.ContainsAddr([4]byte{192, 0, 2, 7}) {
		t.Error("ipv4_net lookups wrong")
	}
	nets.Flush()
	if nets.Len() != 0 || nets.ContainsAddr([4]byte{10, 0, 0, 1}) {
		t.Error("flush left elements")
	}
}

// TestLimitVirtualClock checks limit and hashlimit against the virtual clock.
func TestLimitVirtualClock(t *testing.T) {
	conf := prelude + `
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
in = "lan0"
limit = "2/second"
limit_burst = 3
action = "accept"

[[filter.forward.rule]]
in = "wan0"
hashlimit = { rate = "1/second", burst = 2, mode = "src", size = 64 }
action = "accept"
`
	clock := pipeline.NewVirtual(time.Unix(5000, 0))
	rs, err := rules.CompileWith(mustParse(t, "lim.toml", conf), nil, rules.Options{Env: &pipeline.Env{Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(src string, in int16) bool {
		return fwdVerdict(rs, pk{src: src, dst: "10.2.2.2", in: in, out: 1}.build()) == rules.Accept
	}
	count := func(n int, src string, in int16) int {
		k := 0
		for i := 0; i < n; i++ {
			if send(src, in) {
				k++
			}
		}
		return k
	}
	if k := count(10, "10.0.0.1", 0); k != 3 {
		t.Fatalf("limit burst: %d of 10 passed, want 3", k)
	}
	clock.Advance(500 * time.Millisecond) // one token at 2/s
	if k := count(10, "10.0.0.1", 0); k != 1 {
		t.Fatalf("limit after 0.5s: %d passed, want 1", k)
	}
	clock.Advance(10 * time.Second) // refills to the burst, no more
	if k := count(10, "10.0.0.1", 0); k != 3 {
		t.Fatalf("limit after idle: %d passed, want 3", k)
	}
	// hashlimit: a bucket per source.
	if a, b := count(5, "10.0.0.1", 1), count(5, "10.0.0.2", 1); a != 2 || b != 2 {
		t.Fatalf("hashlimit: %d and %d passed, want 2 and 2", a, b)
	}
	clock.Advance(time.Second)
	if a := count(5, "10.0.0.1", 1); a != 1 {
		t.Fatalf("hashlimit after 1s: %d passed, want 1", a)
	}
}

// TestConnlimit counts connections per source.
func TestConnlimit(t *testing.T) {
	clock := pipeline.NewVirtual(time.Unix(5000, 0))
	conf := prelude + `
[filter.forward]
policy = "accept"

[[filter.forward.rule]]
connlimit = { above = 2, timeout = "10s" }
action = "drop"
`
	rs, err := rules.CompileWith(mustParse(t, "cl.toml", conf), nil, rules.Options{Env: &pipeline.Env{Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	conn := func(sport uint16, st packet.CTState, flags uint8) rules.Verdict {
		return fwdVerdict(rs, pk{src: "10.0.0.1", dst: "10.2.2.2", sport: sport, dport: 80, ct: st, flags: flags, in: 0, out: 1}.build())
	}
	if conn(1, packet.CTNew, header.TCPFlagSYN) != rules.Accept || conn(2, packet.CTNew, header.TCPFlagSYN) != rules.Accept {
		t.Fatal("first two connections refused")
	}
	if conn(3, packet.CTNew, header.TCPFlagSYN) != rules.Drop {
		t.Fatal("third connection passed")
	}
	if conn(1, packet.CTEstablished, header.TCPFlagACK) != rules.Drop {
		t.Fatal("established packet of a counted source should still see 3 connections")
	}
	conn(1, packet.CTEstablished, header.TCPFlagFIN|header.TCPFlagACK) // closes 1
	conn(3, packet.CTEstablished, header.TCPFlagRST)                   // closes 3
	if conn(4, packet.CTNew, header.TCPFlagSYN) != rules.Accept {
		t.Fatal("connection refused after two closed")
	}
	clock.Advance(11 * time.Second) // everything idle: forgotten
	if conn(5, packet.CTNew, header.TCPFlagSYN) != rules.Accept || conn(6, packet.CTNew, header.TCPFlagSYN) != rules.Accept {
		t.Fatal("idle connections not forgotten")
	}
}
