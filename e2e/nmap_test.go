package e2e

import (
	"regexp"
	"strings"
	"testing"
)

var nmapPort = regexp.MustCompile(`(?m)^(\d+)/tcp\s+(\S+)`)

// nmap scans fwd's WAN address from the server and returns each port's
// state.
func nmap(t *testing.T, e *env, scan string) map[string]string {
	t.Helper()
	out := e.run("server", "nmap", "-Pn", "-n", "-T4", "--max-retries", "2", scan, "-p", "22,23,80,443,8080,8081", "203.0.113.2")
	states := map[string]string{}
	for _, m := range nmapPort.FindAllStringSubmatch(out, -1) {
		states[m[1]] = m[2]
	}
	if len(states) != 6 {
		t.Fatalf("nmap %s: %d ports in the report, want 6:\n%s", scan, len(states), out)
	}
	return states
}

// TestNmap scans the published address from the internet side. A SYN scan
// finds the published port 8080 open and every other port filtered (the
// input chain drops); FIN, Xmas, NULL and ACK scans open nothing, since
// conntrack calls their packets INVALID (they start no connection and
// belong to none) and the forward chain drops them: the INVALID counter
// rises with each.
func TestNmap(t *testing.T) {
	e := startLab(t, labTOML(t))
	serveHTTP(t, e, "lan-a", "192.168.1.10:80")
	for port, st := range nmap(t, e, "-sS") {
		want := "filtered"
		if port == "8080" {
			want = "open"
		}
		if st != want {
			t.Errorf("-sS: port %s is %s, want %s", port, st, want)
		}
	}
	for _, scan := range []string{"-sF", "-sX", "-sN", "-sA"} {
		before := e.ctStat("invalid")
		states := nmap(t, e, scan)
		after := e.ctStat("invalid")
		want := "open|filtered" // no answer: what a dropping firewall gives
		if scan == "-sA" {
			want = "filtered" // no RST came back, so not "unfiltered"
		}
		for port, st := range states {
			if st != want {
				t.Errorf("%s: port %s is %s, want %s", scan, port, st, want)
			}
		}
		if after < before+6 {
			t.Errorf("%s: conntrack invalid went from %d to %d, want at least one per port", scan, before, after)
		}
	}
	// Only the SYN scan's connection to the published port has an entry.
	ct := e.fwd("conntrack", "-L", "-p", "tcp")
	for _, line := range strings.Split(ct, "\n") {
		if strings.HasPrefix(line, "tcp") && !strings.Contains(line, "dport=8080 src=192.168.1.10") {
			t.Errorf("an entry not of the published port:\n%s", line)
		}
	}
}
