package rules_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestGatewayListing compiles the reference config and checks its
// iptables -L -v -n -x --line-numbers listing.
func TestGatewayListing(t *testing.T) {
	rs := mustCompile(t, gateway(t))
	var b bytes.Buffer
	if err := rs.WriteListing(&b, rules.ListOptions{Verbose: true, Exact: true, LineNumbers: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/gateway.golden", b.Bytes())
	b.Reset()
	rs.WriteListing(&b, rules.ListOptions{})
	golden(t, "testdata/gateway-plain.golden", b.Bytes())
}

// TestGatewayEveryRule sends packets through the reference config (as the
// stages would: nat for new connections, filter at the packet's hook)
// until every rule and both drop policies have counted, and checks each
// verdict.
func TestGatewayEveryRule(t *testing.T) {
	var logs bytes.Buffer
	clock := pipeline.NewVirtual(time.Unix(1700000000, 0))
	env := &pipeline.Env{Clock: clock}
	env.Shared(rules.LogWriterKey, func() (any, error) { return &logs, nil })
	rs, err := rules.CompileWith(gateway(t), nil, rules.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	const lan0, wan0 = 0, 1
	syn, ack := header.TCPFlagSYN, header.TCPFlagACK
	steps := []struct {
		name  string
		table rules.Table
		hook  packet.Hook
		pkt   pk
		want  rules.Verdict
		nat   rules.NATKind
	}{
		{"dnat published port", rules.TableNAT, packet.Prerouting, pk{src: "198.51.100.20", dst: "203.0.113.2", dport: 8080, flags: syn, in: wan0, out: noIf, ct: packet.CTNew}, rules.Accept, rules.DNAT},
		{"masquerade lan", rules.TableNAT, packet.Postrouting, pk{src: "192.168.1.20", dst: "198.51.100.20", dport: 443, flags: syn, in: lan0, out: wan0, ct: packet.CTNew}, rules.Accept, rules.Masquerade},
		{"input established", rules.TableFilter, packet.Input, pk{src: "198.51.100.20", dst: "203.0.113.2", sport: 53, dport: 40000, proto: header.ProtoUDP, in: wan0, out: noIf, ct: packet.CTEstablished}, rules.Accept, 0},
		{"input ping from lan", rules.TableFilter, packet.Input, pk{src: "192.168.1.20", dst: "192.168.1.1", proto: header.ProtoICMP, icmpType: 8, in: lan0, out: noIf, ct: packet.CTNew}, rules.Accept, 0},
		{"ssh 1", rules.TableFilter, packet.Input, pk{src: "192.168.1.20", dst: "192.168.1.1", sport: 50001, dport: 22, flags: syn, in: lan0, out: noIf, ct: packet.CTNew}, rules.Accept, 0},
		{"ssh 2", rules.TableFilter, packet.Input, pk{src: "192.168.1.20", dst: "192.168.1.1", sport: 50002, dport: 22, flags: syn, in: lan0, out: noIf, ct: packet.CTNew}, rules.Accept, 0},
		{"ssh 3", rules.TableFilter, packet.Input, pk{src: "192.168.1.20", dst: "192.168.1.1", sport: 50003, dport: 22, flags: syn, in: lan0, out: noIf, ct: packet.CTNew}, rules.Accept, 0},
		{"ssh 4 flood: log and drop", rules.TableFilter, packet.Input, pk{src: "192.168.1.20", dst: "192.168.1.1", sport: 50004, dport: 22, flags: syn, in: lan0, out: noIf, ct: packet.CTNew}, rules.Drop, 0},
		{"input policy", rules.TableFilter, packet.Input, pk{src: "198.51.100.20", dst: "203.0.113.2", dport: 25, flags: syn, in: wan0, out: noIf, ct: packet.CTNew}, rules.Drop, 0},
		{"forward invalid", rules.TableFilter, packet.Forward, pk{src: "198.51.100.20", dst: "192.168.1.10", dport: 80, flags: ack, in: wan0, out: lan0, ct: packet.CTInvalid}, rules.Drop, 0},
		{"forward established", rules.TableFilter, packet.Forward, pk{src: "198.51.100.20", dst: "192.168.1.20", sport: 443, dport: 40000, flags: ack, in: wan0, out: lan0, ct: packet.CTEstablished}, rules.Accept, 0},
		{"forward from blocklist", rules.TableFilter, packet.Forward, pk{src: "192.0.2.9", dst: "192.168.1.20", dport: 80, flags: syn, in: wan0, out: lan0, ct: packet.CTNew}, rules.Reject, 0},
		{"forward to blocklist", rules.TableFilter, packet.Forward, pk{src: "192.168.1.20", dst: "198.51.100.66", dport: 80, flags: syn, in: lan0, out: wan0, ct: packet.CTNew}, rules.Reject, 0},
		{"forward lan out", rules.TableFilter, packet.Forward, pk{src: "192.168.1.20", dst: "198.51.100.20", proto: header.ProtoUDP, dport: 53, in: lan0, out: wan0, ct: packet.CTNew}, rules.Accept, 0},
		{"forward web server", rules.TableFilter, packet.Forward, pk{src: "198.51.100.20", dst: "192.168.1.10", dport: 8042, flags: syn, in: wan0, out: lan0, ct: packet.CTNew}, rules.Accept, 0},
		{"forward icmp in", rules.TableFilter, packet.Forward, pk{src: "198.51.100.20", dst: "192.168.1.20", proto: header.ProtoICMP, icmpType: 11, in: wan0, out: lan0, ct: packet.CTRelated}, rules.Accept, 0},
		{"forward policy", rules.TableFilter, packet.Forward, pk{src: "198.51.100.20", dst: "192.168.1.10", dport: 22, flags: syn, in: wan0, out: lan0, ct: packet.CTNew}, rules.Drop, 0},
	}
	// The icmp step must reach rule 7, not rule 2 (established,related).
	steps[15].pkt.ct = packet.CTNew
	for _, s := range steps {
		pkt := s.pkt.build()
		v, _ := rs.Eval(rs.Builtin(s.table, s.hook), pkt, nil)
		if v != s.want {
			t.Errorf("%s: verdict %v, want %v", s.name, v, s.want)
		}
		if s.nat != 0 {
			if n, _ := pkt.NAT.(*rules.NAT); n == nil || n.Kind != s.nat {
				t.Errorf("%s: NAT %+v, want %v", s.name, pkt.NAT, s.nat)
			}
		}
	}
	for t2 := rules.Table(0); int(t2) < rules.NumTables; t2++ {
		for _, c := range rs.Chains(t2) {
			for _, r := range c.Rules {
				if p, _ := rs.Counters(r); p == 0 {
					t.Errorf("%s %s rule %d (%s) never counted", t2, c.Name, r.Num, r.Pos)
				}
			}
			if c.Builtin() && c.Policy == rules.Drop {
				if p, _ := rs.PolicyCounters(c); p == 0 {
					t.Errorf("%s %s policy never counted", t2, c.Name)
				}
			}
		}
	}
	if !strings.HasPrefix(logs.String(), "ssh-flood: IN=lan0 OUT= MAC= SRC=192.168.1.20 DST=192.168.1.1 LEN=40 ") || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("log lines: %q", logs.String())
	}
}
