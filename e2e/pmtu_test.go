package e2e

import (
	"strings"
	"testing"
)

// TestPathMTU puts the internet side's link at MTU 1280 while the LAN and
// the server's link stay at 1500, so the MSS both ends announce (1460) is
// too big for the path. A DF TCP transfer from the LAN completes because
// fwd answers the first oversized segment with frag-needed (MTU 1280) and
// the LAN host's kernel lowers its path MTU; non-DF datagrams are cut to
// 1280 by fwd instead.
func TestPathMTU(t *testing.T) {
	src := edit(t, labTOML(t), "addr = \"203.0.113.2/24\"\nmtu = 1500", "addr = \"203.0.113.2/24\"\nmtu = 1280")
	e := startLab(t, src)
	if out := e.run("upstream", "ip", "link", "show", "br0"); !strings.Contains(out, "mtu 1280") {
		t.Fatalf("the upstream link is not at MTU 1280:\n%s", out)
	}
	if out := e.run("lan-a", "ip", "route", "get", "198.51.100.20"); strings.Contains(out, "mtu") {
		t.Fatalf("lan-a has a path MTU before the transfer:\n%s", out)
	}
	t.Run("DF TCP", func(t *testing.T) {
		from, took := transfer(t, e, "lan-a", 8<<20)
		if !strings.HasPrefix(from, "203.0.113.2:") {
			t.Errorf("the server saw %s", from)
		}
		t.Logf("8 MB in %v", took)
		if out := e.run("lan-a", "ip", "route", "get", "198.51.100.20"); !strings.Contains(out, "mtu 1280") {
			t.Errorf("lan-a did not learn the path MTU 1280 from fwd's frag-needed:\n%s", out)
		}
	})
	t.Run("non-DF UDP", func(t *testing.T) {
		udpLarge(t, e, "lan-b", 3000)
	})
}
