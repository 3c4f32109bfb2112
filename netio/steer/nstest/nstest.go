// Package nstest makes network namespaces for tests that need a kernel:
// each test gets a fresh, uniquely named namespace (with only lo, and no
// route out), removed by t.Cleanup even when the test fails.
//
// Code runs inside a namespace in two ways: sockets made by Do stay in
// the namespace for their whole life, whatever thread later uses them;
// Exec runs a command there (ip netns exec). Netlink sockets take the
// namespace's file descriptor (FD) instead (netlink.Config.NetNS,
// nftables.WithNetNSFd).
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var seq atomic.Uint32

// NS is one test namespace.
type NS struct {
	Name string
	f    *os.File
}

// New creates a namespace named fwdtest-PID-N with lo up. The test is
// skipped (with the reason) when not run as root.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (CI runs these tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("needs iproute2 (scripts/packages.txt): %v", err)
	}
	name := fmt.Sprintf("fwdtest-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name}
	t.Cleanup(func() {
		if n.f != nil {
			n.f.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatalf("open namespace: %v", err)
	}
	n.f = f
	n.MustExec(t, "ip", "link", "set", "lo", "up")
	return n
}

// FD returns a file descriptor of the namespace, valid until cleanup.
func (n *NS) FD() int { return int(n.f.Fd()) }

// Exec runs a command inside the namespace and returns its combined output.
func (n *NS) Exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustExec is Exec that fails the test on error.
func (n *NS) MustExec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Exec(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Main runs the tests of a package (call it from TestMain) and then fails
// the run if any namespace this process made is still there: cleanup must
// hold even when tests fail.
func Main(m *testing.M) {
	code := m.Run()
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		prefix := fmt.Sprintf("fwdtest-%d-", os.Getpid())
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, prefix) {
				fmt.Fprintf(os.Stderr, "nstest: namespace left behind: %s\n", line)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Do runs fn on an OS thread switched into the namespace. Sockets fn
// creates belong to the namespace. The thread is thrown away afterwards
// (its goroutine exits locked), so no other goroutine ever runs in the
// wrong namespace.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends the thread with the goroutine.
		if err := unix.Setns(n.FD(), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
