package rules_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

const walkConf = `
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
action = "jump"
target = "a"

[[filter.forward.rule]]
dport = 80
action = "accept"

[filter.a]

[[filter.a.rule]]
src = "10.0.0.1"
action = "return"

[[filter.a.rule]]
src = "10.0.0.2"
action = "goto"
target = "b"

[[filter.a.rule]]
src = "10.0.0.3"
action = "drop"

[[filter.a.rule]]
src = "10.0.0.5"
action = "reject"
reject_with = "icmp-host-unreachable"

[filter.b]

[[filter.b.rule]]
dport = 22
action = "accept"

[[filter.b.rule]]
dport = 23
action = "return"

[[filter.b.rule]]
dport = 24
action = "drop"
`

// TestWalk checks jump, return, goto, fall-through and the policy, with the
// counters each path leaves.
func TestWalk(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		dport  uint16
		ct     packet.CTState
		want   rules.Verdict
		reason packet.DropReason
		rule   string // "chain:num" of the deciding rule, "" for the policy
	}{
		{"return then accept", "10.0.0.1", 80, 0, rules.Accept, 0, "forward:2"},
		{"return then policy", "10.0.0.1", 81, 0, rules.Drop, packet.DropPolicy, ""},
		{"goto accept", "10.0.0.2", 22, 0, rules.Accept, 0, "b:1"},
		{"goto end returns past the jump", "10.0.0.2", 80, 0, rules.Accept, 0, "forward:2"},
		{"goto return returns past the jump", "10.0.0.2", 23, 0, rules.Drop, packet.DropPolicy, ""},
		{"goto drop", "10.0.0.2", 24, 0, rules.Drop, packet.DropRule, "b:3"},
		{"drop", "10.0.0.3", 80, 0, rules.Drop, packet.DropRule, "a:3"},
		{"drop invalid", "10.0.0.3", 80, packet.CTInvalid, rules.Drop, packet.DropCTInvalid, "a:3"},
		{"policy invalid", "10.0.0.4", 81, packet.CTInvalid, rules.Drop, packet.DropCTInvalid, ""},
		{"reject", "10.0.0.5", 80, 0, rules.Reject, packet.DropReject, "a:4"},
		{"fall through a", "10.0.0.4", 80, 0, rules.Accept, 0, "forward:2"},
	}
	for _, linear := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rs := mustCompile(t, mustParse(t, "w.toml", walkConf))
				c := rs.Builtin(rules.TableFilter, packet.Forward)
				pkt := pk{src: tt.src, dst: "192.0.2.1", sport: 1000, dport: tt.dport, ct: tt.ct, flags: header.TCPFlagACK}.build()
				var tr rules.Tracer
				var v rules.Verdict
				var r *rules.Rule
				if linear {
					v, r = rs.EvalLinear(c, pkt, &tr)
				} else {
					v, r = rs.Eval(c, pkt, &tr)
				}
				if v != tt.want || pkt.Drop != tt.reason {
					t.Fatalf("verdict %v reason %v, want %v %v", v, pkt.Drop, tt.want, tt.reason)
				}
				got := ""
				if r != nil {
					got = r.Chain.Name + ":" + strconv.Itoa(r.Num)
					if p, b := rs.Counters(r); p != 1 || b != uint64(len(pkt.Data)) {
						t.Fatalf("deciding rule counters %d/%d, want 1/%d", p, b, len(pkt.Data))
					}
				} else if p, _ := rs.PolicyCounters(c); p != 1 {
					t.Fatalf("policy counter %d, want 1", p)
				}
				if got != tt.rule {
					t.Fatalf("deciding rule %q, want %q", got, tt.rule)
				}
				if tt.want == rules.Reject && pkt.RejectWith != packet.RejectHostUnreach {
					t.Fatalf("RejectWith = %v", pkt.RejectWith)
				}
				// The jump rule counts every packet.
				if p, _ := rs.Counters(rs.Rule(rules.TableFilter, "forward", 1)); p != 1 {
					t.Fatalf("jump rule counter %d, want 1", p)
				}
			})
		}
	}
}

// TestTargets checks the non-verdict targets' effect on the packet.
func TestTargets(t *testing.T) {
	conf := prelude + `
[[raw.prerouting.rule]]
src = "10.9.9.9"
action = "notrack"

[[mangle.prerouting.rule]]
action = "mark"
set_mark = "0x10/0xf0"

[[mangle.prerouting.rule]]
action = "mark"
or_mark = 1

[[mangle.prerouting.rule]]
action = "connmark"
save_mark = true
mask = "0xff"

[[mangle.prerouting.rule]]
mark = "0x11"
action = "connmark"
set_mark = "0x100/0xf00"

[[mangle.forward.rule]]
action = "connmark"
restore_mark = true

[[mangle.forward.rule]]
action = "mark"
xor_mark = "0x3"

[[mangle.forward.rule]]
action = "mark"
and_mark = "0xff0"

[[nat.prerouting.rule]]
proto = "tcp"
dport = 8080
action = "dnat"
to = "192.168.1.10-192.168.1.12:80-81"
random = true

[[nat.prerouting.rule]]
proto = "udp"
action = "redirect"
to_ports = "5000-5010"

[[nat.postrouting.rule]]
out = "wan0"
action = "masquerade"
fully_random = true

[[nat.postrouting.rule]]
out = "wan1"
action = "snat"
to = "198.51.100.2"
persistent = true

[[nat.postrouting.rule]]
out = "lan0"
action = "netmap"
to = "172.16.0.0/16"
`
	rs := mustCompile(t, mustParse(t, "t.toml", conf))
	eval := func(tab rules.Table, h packet.Hook, pkt *packet.Packet) rules.Verdict {
		v, _ := rs.Eval(rs.Builtin(tab, h), pkt, nil)
		return v
	}
	pkt := pk{src: "10.9.9.9", dst: "10.2.2.2", dport: 8080, mark: 0x2, ct: packet.CTNew}.build()
	if v := eval(rules.TableRaw, packet.Prerouting, pkt); v != rules.Accept || pkt.CTState != packet.CTUntracked {
		t.Fatalf("notrack: %v %v", v, pkt.CTState)
	}
	eval(rules.TableMangle, packet.Prerouting, pkt)
	// set 0x10/0xf0 on 0x2 -> 0x12; or 1 -> 0x13; save under 0xff -> ct 0x13;
	// mark 0x13 != 0x11: no connmark set.
	if pkt.Mark != 0x13 || pkt.CTMark != 0x13 {
		t.Fatalf("mark %#x ctmark %#x, want 0x13 0x13", pkt.Mark, pkt.CTMark)
	}
	pkt.Mark, pkt.CTMark = 0x11, 0
	eval(rules.TableMangle, packet.Prerouting, pkt)
	if pkt.CTMark != 0x111 { // saved 0x11, then set 0x100/0xf00
		t.Fatalf("ctmark %#x, want 0x111", pkt.CTMark)
	}
	pkt.Mark, pkt.CTMark = 0, 0xabc
	eval(rules.TableMangle, packet.Forward, pkt)
	if want := uint32(0xabc^0x3) & 0xff0; pkt.Mark != want {
		t.Fatalf("mark %#x, want %#x", pkt.Mark, want)
	}
	// DNAT spec.
	if v := eval(rules.TableNAT, packet.Prerouting, pkt); v != rules.Accept {
		t.Fatalf("dnat verdict %v", v)
	}
	n, ok := pkt.NAT.(*rules.NAT)
	if !ok || n.Kind != rules.DNAT || n.AddrMin.String() != "192.168.1.10" || n.AddrMax.String() != "192.168.1.12" ||
		n.PortMin != 80 || n.PortMax != 81 || !n.Random || n.Num != 1 {
		t.Fatalf("dnat spec %+v", pkt.NAT)
	}
	u := pk{proto: header.ProtoUDP, src: "10.1.1.1", dst: "10.2.2.2", dport: 53}.build()
	eval(rules.TableNAT, packet.Prerouting, u)
	if n := u.NAT.(*rules.NAT); n.Kind != rules.Redirect || n.PortMin != 5000 || n.PortMax != 5010 {
		t.Fatalf("redirect spec %+v", n)
	}
	for _, c := range []struct {
		out  int16
		kind rules.NATKind
		text string
	}{{1, rules.Masquerade, "random-fully"}, {2, rules.SNAT, "to:198.51.100.2 persistent"}, {0, rules.Netmap, "to:172.16.0.0/16"}} {
		p := pk{src: "10.1.1.1", dst: "10.2.2.2", out: c.out}.build()
		eval(rules.TableNAT, packet.Postrouting, p)
		n, _ := p.NAT.(*rules.NAT)
		if n == nil || n.Kind != c.kind || n.String() != c.text {
			t.Fatalf("out %d: spec %+v (%q), want %v %q", c.out, n, n.String(), c.kind, c.text)
		}
	}
}

// TestLogTarget checks the log target writes kernel-format lines to the
// shared writer, rate-limited on the pipeline clock, and goes on.
func TestLogTarget(t *testing.T) {
	conf := prelude + `
[filter.forward]
policy = "drop"

[[filter.forward.rule]]
action = "log"
log_prefix = "fw: "
log_limit = "1/second"
log_burst = 2

[[filter.forward.rule]]
action = "accept"
`
	var buf bytes.Buffer
	clock := pipeline.NewVirtual(time.Unix(1000, 0))
	env := &pipeline.Env{Clock: clock}
	env.Shared(rules.LogWriterKey, func() (any, error) { return &buf, nil })
	rs, err := rules.CompileWith(mustParse(t, "l.toml", conf), nil, rules.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	for i := 0; i < 5; i++ {
		pkt := pk{src: "10.1.1.1", dst: "10.2.2.2", sport: 1234, dport: 22, flags: header.TCPFlagSYN, id: uint16(i), in: 0, out: 1}.build()
		if v, _ := rs.Eval(c, pkt, nil); v != rules.Accept {
			t.Fatalf("log is not terminal: %v", v)
		}
	}
	clock.Advance(time.Second)
	rs.Eval(c, pk{src: "10.1.1.1", dst: "10.2.2.2", sport: 1234, dport: 22, flags: header.TCPFlagSYN, id: 9, in: 0, out: 1}.build(), nil)
	want := "fw: IN=lan0 OUT=wan0 MAC= SRC=10.1.1.1 DST=10.2.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=1234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0\n" +
		"fw: IN=lan0 OUT=wan0 MAC= SRC=10.1.1.1 DST=10.2.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0\n" +
		"fw: IN=lan0 OUT=wan0 MAC= SRC=10.1.1.1 DST=10.2.2.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=9 PROTO=TCP SPT=1234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0\n"
	if buf.String() != want {
		t.Fatalf("log lines:\n%s\nwant:\n%s", buf.String(), want)
	}
}
