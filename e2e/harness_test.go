package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fwd/config"
	"fwd/lab"
)

// fwdBin is the fwd binary TestMain builds ("" without root).
var fwdBin string

// buildErr is why the build failed; every test then fails with it.
var buildErr error

func TestMain(m *testing.M) {
	var dir string
	if os.Geteuid() == 0 {
		dir, buildErr = os.MkdirTemp("", "fwd-e2e-")
		if buildErr == nil {
			fwdBin = filepath.Join(dir, "fwd")
			gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
			if p, err := exec.LookPath("go"); err == nil {
				gobin = p
			}
			cmd := exec.Command(gobin, "build", "-o", fwdBin, "fwd/cmd/fwd")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build fwd/cmd/fwd: %v\n%s", err, out)
			}
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// labTOML is configs/lab.toml's text.
func labTOML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "lab.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old by new in src, failing the test when old is not there
// exactly once (so an edit of configs/lab.toml cannot silently turn a test
// into a no-op).
func edit(t *testing.T, src, old, new string) string {
	t.Helper()
	if n := strings.Count(src, old); n != 1 {
		t.Fatalf("config edit: %q occurs %d times", old, n)
	}
	return strings.Replace(src, old, new, 1)
}

// env is one running lab with fwd in it.
type env struct {
	*lab.Lab
	t    *testing.T
	dir  string // config and control socket
	sock string
	cfg  string // the running configuration's path

	mu  sync.Mutex
	log bytes.Buffer // fwd's stderr
}

// startLab builds a lab for the configuration src and runs `fwd lab up`
// on it. Cleanup stops fwd and removes the lab's namespaces.
func startLab(t *testing.T, src string) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests need root for network namespaces and TAP devices (CI runs them as root)")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir, err := os.MkdirTemp("", "fwde2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "fwd.sock"), cfg: filepath.Join(dir, "lab.toml")}
	if err := os.WriteFile(e.cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(e.cfg, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// The test's own handle on the lab fwd lab up builds: same name and
	// configuration, so the same namespaces.
	l, err := lab.Plan(cfg, lab.Options{Name: lab.NewName()})
	if err != nil {
		t.Fatal(err)
	}
	e.Lab = l
	cmd := exec.Command(fwdBin, "lab", "up", "-c", e.cfg, "--name", l.Name, "--socket", e.sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.log.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("fwd lab up did not stop within 15 s of SIGTERM; killing it")
			cmd.Process.Kill()
			<-exited
		}
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
		if left, _ := filepath.Glob("/run/netns/" + l.Name + "-*"); len(left) > 0 {
			t.Errorf("namespaces left: %v", left)
		}
		if t.Failed() {
			t.Logf("fwd's log:\n%s", e.logText())
		}
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && sc.Text() == "lab "+l.Name+" is up" {
				said = true
				ready <- nil
			}
		}
		if !said {
			ready <- fmt.Errorf("fwd lab up ended before the lab was up")
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v; its log:\n%s", err, e.logText())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("fwd lab up not ready after 30 s; its log:\n%s", e.logText())
	}
	return e
}

func (e *env) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// run runs a program in host's namespace and returns its output; a failure
// fails the test.
func (e *env) run(host string, name string, args ...string) string {
	e.t.Helper()
	out, err := e.try(host, name, args...)
	if err != nil {
		e.t.Fatalf("%s: %s %s: %v\n%s", host, name, strings.Join(args, " "), err, out)
	}
	return out
}

// try is run that returns the error instead.
func (e *env) try(host string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := e.Command(ctx, host, name, args...).CombinedOutput()
	return string(out), err
}

// fwd runs a fwd command against the lab's control socket.
func (e *env) fwd(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append(args, "--socket", e.sock)
	out, err := exec.CommandContext(ctx, fwdBin, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("fwd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ctStat returns one of fwd conntrack -S's counters.
func (e *env) ctStat(name string) uint64 {
	e.t.Helper()
	out := e.fwd("conntrack", "-S")
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			var n uint64
			if _, err := fmt.Sscan(v, &n); err != nil {
				e.t.Fatalf("conntrack -S: %s: %v", f, err)
			}
			return n
		}
	}
	e.t.Fatalf("conntrack -S has no %s: %s", name, out)
	return 0
}

// readAll reads r to its end or fails the test.
func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
