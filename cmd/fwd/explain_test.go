package main

import (
	"encoding/json"
	"strings"
	"testing"

	"fwd/header"
	"fwd/packet"
)

// The packet explain builds is a valid first packet: it decodes, and its
// checksums verify.
func TestExplainBuildsValidPackets(t *testing.T) {
	src, dst := [4]byte{192, 168, 1, 10}, [4]byte{198, 51, 100, 20}
	tests := []struct {
		name  string
		proto uint8
		want  packet.Proto
	}{
		{"tcp", header.ProtoTCP, packet.TCP},
		{"udp", header.ProtoUDP, packet.UDP},
		{"icmp", header.ProtoICMP, packet.ICMP},
	}
	for _, tt := range tests {
		b := buildFlowPacket(tt.proto, src, dst, 40000, 80)
		var p packet.Parsed
		p.Decode(b)
		if p.Proto != tt.want || p.Reason != header.ReasonNone || !header.IPv4(b).IsChecksumValid() {
			t.Errorf("%s: decoded as %v (%v)", tt.name, p.Proto, p.Reason)
			continue
		}
		l4 := b[p.L4Off:]
		switch tt.proto {
		case header.ProtoTCP:
			if !header.TCP(l4).IsChecksumValid(src, dst) || p.TCPFlags != header.TCPFlagSYN || p.SrcPort != 40000 || p.DstPort != 80 {
				t.Errorf("tcp: bad checksum or fields %+v", p)
			}
		case header.ProtoUDP:
			if !header.UDP(l4).IsChecksumValid(src, dst) || header.UDP(l4).Checksum() == 0 || p.DstPort != 80 {
				t.Errorf("udp: bad checksum or fields %+v", p)
			}
		case header.ProtoICMP:
			if !header.ICMPv4(l4).IsChecksumValid() || p.ICMPType != header.ICMPEcho {
				t.Errorf("icmp: bad checksum or type %+v", p)
			}
		}
	}
}

// Offline, against the lab ruleset: each case names the chains' deciding
// rules (with their lines), the NAT translation, the answers and the
// verdict.
func TestExplainOffline(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
		not  []string
	}{
		{"masqueraded out of the LAN", []string{"-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "40000", "--dport", "80"}, 0, []string{
			"explain tcp 192.168.1.10:40000 > 198.51.100.20:80 syn in lan0 (../../configs/lab.toml)",
			"path:    prerouting -> forward -> postrouting",
			"filter forward; rule forward:4 at ../../configs/lab.toml:111:1 accept (verdict accept)",
			`nat postrouting; rule postrouting:1 "hide the LAN behind the WAN address" at ../../configs/lab.toml:70:1 masquerade`,
			"nat:     snat ip saddr 192.168.1.10 => 203.0.113.2",
			"verdict: accept, out wan0",
		}, []string{"answer:", "log:"}},
		{"rejected with a reset", []string{"-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "40000", "--dport", "23"}, 1, []string{
			`rule forward:3 "no telnet out of the LAN (a demo of reject)" at ../../configs/lab.toml:103:1 reject (verdict reject)`,
			`answer:  oif "lan0" ip saddr 198.51.100.20 ip daddr 192.168.1.10`,
			"tcp sport 23 tcp dport 40000 tcp flags == rst|ack",
			"verdict: reject (reject)",
		}, []string{"nat:"}},
		{"published through DNAT", []string{"-p", "tcp", "-s", "198.51.100.20", "-d", "203.0.113.2", "--sport", "5555", "--dport", "8080"}, 0, []string{
			"syn in wan0",
			`nat prerouting; rule prerouting:1 "publish lan-a's web server on the WAN address" at ../../configs/lab.toml:62:1 dnat`,
			`rule forward:5 "the published web server (after DNAT)" at ../../configs/lab.toml:116:1 accept`,
			"nat:     dnat ip daddr 203.0.113.2 => 192.168.1.10 tcp dport 8080 => 80",
			"verdict: accept, out lan0",
		}, nil},
		{"logged and dropped by policy", []string{"-p", "udp", "-s", "198.51.100.20", "-d", "192.168.1.10", "--sport", "5555", "--dport", "9999"}, 1, []string{
			"filter forward; rule forward:7 at ../../configs/lab.toml:133:1 log; forward policy (verdict drop)",
			"log:     fwd-drop: IN=wan0 OUT=lan0 MAC= SRC=198.51.100.20 DST=192.168.1.10 LEN=28 ",
			"PROTO=UDP SPT=5555 DPT=9999 LEN=8",
			"verdict: drop (policy)",
		}, nil},
		{"ping to the gateway, answered", []string{"-p", "icmp", "-s", "192.168.1.10", "-d", "192.168.1.1"}, 0, []string{
			"explain icmp 192.168.1.10 > 192.168.1.1 echo-request in lan0",
			"path:    prerouting -> input -> output -> postrouting",
			`rule input:2 "let the LAN ping the gateway" at ../../configs/lab.toml:85:1 accept`,
			"input local accept: echo reply",
			"icmp type echo-reply",
			"verdict: accept (answered by fwd), out lan0",
		}, []string{"nat:"}},
		{"from fwd itself", []string{"-p", "udp", "-s", "192.168.1.1", "-d", "198.51.100.20", "--sport", "5555", "--dport", "53"}, 0, []string{
			"from fwd itself",
			"path:    output -> postrouting",
			"verdict: accept, out wan0",
		}, nil},
		{"the ingress interface given", []string{"-p", "udp", "-s", "198.51.100.20", "-d", "192.168.1.10", "--sport", "5555", "--dport", "53", "-i", "lan0"}, 1, []string{
			`packet: iif "lan0"`,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(t, append([]string{"explain", "-c", "../../configs/lab.toml"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("has %q:\n%s", n, out)
				}
			}
		})
	}
	// The whole output of one case, to see the format change.
	out, _, _ := run(t, "explain", "-c", "../../configs/lab.toml", "-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "40000", "--dport", "80")
	golden(t, "explain-lab.golden", out)
}

func TestExplainJSONAndUsage(t *testing.T) {
	out, _, code := run(t, "explain", "-c", "../../configs/lab.toml", "-o", "json", "-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "40000", "--dport", "80")
	var res explainResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if res.Verdict != "accept" || res.Oif != "wan0" || res.NAT == "" || len(res.Events) < 10 || res.Events[0].Kind != "packet" {
		t.Errorf("%+v", res)
	}
	bad := [][]string{
		{"-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "1", "--dport", "80"}, // neither -c nor --socket
		{"-c", "x", "--socket", "y", "-p", "udp", "-s", "1.1.1.1", "-d", "2.2.2.2", "--sport", "1", "--dport", "2"},
		{"-c", "../../configs/lab.toml", "-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20"}, // no ports
		{"-c", "../../configs/lab.toml", "-p", "icmp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--dport", "1"},
		{"-c", "../../configs/lab.toml", "-p", "tcp", "-s", "::1", "-d", "198.51.100.20", "--sport", "1", "--dport", "2"},
		{"-c", "../../configs/lab.toml", "-p", "bogus", "-s", "1.1.1.1", "-d", "2.2.2.2"},
		{"-c", "../../configs/lab.toml", "-p", "udp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "1", "--dport", "2", "-i", "eth9"},
	}
	for _, args := range bad {
		if _, _, code := run(t, append([]string{"explain"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// Through the daemon, explain uses the running configuration with its
// live sets, and changes nothing of the running state.
func TestExplainDaemon(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	args := []string{"explain", "--socket", sock, "-p", "tcp", "-s", "198.51.100.20", "-d", "192.168.1.10", "--sport", "5555", "--dport", "443"}
	ctBefore, _, _ := run(t, "conntrack", "-L", "--socket", sock)
	rulesBefore, _, _ := run(t, "rules", "-L", "-v", "-x", "--socket", sock)
	out, _, code := run(t, args...)
	if code != 1 || !strings.Contains(out, "verdict: drop (policy)") {
		t.Fatalf("443 is not published yet: exit %d\n%s", code, out)
	}
	// The same flow explained offline gives the same lines.
	off, _, _ := run(t, "explain", "-c", "../../configs/lab.toml", "-p", "tcp", "-s", "198.51.100.20", "-d", "192.168.1.10", "--sport", "5555", "--dport", "443")
	if off != out {
		t.Errorf("daemon and offline differ:\n%s\n---\n%s", out, off)
	}
	// A set changed at run time counts.
	if _, errs, code := run(t, "sets", "add", "published", "443", "--socket", sock); code != 0 {
		t.Fatalf("sets add: %s", errs)
	}
	out, _, code = run(t, args...)
	if code != 0 || !strings.Contains(out, `rule forward:5 "the published web server (after DNAT)"`) || !strings.Contains(out, "verdict: accept, out lan0") {
		t.Errorf("after sets add: exit %d\n%s", code, out)
	}
	ctAfter, _, _ := run(t, "conntrack", "-L", "--socket", sock)
	rulesAfter, _, _ := run(t, "rules", "-L", "-v", "-x", "--socket", sock)
	if ctAfter != ctBefore || rulesAfter != rulesBefore {
		t.Errorf("explain changed the running state:\nconntrack %v, counters %v", ctAfter != ctBefore, rulesAfter != rulesBefore)
	}
	_ = d
}
