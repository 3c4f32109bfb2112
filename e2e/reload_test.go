package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveEcho echoes lines on addr in host's namespace.
func serveEcho(t *testing.T, e *env, host, addr string) {
	t.Helper()
	ln, err := e.Listen(host, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "echo %s\n", sc.Text())
				}
			}()
		}
	}()
}

// echoConn is a connection to an echo server.
type echoConn struct {
	net.Conn
	r *bufio.Reader
}

func dialEcho(t *testing.T, e *env, host, addr string) *echoConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.Dial(ctx, host, "tcp4", addr)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", host, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *echoConn) check(t *testing.T, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		t.Fatalf("%s: send %q: %v", c.RemoteAddr(), msg, err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil || got != "echo "+msg+"\n" {
		t.Fatalf("%s: answer to %q: %q, %v", c.RemoteAddr(), msg, got, err)
	}
}

// TestReload: connections through masquerade and through the port forward
// keep working across `fwd reload` of an edited configuration, whose new
// rule is in force at once; a broken configuration is refused and changes
// nothing.
func TestReload(t *testing.T) {
	src := labTOML(t)
	e := startLab(t, src)
	serveEcho(t, e, "server", "198.51.100.20:9000")
	serveEcho(t, e, "server", "198.51.100.20:2323")
	serveEcho(t, e, "lan-a", "192.168.1.10:80")
	out := dialEcho(t, e, "lan-a", "198.51.100.20:9000")
	in := dialEcho(t, e, "server", "203.0.113.2:8080")
	out.check(t, "out before")
	in.check(t, "in before")
	dialEcho(t, e, "lan-b", "198.51.100.20:2323").check(t, "2323 before")

	// A broken file is refused; the running configuration stays.
	bad := filepath.Join(e.dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(edit(t, src, "dport = 23\n", "dport = \"telnet\"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(fwdBin, "reload", "-c", bad, "--socket", e.sock).CombinedOutput(); err == nil {
		t.Errorf("a broken configuration was loaded:\n%s", msg)
	}
	out.check(t, "out after refusal")

	// Reject 2323 instead of 23.
	edited := filepath.Join(e.dir, "edited.toml")
	if err := os.WriteFile(edited, []byte(edit(t, src, "dport = 23\n", "dport = 2323\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := e.fwd("reload", "-c", edited); !strings.Contains(msg, "reloaded") {
		t.Errorf("fwd reload: %s", msg)
	}
	out.check(t, "out after reload")
	in.check(t, "in after reload")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := e.Dial(ctx, "lan-b", "tcp4", "198.51.100.20:2323"); err == nil {
		c.Close()
		t.Error("2323 still connects after the reload that rejects it")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("2323 after the reload: %v, want connection refused", err)
	}
	if rules := e.fwd("rules", "-v"); !strings.Contains(rules, "dpt:2323") {
		t.Errorf("fwd rules -v does not show the new rule:\n%s", rules)
	}
	ct := e.fwd("conntrack", "-L", "-p", "tcp", "--state", "ESTABLISHED")
	for _, want := range []string{"dport=9000", "dport=8080"} {
		if !strings.Contains(ct, want) {
			t.Errorf("no established %s connection after the reload:\n%s", want, ct)
		}
	}
}
