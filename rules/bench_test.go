package rules_test

import (
	"fmt"
	"testing"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/rules"
)

// chainConfig builds by hand (no TOML) a filter input chain of n rules
// `KEY = value(i), action = "accept"`, policy drop.
func chainConfig(n int, key string) *config.Config {
	ch := &config.Chain{Table: "filter", Name: "input", Policy: "drop"}
	for i := 0; i < n; i++ {
		var v any
		switch key {
		case "src":
			v = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		case "dport":
			v = int64(1 + i%65535)
		}
		ch.Rules = append(ch.Rules, &config.Rule{Pos: config.Pos{File: "gen", Line: i + 1, Col: 1}, Keys: []config.KV{
			{Key: key, Value: config.Value{V: v}},
			{Key: "action", Value: config.Value{V: "accept"}},
		}})
	}
	return &config.Config{File: "gen", Chains: []*config.Chain{ch}}
}

// lastRulePacket matches the chain's last rule (the worst case for a linear
// walk).
func lastRulePacket(n int, key string) *packet.Packet {
	i := n - 1
	p := pk{src: "192.0.2.1", dst: "192.0.2.2", sport: 1, dport: 1, in: noIf, out: noIf}
	switch key {
	case "src":
		p.src = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	case "dport":
		p.dport = uint16(1 + i%65535)
	}
	return p.build()
}

func BenchmarkChain(b *testing.B) {
	for _, key := range []string{"src", "dport"} {
		for _, n := range []int{10, 1000, 10000, 100000} {
			for _, linear := range []bool{false, true} {
				if linear && n > 10000 {
					continue
				}
				name := fmt.Sprintf("%s/%d", key, n)
				if linear {
					name += "/linear"
				}
				b.Run(name, func(b *testing.B) {
					opt := rules.Options{NoIndex: linear}
					rs, err := rules.CompileWith(chainConfig(n, key), nil, opt)
					if err != nil {
						b.Fatal(err)
					}
					c := rs.Builtin(rules.TableFilter, packet.Input)
					pkt := lastRulePacket(n, key)
					if v, _ := rs.Eval(c, pkt, nil); v != rules.Accept {
						b.Fatalf("verdict %v", v)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						rs.Eval(c, pkt, nil)
					}
				})
			}
		}
	}
}

// gatewayPackets are packets through the reference config: one decided
// deep in FORWARD (the published web server), one ESTABLISHED.
func gatewayPackets() map[string]*packet.Packet {
	return map[string]*packet.Packet{
		"forward_new_web":     pk{src: "198.51.100.20", dst: "192.168.1.10", sport: 40000, dport: 443, flags: header.TCPFlagSYN, in: 1, out: 0, ct: packet.CTNew}.build(),
		"forward_established": pk{src: "192.168.1.20", dst: "198.51.100.20", sport: 40000, dport: 443, flags: header.TCPFlagACK, in: 0, out: 1, ct: packet.CTEstablished}.build(),
		"input_policy_drop":   pk{src: "198.51.100.20", dst: "203.0.113.2", sport: 40000, dport: 25, flags: header.TCPFlagSYN, in: 1, out: noIf, ct: packet.CTNew}.build(),
	}
}

func BenchmarkGateway(b *testing.B) {
	rs := mustCompile(b, gateway(b))
	for name, pkt := range gatewayPackets() {
		h := packet.Forward
		if name == "input_policy_drop" {
			h = packet.Input
		}
		c := rs.Builtin(rules.TableFilter, h)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rs.Eval(c, pkt, nil)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, key := range []string{"src", "dport"} {
		cfg := chainConfig(100000, key)
		b.Run(key+"/100000", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := rules.Compile(cfg, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNoAllocs checks the verdict path allocates nothing, through the
// gateway config and through large indexed chains.
func TestNoAllocs(t *testing.T) {
	rs := mustCompile(t, gateway(t))
	for name, pkt := range gatewayPackets() {
		h := packet.Forward
		if name == "input_policy_drop" {
			h = packet.Input
		}
		c := rs.Builtin(rules.TableFilter, h)
		if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
			t.Errorf("%s: %v allocs per verdict", name, n)
		}
	}
	for _, key := range []string{"src", "dport"} {
		rs := mustCompile(t, chainConfig(5000, key))
		c := rs.Builtin(rules.TableFilter, packet.Input)
		pkt := lastRulePacket(5000, key)
		if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
			t.Errorf("%s chain: %v allocs per verdict", key, n)
		}
	}
}
