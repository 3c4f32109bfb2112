package nstest_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"fwd/netio/steer/nstest"
)

// TestMain fails the run if a test leaves a namespace behind.
func TestMain(m *testing.M) { nstest.Main(m) }

// TestNamespace makes a namespace, checks it has only lo (up), that a
// socket made by Do lives inside it and Exec runs there, and that
// cleanup removes it.
func TestNamespace(t *testing.T) {
	var name string
	t.Run("inside", func(t *testing.T) {
		ns := nstest.New(t)
		name = ns.Name
		if !strings.HasPrefix(name, "fwdtest-") {
			t.Errorf("name %q", name)
		}
		if _, err := os.Stat("/run/netns/" + name); err != nil {
			t.Fatalf("namespace file: %v", err)
		}
		if ns.FD() < 0 {
			t.Errorf("FD %d", ns.FD())
		}

		links := ns.MustExec(t, "ip", "-o", "link", "show")
		if n := strings.Count(strings.TrimSpace(links), "\n") + 1; n != 1 || !strings.Contains(links, "lo:") || !strings.Contains(links, "UP") {
			t.Errorf("links in the namespace (want only lo, up):\n%s", links)
		}
		if out, err := ns.Exec("ip", "link", "show", "no-such-link"); err == nil {
			t.Errorf("Exec of a failing command returned no error: %s", out)
		}

		// Do runs on a thread inside: it sees only lo.
		var ifs []string
		if err := ns.Do(func() error {
			l, err := net.Interfaces()
			for _, i := range l {
				ifs = append(ifs, i.Name)
			}
			return err
		}); err != nil || len(ifs) != 1 || ifs[0] != "lo" {
			t.Errorf("interfaces seen by Do: %v (err %v), want [lo]", ifs, err)
		}

		// A listener made by Do stays inside, whatever goroutine uses
		// it: a client inside reaches it, one outside does not.
		var l net.Listener
		if err := ns.Do(func() (err error) {
			l, err = net.Listen("tcp", "127.0.0.1:0")
			return err
		}); err != nil {
			t.Fatalf("Do: %v", err)
		}
		defer l.Close()
		accepted := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
		if err := ns.Do(func() error {
			c, err := net.Dial("tcp", l.Addr().String())
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Errorf("dial from inside: %v", err)
		}
		if err := <-accepted; err != nil {
			t.Errorf("accept: %v", err)
		}
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
			t.Errorf("dial from outside reached the namespace's listener at %s", l.Addr())
		}
	})
	if name == "" {
		return // skipped: not root
	}
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s is still there after cleanup (stat: %v)", name, err)
	}
}

// TestNames: namespaces made in one run have distinct names.
func TestNames(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	if a.Name == b.Name {
		t.Errorf("two namespaces named %s", a.Name)
	}
}
