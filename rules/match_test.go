package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"fwd/header"
	"fwd/packet"
	"fwd/rules"
)

const prelude = `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"

[[interface]]
name = "wan1"
addr = "198.51.100.2/24"

[sets.nets]
type = "ipv4_net"
elements = ["10.0.0.0/8", "192.0.2.7"]

[sets.hosts]
type = "ipv4_addr"
elements = ["10.1.1.1"]

[sets.ports]
type = "port"
elements = [22, "8000-8099"]

[sets.svc]
type = "ipv4_addr_port"
elements = ["10.2.2.2:443"]
`

// oneRule compiles a filter forward chain (policy drop) holding one rule
// with the given keys and action accept.
func oneRule(t testing.TB, keys string) *rules.Ruleset {
	t.Helper()
	src := prelude + "\n[filter.forward]\npolicy = \"drop\"\n\n[[filter.forward.rule]]\n" + keys + "\naction = \"accept\"\n"
	return mustCompile(t, mustParse(t, "m.toml", src))
}

func fwdVerdict(rs *rules.Ruleset, pkt *packet.Packet) rules.Verdict {
	v, _ := rs.Eval(rs.Builtin(rules.TableFilter, packet.Forward), pkt, nil)
	return v
}

var base = pk{src: "10.1.1.1", dst: "10.2.2.2", sport: 40000, dport: 443, flags: header.TCPFlagSYN, in: 0, out: 1}

func with(f func(*pk)) pk { p := base; f(&p); return p }

func TestMatches(t *testing.T) {
	udp := with(func(p *pk) { p.proto = header.ProtoUDP; p.sport, p.dport = 5353, 53 })
	icmp := with(func(p *pk) { p.proto = header.ProtoICMP; p.icmpType = 8 })
	unreach := with(func(p *pk) { p.proto = header.ProtoICMP; p.icmpType, p.icmpCode = 3, 3 })
	tests := []struct {
		name string
		keys string
		pkt  pk
		want bool
	}{
		{"src addr", `src = "10.1.1.1"`, base, true},
		{"src addr miss", `src = "10.1.1.2"`, base, false},
		{"src prefix", `src = "10.0.0.0/8"`, base, true},
		{"src list", `src = ["192.0.2.1", "10.1.0.0/16"]`, base, true},
		{"src comma list", `src = "192.0.2.1,10.1.0.0/16"`, base, true},
		{"src negated", `src = "!10.0.0.0/8"`, base, false},
		{"src negated list miss", `src = "!192.0.2.1,198.51.100.0/24"`, base, true},
		{"src set net", `src = "@nets"`, base, true},
		{"src set addr", `src = "@hosts"`, base, true},
		{"src set negated", `src = "!@hosts"`, base, false},
		{"dst addr", `dst = "10.2.2.2"`, base, true},
		{"dst negated", `dst = "!10.2.2.2"`, base, false},
		{"dst set addr_port", `dst = "@svc"`, base, true},
		{"dst set addr_port wrong port", `dst = "@svc"`, with(func(p *pk) { p.dport = 80 }), false},
		{"src_range", `src_range = "10.1.1.0-10.1.1.9"`, base, true},
		{"src_range negated", `src_range = "!10.1.1.0-10.1.1.9"`, base, false},
		{"dst_range miss", `dst_range = "10.2.2.3-10.2.2.9"`, base, false},
		{"dst_range negated miss", `dst_range = "!10.2.2.3-10.2.2.9"`, base, true},
		{"proto name", `proto = "tcp"`, base, true},
		{"proto number", `proto = 17`, udp, true},
		{"proto list", `proto = ["udp", "icmp"]`, base, false},
		{"proto negated", `proto = "!tcp"`, base, false},
		{"proto negated udp", `proto = "!tcp"`, udp, true},
		{"dport", `dport = 443`, base, true},
		{"dport string", `dport = "443"`, base, true},
		{"dport range", `dport = "400-500"`, base, true},
		{"dport list", `dport = [80, 8443]`, base, false},
		{"dport negated", `dport = "!443"`, base, false},
		{"dport negated list", `dport = "!80,8080"`, base, true},
		{"dport set", `dport = "@ports"`, with(func(p *pk) { p.dport = 8042 }), true},
		{"dport set miss", `dport = "@ports"`, base, false},
		{"dport udp", `dport = 53`, udp, true},
		{"dport on icmp never", `dport = "!53"`, icmp, false},
		{"sport", `sport = "40000-40010"`, base, true},
		{"sport negated", `sport = "!40000"`, base, false},
		{"in", `in = "lan0"`, base, true},
		{"in wildcard", `in = "wan+"`, base, false},
		{"in negated", `in = "!lan0"`, base, false},
		{"out wildcard", `out = "wan+"`, base, true},
		{"out negated", `out = "!wan0"`, base, false},
		{"out list", `out = ["lan0", "wan1"]`, base, false},
		{"ct_state", `ct_state = ["established", "related"]`, with(func(p *pk) { p.ct = packet.CTEstablished }), true},
		{"ct_state miss", `ct_state = "new"`, with(func(p *pk) { p.ct = packet.CTEstablished }), false},
		{"ct_state negated", `ct_state = "!new"`, with(func(p *pk) { p.ct = packet.CTEstablished }), true},
		{"ct_state invalid", `ct_state = "invalid"`, with(func(p *pk) { p.ct = packet.CTInvalid }), true},
		{"ct_state untracked", `ct_state = "untracked"`, with(func(p *pk) { p.ct = packet.CTUntracked }), true},
		{"ct_status", `ct_status = ["assured"]`, with(func(p *pk) { p.ctStatus = packet.CTStatusAssured | packet.CTStatusSeenReply }), true},
		{"ct_status miss", `ct_status = "dnat"`, with(func(p *pk) { p.ctStatus = packet.CTStatusSNAT }), false},
		{"ct_status negated", `ct_status = "!dnat"`, with(func(p *pk) { p.ctStatus = packet.CTStatusSNAT }), true},
		{"tcp_flags", `tcp_flags = { mask = ["syn", "ack", "fin", "rst"], set = ["syn"] }`, base, true},
		{"tcp_flags synack", `tcp_flags = { mask = ["syn", "ack", "fin", "rst"], set = ["syn"] }`, with(func(p *pk) { p.flags = header.TCPFlagSYN | header.TCPFlagACK }), false},
		{"tcp_flags invert", `tcp_flags = { mask = ["syn", "ack"], set = ["syn"], invert = true }`, base, false},
		{"syn", `syn = true`, base, true},
		{"syn false", `syn = false`, base, false},
		{"syn false on ack", `syn = false`, with(func(p *pk) { p.flags = header.TCPFlagACK }), true},
		{"tcp_flags on udp never", `tcp_flags = { mask = ["syn"], set = [], invert = true }`, udp, false},
		{"tcp_option mss", `tcp_option = "mss"`, with(func(p *pk) { p.tcpOpts = []byte{2, 4, 5, 0xb4} }), true},
		{"tcp_option number after nop", `tcp_option = 8`, with(func(p *pk) { p.tcpOpts = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0} }), true},
		{"tcp_option absent", `tcp_option = "sack"`, with(func(p *pk) { p.tcpOpts = []byte{2, 4, 5, 0xb4} }), false},
		{"tcp_option negated", `tcp_option = "!mss"`, base, true},
		{"icmp_type name", `icmp_type = "echo-request"`, icmp, true},
		{"icmp_type number", `icmp_type = 0`, icmp, false},
		{"icmp_type type/code", `icmp_type = "3/3"`, unreach, true},
		{"icmp_type code name", `icmp_type = "port-unreachable"`, unreach, true},
		{"icmp_type code miss", `icmp_type = "host-unreachable"`, unreach, false},
		{"icmp_type list", `icmp_type = ["time-exceeded", "destination-unreachable"]`, unreach, true},
		{"icmp_type negated", `icmp_type = "!echo-request"`, icmp, false},
		{"icmp_type on tcp never", `icmp_type = "!echo-request"`, base, false},
		{"fragment", `fragment = true`, with(func(p *pk) { p.frag = 100 }), true},
		{"fragment first", `fragment = true`, with(func(p *pk) { p.frag = header.IPv4FlagMF }), false},
		{"fragment negated", `fragment = false`, base, true},
		{"ttl eq", `ttl = { eq = 64 }`, base, true},
		{"ttl lt", `ttl = { lt = 64 }`, base, false},
		{"ttl gt", `ttl = { gt = 10 }`, base, true},
		{"ttl ne", `ttl = { ne = 64 }`, base, false},
		{"length", `length = "0-100"`, base, true},
		{"length miss", `length = "100-1500"`, base, false},
		{"length negated", `length = "!100-1500"`, base, true},
		{"length exact", `length = 40`, base, true},
		{"mark", `mark = "0x1/0xf"`, with(func(p *pk) { p.mark = 0x31 }), true},
		{"mark int", `mark = 5`, with(func(p *pk) { p.mark = 5 }), true},
		{"mark negated", `mark = "!0x1/0xf"`, with(func(p *pk) { p.mark = 0x31 }), false},
		{"ct_mark", `ct_mark = "0x2"`, with(func(p *pk) { p.ctmark = 2 }), true},
		{"ct_mark negated", `ct_mark = "!0x2"`, with(func(p *pk) { p.ctmark = 2 }), false},
		{"mac_src", `mac_src = "00:11:22:33:44:55"`, with(func(p *pk) { p.mac = [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55} }), true},
		{"mac_src negated", `mac_src = "!00:11:22:33:44:55"`, with(func(p *pk) { p.mac = [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55} }), false},
		{"limit first packet", `limit = "1/second"`, base, true},
		{"hashlimit first packet", `hashlimit = { rate = "1/second", burst = 1 }`, base, true},
		{"hashlimit above first packet", `hashlimit = { rate = "1/second", burst = 1, above = true }`, base, false},
		{"connlimit above 0", `connlimit = 0`, base, true},
		{"connlimit above 1", `connlimit = { above = 1, prefix = 24 }`, base, false},
		{"connlimit upto", `connlimit = { upto = 1 }`, base, true},
		{"comment alone", `comment = "hello"`, base, true},
		{"several keys", "proto = \"tcp\"\ndport = 443\nsrc = \"10.0.0.0/8\"\nin = \"lan0\"", base, true},
		{"several keys one miss", "proto = \"tcp\"\ndport = 443\nsrc = \"10.0.0.0/8\"\nin = \"wan0\"", base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := oneRule(t, tt.keys)
			got := fwdVerdict(rs, tt.pkt.build()) == rules.Accept
			if got != tt.want {
				t.Fatalf("%s: matched = %v, want %v", strings.ReplaceAll(tt.keys, "\n", "; "), got, tt.want)
			}
		})
	}
}

// TestMatchListing checks each match's iptables text.
func TestMatchListing(t *testing.T) {
	tests := []struct{ name, keys, want string }{
		{"dport", "proto = \"tcp\"\ndport = 22", "tcp dpt:22"},
		{"dport range negated", "proto = \"udp\"\ndport = \"!1000-2000\"", "udp dpts:!1000:2000"},
		{"multiport", "proto = \"tcp\"\ndport = [80, 443]", "multiport dports 80,443"},
		{"ctstate", `ct_state = ["established", "related", "new"]`, "ctstate NEW,RELATED,ESTABLISHED"},
		{"ctstatus", `ct_status = ["assured", "dnat"]`, "ctstatus ASSURED,DNAT"},
		{"limit", "limit = \"3/minute\"\nlimit_burst = 3", "limit: avg 3/min burst 3"},
		{"mark", `mark = "0x1/0xff"`, "mark match 0x1/0xff"},
		{"connmark", `ct_mark = "!0x2"`, "connmark match !0x2"},
		{"ttl", `ttl = { lt = 5 }`, "TTL match TTL < 5"},
		{"length", `length = "0-100"`, "length 0:100"},
		{"mac", `mac_src = "00:11:22:aa:bb:cc"`, "MAC 00:11:22:AA:BB:CC"},
		{"iprange", `src_range = "10.0.0.1-10.0.0.9"`, "source IP range 10.0.0.1-10.0.0.9"},
		{"set", `src = "!@nets"`, "! match-set nets src"},
		{"icmp", "proto = \"icmp\"\nicmp_type = \"3/4\"", "icmptype 3 code 4"},
		{"comment", `comment = "x y"`, "/* x y */"},
		{"connlimit", `connlimit = { above = 5, prefix = 24 }`, "#conn src/24 > 5"},
		{"hashlimit", `hashlimit = { rate = "10/second", burst = 5, mode = "dst" }`, "limit: up to 10/sec burst 5 mode dstip"},
		{"source column", `src = "!10.0.0.0/8"`, "!10.0.0.0/8"},
		{"in column", `in = "!wan+"`, "!wan+"},
		{"fragment", `fragment = true`, "-f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := oneRule(t, tt.keys)
			var b strings.Builder
			rs.WriteListing(&b, rules.ListOptions{Verbose: true})
			if !strings.Contains(b.String(), tt.want) {
				t.Fatalf("listing lacks %q:\n%s", tt.want, b.String())
			}
		})
	}
}

var _ = fmt.Sprint
