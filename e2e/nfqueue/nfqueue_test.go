package nfqueue_e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fwd/netio/steer/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }

const (
	serverAddr = "198.51.100.20" // the internet namespace's web server
	lanHost    = "192.168.1.10"
	routerLAN  = "192.168.1.1"
	routerWAN  = "203.0.113.2"
	upstream   = "203.0.113.1"
	steerTable = "fwd_steer"
	bigSize    = 16 << 20
)

// TestNFQueue runs fwd in NFQUEUE mode on a Linux router between a LAN and
// the internet, with configs/nfqueue.toml, and checks what its users see.
func TestNFQueue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, nftables and NFQUEUE (CI runs this as root)")
	}
	for _, tool := range []string{"ip", "nft", "ping", "curl", "python3", "iperf3", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (scripts/packages.txt): %v", tool, err)
		}
	}
	bin := buildFwd(t)

	t.Run("gateway", func(t *testing.T) {
		l := newLab(t, bin)
		fwd := l.startFwd(false)

		// Masquerade: ping and a web page through, and the server sees the
		// router's WAN address, not the LAN host.
		l.mustPing(t, l.lan, serverAddr)
		l.mustPing(t, l.lan, routerLAN) // the input chain lets the LAN ping the gateway
		if got := l.mustCurl(t, l.lan, "http://"+serverAddr+"/index.html"); got != "hello from the internet\n" {
			t.Errorf("page through masquerade = %q", got)
		}
		if log := l.web.output(); !strings.Contains(log, routerWAN+" - - ") || strings.Contains(log, lanHost) {
			t.Errorf("the server should see only %s as the client:\n%s", routerWAN, log)
		}

		// Bulk: 16 MiB from the server. The kernel queues GSO super-packets
		// larger than the MTU; fwd must pass them whole (a frag-needed for
		// each held TCP at a few hundred kbit/s).
		start := time.Now()
		code, out := l.curl(l.lan, "http://"+serverAddr+"/big", "-o", "/dev/null", "-w", "%{size_download}", "-m", "10")
		if code != 0 || out != fmt.Sprint(bigSize) {
			t.Errorf("16 MiB through fwd: curl exit %d, %s bytes after %v", code, out, time.Since(start))
		}
		t.Logf("16 MiB through fwd in %v", time.Since(start))
		// And 16 MiB the other way (iperf3): the original direction, which
		// fwd translates at POSTROUTING (the kernel's offloaded packets
		// get their checksums completed only when fwd changes them).
		l.startIperf3Server()
		start = time.Now()
		if out, err := l.lan.Exec("timeout", "15", "iperf3", "-c", serverAddr, "-n", "16M", "--connect-timeout", "3000"); err != nil {
			t.Errorf("16 MiB upload through fwd: %v", err)
		} else {
			t.Logf("16 MiB upload through fwd in %v:\n%s", time.Since(start), grepLines(out, "receiver"))
		}

		m := l.fwdCmd(t, "metrics", "--socket", fwd.socket)
		if fn := grepLines(m, `fwd_drops_total{reason="frag-needed"}`); fn != `fwd_drops_total{reason="frag-needed"} 0`+"\n" {
			t.Errorf("fwd refused GSO packets as too big: %q\n%s", fn, grepLines(m, "drops"))
		}

		// The reject rule: port 23 has a listener on the server (so only fwd
		// can refuse it), and curl gets a reset at once, not a timeout.
		start = time.Now()
		code, out = l.curl(l.lan, "http://"+serverAddr+":23/index.html")
		if took := time.Since(start); code != 7 || took > 2*time.Second {
			t.Errorf("port 23: curl exit %d after %v (%s); want 7 (connection refused by fwd's reset) at once", code, took, out)
		}
		if strings.Contains(l.telnet.output(), "GET") {
			t.Errorf("the port 23 server was reached:\n%s", l.telnet.output())
		}

		// DNAT: wan0:8080 is the LAN host's web server.
		if got := l.mustCurl(t, l.inet, "http://"+routerWAN+":8080/index.html"); got != "hello from the LAN\n" {
			t.Errorf("page through the port forward = %q", got)
		}
		if log := l.lanWeb.output(); !strings.Contains(log, upstream+" - - ") {
			t.Errorf("the LAN server should see the internet client %s:\n%s", upstream, log)
		}

		// The conntrack table, conntrack -L style.
		ct := l.fwdCmd(t, "conntrack", "-L", "--socket", fwd.socket)
		t.Logf("fwd conntrack -L:\n%s", ct)
		for _, tc := range []struct {
			name string
			want []string
		}{
			{name: "ping, masqueraded", want: []string{"icmp ", "src=" + lanHost + " dst=" + serverAddr + " type=8", "src=" + serverAddr + " dst=" + routerWAN + " type=0"}},
			{name: "http, masqueraded", want: []string{"tcp ", "src=" + lanHost + " dst=" + serverAddr + " sport=", "dport=80 ", "src=" + serverAddr + " dst=" + routerWAN + " sport=80 ", "[ASSURED]"}},
			{name: "port forward", want: []string{"tcp ", "src=" + upstream + " dst=" + routerWAN + " sport=", "dport=8080 ", "src=" + lanHost + " dst=" + upstream + " sport=80 ", "[ASSURED]"}},
		} {
			if !hasLine(ct, tc.want...) {
				t.Errorf("%s: no conntrack entry with %q", tc.name, tc.want)
			}
		}

		// A clean stop removes the steering table.
		l.stopFwd(t, fwd, syscall.SIGTERM)
		if err := fwd.exitErr; err != nil {
			t.Errorf("fwd after SIGTERM: %v\n%s", err, fwd.output())
		}
		if tables := l.r.MustExec(t, "nft", "list", "tables"); strings.Contains(tables, steerTable) {
			t.Errorf("table %s left after a clean stop:\n%s", steerTable, tables)
		}
	})

	t.Run("fail-closed", func(t *testing.T) {
		l := newLab(t, bin)
		fwd := l.startFwd(false)
		l.mustPing(t, l.lan, serverAddr)

		// Killed: the steering table stays (nothing removed it), nobody
		// reads the queues, and without bypass the kernel drops.
		l.stopFwd(t, fwd, syscall.SIGKILL)
		if tables := l.r.MustExec(t, "nft", "list", "tables"); !strings.Contains(tables, steerTable) {
			t.Fatalf("the steering table should outlive a killed fwd:\n%s", tables)
		}
		if l.ping(l.lan, serverAddr) == nil || l.ping(l.lan, routerLAN) == nil {
			t.Errorf("fail_open = false: traffic passed with fwd dead")
		}
		if code, _ := l.curl(l.lan, "http://"+serverAddr+"/index.html", "--connect-timeout", "1"); code == 0 {
			t.Errorf("fail_open = false: a page came through with fwd dead")
		}

		// A new fwd replaces the stale table and traffic flows again.
		fwd = l.startFwd(false)
		l.mustPing(t, l.lan, serverAddr)
		if got := l.mustCurl(t, l.lan, "http://"+serverAddr+"/index.html"); got != "hello from the internet\n" {
			t.Errorf("page after restart = %q", got)
		}
		if out := l.r.MustExec(t, "nft", "list", "table", "inet", steerTable); strings.Count(out, "chain prerouting") != 1 || strings.Contains(out, "bypass") {
			t.Errorf("restarted steering table, want one prerouting chain and no bypass:\n%s", out)
		}
		l.stopFwd(t, fwd, syscall.SIGTERM)
		if tables := l.r.MustExec(t, "nft", "list", "tables"); strings.Contains(tables, steerTable) {
			t.Errorf("table %s left after a clean stop:\n%s", steerTable, tables)
		}
	})

	t.Run("fail-open", func(t *testing.T) {
		l := newLab(t, bin)
		fwd := l.startFwd(true)
		if out := l.r.MustExec(t, "nft", "list", "table", "inet", steerTable); !strings.Contains(out, "bypass") {
			t.Errorf("fail_open = true: the queue rules lack bypass:\n%s", out)
		}
		l.mustPing(t, l.lan, serverAddr)

		// Killed: the kernel bypasses the queues, so the router forwards
		// and answers as if fwd were not there: no filtering and, since
		// the steering table still exempts the traffic from the kernel's
		// conntrack, no NAT either. The internet side gets a route back to
		// the LAN to show the untranslated packets pass.
		l.stopFwd(t, fwd, syscall.SIGKILL)
		l.inet.MustExec(t, "ip", "route", "add", "192.168.1.0/24", "via", routerWAN)
		l.mustPing(t, l.lan, routerLAN)
		l.mustPing(t, l.lan, serverAddr)
		if got := l.mustCurl(t, l.lan, "http://"+serverAddr+"/index.html"); got != "hello from the internet\n" {
			t.Errorf("page with fwd dead = %q", got)
		}
		if log := l.web.output(); !strings.Contains(log, lanHost+" - - ") {
			t.Errorf("with fwd dead the server should see the LAN host itself:\n%s", log)
		}
		if got := l.mustCurl(t, l.lan, "http://"+serverAddr+":23/index.html"); got != "hello from the internet\n" {
			t.Errorf("port 23 with fwd dead (nothing filters) = %q", got)
		}
	})
}

// buildFwd builds cmd/fwd from this checkout into the test's temp dir.
func buildFwd(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "fwd")); err != nil {
		t.Fatalf("repository root not found from the test directory: %v", err)
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	bin := filepath.Join(t.TempDir(), "fwd")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/fwd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/fwd: %v\n%s", err, out)
	}
	return bin
}

// lab is the three namespaces, the web servers and the config.
type lab struct {
	t            *testing.T
	bin, dir     string
	r, lan, inet *nstest.NS
	web, telnet  *proc // the internet's servers on :80 and :23
	lanWeb       *proc // the LAN host's server on :80
	fwdStarts    int
}

func newLab(t *testing.T, bin string) *lab {
	l := &lab{t: t, bin: bin, dir: t.TempDir()}
	l.r, l.lan, l.inet = nstest.New(t), nstest.New(t), nstest.New(t)
	// The veths are made in their namespaces, never in the host's.
	l.r.MustExec(t, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", l.lan.Name)
	l.r.MustExec(t, "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", l.inet.Name)
	for _, c := range [][]string{
		{"ip", "addr", "add", routerLAN + "/24", "dev", "lan0"},
		{"ip", "addr", "add", routerWAN + "/24", "dev", "wan0"},
		{"ip", "link", "set", "lan0", "up"},
		{"ip", "link", "set", "wan0", "up"},
		{"ip", "route", "add", "default", "via", upstream},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		l.r.MustExec(t, c[0], c[1:]...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", lanHost + "/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
	} {
		l.lan.MustExec(t, c[0], c[1:]...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", upstream + "/24", "dev", "eth0"},
		{"ip", "addr", "add", serverAddr + "/32", "dev", "lo"},
		{"ip", "link", "set", "eth0", "up"},
	} {
		l.inet.MustExec(t, c[0], c[1:]...)
	}

	inetDir, lanDir := filepath.Join(l.dir, "inet"), filepath.Join(l.dir, "lan")
	for dir, body := range map[string]string{inetDir: "hello from the internet\n", lanDir: "hello from the LAN\n"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(inetDir, "big"), make([]byte, bigSize), 0o644); err != nil {
		t.Fatal(err)
	}
	l.web = l.httpServer(l.inet, serverAddr, "80", inetDir)
	l.telnet = l.httpServer(l.inet, serverAddr, "23", inetDir)
	l.lanWeb = l.httpServer(l.lan, lanHost, "80", lanDir)
	// Only now the LAN's default route: python's server looks its own
	// address up in DNS when it binds (socket.getfqdn), which with a route
	// out would wait for the host's resolver through the router.
	l.lan.MustExec(t, "ip", "route", "add", "default", "via", routerLAN)
	return l
}

// httpServer starts python3's web server in ns and waits until it answers
// there.
func (l *lab) httpServer(ns *nstest.NS, addr, port, dir string) *proc {
	t := l.t
	p := startProc(t, ns, []string{"PYTHONUNBUFFERED=1"}, "python3", "-m", "http.server", port, "--bind", addr, "--directory", dir)
	url := "http://" + addr + ":" + port + "/index.html"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := l.curl(ns, url, "-m", "1"); code == 0 {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("web server %s in %s did not come up:\n%s", url, ns.Name, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.reset() // forget the readiness probe's log line
	return p
}

// startIperf3Server starts iperf3's server on the internet's server
// address and waits until it listens.
func (l *lab) startIperf3Server() {
	t := l.t
	p := startProc(t, l.inet, nil, "iperf3", "-s", "-B", serverAddr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, _ := l.inet.Exec("ss", "-Htln", "sport = :5201"); strings.Contains(out, serverAddr) {
			return
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("iperf3 server did not come up:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fwdProc is one run of fwd.
type fwdProc struct {
	*proc
	socket string
}

// startFwd runs fwd with configs/nfqueue.toml (fail_open set as asked) in
// the router and waits until it has installed its steering table.
func (l *lab) startFwd(failOpen bool) *fwdProc {
	t := l.t
	t.Helper()
	l.fwdStarts++
	src, err := os.ReadFile(filepath.Join("..", "..", "configs", "nfqueue.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	const key = "\nfail_open = false"
	if !strings.Contains(cfg, key) {
		t.Fatalf("configs/nfqueue.toml has no %q line to adjust", strings.TrimSpace(key))
	}
	cfg = strings.Replace(cfg, key, fmt.Sprintf("\nfail_open = %v", failOpen), 1)
	path := filepath.Join(l.dir, fmt.Sprintf("nfqueue-%d.toml", l.fwdStarts))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fwdProc{socket: filepath.Join(l.dir, "fwd.sock")}
	f.proc = startProc(t, l.r, nil, l.bin, "run", "-c", path, "--socket", f.socket)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.output(), "steering installed") {
		if time.Now().After(deadline) || f.exited() {
			t.Fatalf("fwd did not install its steering table:\n%s", f.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

// stopFwd signals fwd and waits for it to exit.
func (l *lab) stopFwd(t *testing.T, f *fwdProc, sig syscall.Signal) {
	t.Helper()
	f.cmd.Process.Signal(sig)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("fwd did not exit on %v:\n%s", sig, f.output())
	}
	t.Logf("fwd stopped by %v: %v; its log:\n%s", sig, f.exitErr, f.output())
}

// fwdCmd runs a fwd client command in the router.
func (l *lab) fwdCmd(t *testing.T, args ...string) string {
	t.Helper()
	return l.r.MustExec(t, l.bin, args...)
}

func (l *lab) ping(ns *nstest.NS, addr string) error {
	_, err := ns.Exec("ping", "-n", "-c", "1", "-W", "1", addr)
	return err
}

func (l *lab) mustPing(t *testing.T, ns *nstest.NS, addr string) {
	t.Helper()
	// One retry: the first packet of a flow may race a neighbour lookup.
	if err := l.ping(ns, addr); err != nil {
		if err2 := l.ping(ns, addr); err2 != nil {
			t.Errorf("ping %s from %s: %v", addr, ns.Name, err)
		}
	}
}

// curl fetches url from ns; it returns curl's exit code and its output.
func (l *lab) curl(ns *nstest.NS, url string, extra ...string) (int, string) {
	args := append([]string{"netns", "exec", ns.Name, "curl", "-sS", "--noproxy", "*", "-m", "3"}, extra...)
	cmd := exec.Command("ip", append(args, url)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	default:
		return -1, err.Error()
	}
}

func (l *lab) mustCurl(t *testing.T, ns *nstest.NS, url string) string {
	t.Helper()
	code, out := l.curl(ns, url)
	if code != 0 {
		t.Errorf("curl %s from %s: exit %d: %s", url, ns.Name, code, out)
	}
	return out
}

// proc is a background command in a namespace, killed at cleanup.
type proc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	buf     bytes.Buffer
	done    chan struct{}
	exitErr error
}

func startProc(t *testing.T, ns *nstest.NS, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	// ip netns exec execs the command: the process is the command itself.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	// Registered after the namespace's own cleanup, so it runs first.
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *proc) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Reset()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// hasLine reports whether one line of out contains every one of want.
func hasLine(out string, want ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// grepLines returns the lines of out that contain s.
func grepLines(out, s string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
