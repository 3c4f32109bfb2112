package e2e

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNATFiltering: [nat_behavior] filtering through the running daemon.
// A LAN host's UDP socket talks to the server's port 7007, which gives it
// a mapping on fwd's WAN address. Under the default address-and-port-
// dependent filtering, a datagram from another port of the server to
// that mapping is dropped; after `fwd reload` of the file with
// filtering = "endpoint-independent" (RFC 4787 REQ-8), the same datagram
// reaches the LAN host through the mapping.
func TestNATFiltering(t *testing.T) {
	src := edit(t, labTOML(t), "[[filter.forward.rule]]\naction = \"log\"", `[[filter.forward.rule]]
comment = "what NAT admitted to a mapping"
in = "wan0"
proto = "udp"
ct_state = ["new"]
ct_status = "dnat"
action = "accept"

[[filter.forward.rule]]
action = "log"`)
	e := startLab(t, src)
	lan, err := e.ListenPacket("lan-a", "udp4", "192.168.1.10:40000")
	if err != nil {
		t.Fatal(err)
	}
	defer lan.Close()
	srv, err := e.ListenPacket("server", "udp4", "198.51.100.20:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, err := e.ListenPacket("server", "udp4", "198.51.100.20:7008")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	// The LAN host's datagram makes the mapping; the server sees it.
	server := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.51.100.20:7007"))
	if _, err := lan.WriteTo([]byte("hello"), server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, mapped, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || !strings.HasPrefix(mapped.String(), "203.0.113.2:") {
		t.Fatalf("server got %q from %v, %v", buf[:n], mapped, err)
	}

	// recv reports what the LAN socket gets within d.
	recv := func(d time.Duration) (string, string) {
		lan.SetReadDeadline(time.Now().Add(d))
		n, from, err := lan.ReadFrom(buf)
		if err != nil {
			return "", ""
		}
		return string(buf[:n]), from.String()
	}
	if _, err := other.WriteTo([]byte("stranger 1"), mapped); err != nil {
		t.Fatal(err)
	}
	if got, from := recv(time.Second); got != "" {
		t.Fatalf("address-and-port-dependent filtering let %q in from %s", got, from)
	}

	edited := filepath.Join(e.dir, "eif.toml")
	if err := os.WriteFile(edited, []byte(src+"\n[nat_behavior]\nfiltering = \"endpoint-independent\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := e.fwd("reload", "-c", edited); !strings.Contains(msg, "reloaded") {
		t.Fatalf("fwd reload: %s", msg)
	}
	// The LAN host keeps its mapping alive, then the stranger tries again.
	if _, err := lan.WriteTo([]byte("still here"), server); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteTo([]byte("stranger 2"), mapped); err != nil {
		t.Fatal(err)
	}
	if got, from := recv(5 * time.Second); got != "stranger 2" || from != "198.51.100.20:7008" {
		t.Fatalf("endpoint-independent filtering: the LAN host got %q from %q, want \"stranger 2\" from the server's port 7008", got, from)
	}
}
