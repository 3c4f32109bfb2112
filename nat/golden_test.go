package nat_test

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/targets/*.golden")

type step struct {
	in   int16
	data []byte
}

var ifName = map[int16]string{lan0: "lan0", wan0: "wan0", packet.NoIf: "-"}

// TestTargetsGolden runs a short exchange through every NAT target and
// compares every byte that comes out with testdata/targets/NAME.golden
// (checksums verified by gopacket and by recomputation first).
func TestTargetsGolden(t *testing.T) {
	sent := func(l *lab, in int16, b []byte) []byte { return l.forward(in, b, 1-in) }
	cases := []struct {
		name  string
		cfg   string
		steps func(l *lab) []step
	}{
		{"masquerade", masqConfig, func(l *lab) []step {
			takePort(l, true, 40000)
			return []step{
				{lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1000, 0, "")},
				{wan0, tcpPkt(at(remote, 80), at(router, 1024), fSYN|fACK, 5000, 1001, "")},
				{lan0, udpPkt(at(hostA, 5000), at(remote, 53), "query")},
				{wan0, udpPkt(at(remote, 53), at(router, 5000), "answer")},
				{lan0, echo(hostA, remote, header.ICMPEcho, 0x99, 1)},
				{wan0, echo(remote, router, header.ICMPEchoReply, 0x99, 1)},
			}
		}},
		{"snat", baseConfig + `
[[nat.postrouting.rule]]
out = "wan0"
proto = "udp"
action = "snat"
to = "203.0.113.7:2000-2099"
`, func(l *lab) []step {
			return []step{
				{lan0, udpPkt(at(hostA, 5000), at(remote, 53), "query")},
				{wan0, udpPkt(at(remote, 53), at(addr("203.0.113.7"), 2000), "answer")},
				{lan0, udpNoSum(at(hostB, 5001), at(remote, 53), "no checksum")},
			}
		}},
		{"dnat", masqConfig, func(l *lab) []step {
			return []step{
				{wan0, tcpPkt(at(remote, 50000), at(router, 8080), fSYN, 1, 0, "")},
				{lan0, tcpPkt(at(server, 80), at(remote, 50000), fSYN|fACK, 7, 2, "")},
				{wan0, udpPkt(at(remote, 50001), at(router, 5353), "q")},
				{lan0, udpPkt(at(server, 53), at(remote, 50001), "a")},
			}
		}},
		{"redirect", baseConfig + `
[[nat.prerouting.rule]]
in = "lan0"
proto = "tcp"
dport = 80
action = "redirect"
to_ports = 3128
`, func(l *lab) []step {
			return []step{{lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, "")}}
		}},
		{"netmap", baseConfig + `
[[nat.prerouting.rule]]
in = "wan0"
dst = "203.0.113.16/28"
action = "netmap"
to = "192.168.1.16/28"

[[nat.postrouting.rule]]
out = "wan0"
src = "192.168.1.16/28"
action = "netmap"
to = "203.0.113.16/28"
`, func(l *lab) []step {
			return []step{
				{lan0, udpPkt(at(hostA, 1234), at(remote, 53), "q")},
				{wan0, udpPkt(at(remote, 53), at(addr("203.0.113.20"), 1234), "a")},
				{wan0, tcpPkt(at(remote, 50000), at(addr("203.0.113.21"), 22), fSYN, 1, 0, "")},
			}
		}},
		{"icmp-errors", masqConfig, func(l *lab) []step {
			takePort(l, false, 33434)
			probe := sent(l, lan0, udpPkt(at(hostA, 33434), at(remote, 33434), "probe"))
			syn := sent(l, lan0, tcpPkt(at(hostA, 40000), at(remote, 80), fSYN, 1, 0, ""))
			toSrv := sent(l, wan0, udpPkt(at(remote, 50000), at(router, 5353), "q"))
			return []step{
				{wan0, icmpError(hop, router, header.ICMPTimeExceeded, 0, probe)},
				{wan0, icmpError(remote, router, header.ICMPDestUnreach, 3, probe)},
				{wan0, icmpError(hop, router, header.ICMPDestUnreach, 4, syn)},
				{lan0, icmpError(server, remote, header.ICMPDestUnreach, 3, toSrv)},
				{wan0, icmpError(remote, router, header.ICMPDestUnreach, 3, udpPkt(at(router, 9999), at(remote, 53), "never"))},
			}
		}},
		{"hairpin", masqConfig, func(l *lab) []step {
			return []step{
				{lan0, tcpPkt(at(hostA, 40000), at(router, 8080), fSYN, 100, 0, "")},
				{lan0, tcpPkt(at(server, 80), at(router, 40000), fSYN|fACK, 900, 101, "")},
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.cfg, &nat.Options{Seed: 1})
			steps := c.steps(l)
			var b strings.Builder
			for _, s := range steps {
				fmt.Fprintf(&b, "> %s %s\n", ifName[s.in], describe(s.data))
				r := l.send(s.in, s.data)
				switch {
				case r.verdict == pipeline.Continue:
					fmt.Fprintf(&b, "< %s %s\n", ifName[r.outIf], describe(r.data))
				case r.drop == packet.DropLocal:
					// Delivered to INPUT (the router itself); no local
					// stage in this pipeline takes it.
					fmt.Fprintf(&b, "< input %s\n", describe(r.data))
				default:
					fmt.Fprintf(&b, "< %s %s\n", r.verdict, r.drop)
					continue
				}
				checkSums(t, r.data)
				if header.IPv4(r.data).Protocol() == header.ProtoICMP && header.IsICMPError(r.data[20]) {
					qs, qd := quoted(r.data)
					fmt.Fprintf(&b, "  quoting %v:%d > %v:%d\n", qs.a, qs.port, qd.a, qd.port)
				}
				for i := 0; i < len(r.data); i += 16 {
					fmt.Fprintf(&b, "  %s\n", hex.EncodeToString(r.data[i:min(i+16, len(r.data))]))
				}
			}
			golden(t, filepath.Join("testdata", "targets", c.name+".golden"), b.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got %q\nwant %q", path, i+1, g, w)
			}
		}
	}
}
