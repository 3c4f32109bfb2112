package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// offloadTOML is configs/lab.toml with an offload rule in the forward
// chain just before the rule that accepts established traffic, as
// rules/target/offload/README.md suggests.
func offloadTOML(t *testing.T) string {
	t.Helper()
	return edit(t, labTOML(t), "[[filter.forward.rule]]\nct_state = [\"established\", \"related\"]\naction = \"accept\"", `[[filter.forward.rule]]
comment = "established connections take the fast path"
ct_state = ["established"]
action = "offload"

[[filter.forward.rule]]
ct_state = ["established", "related"]
action = "accept"`)
}

// ctEntry returns the fwd conntrack -L line (with -o extended when
// extended) of the TCP connection whose original source port is sport, or
// "" when the table has none.
func (e *env) ctEntry(sport int, extended bool) string {
	e.t.Helper()
	args := []string{"conntrack", "-L", "-p", "tcp", "--sport", strconv.Itoa(sport), "--socket", e.sock}
	if extended {
		args = append(args, "-o", "extended")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, fwdBin, args...).CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "tcp ") || strings.HasPrefix(l, "ipv4 ") {
			lines = append(lines, l)
		}
	}
	var ee *exec.ExitError
	switch {
	case err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1 && len(lines) == 0):
		e.t.Fatalf("fwd %s: %v\n%s", strings.Join(args, " "), err, out)
	case len(lines) > 1:
		e.t.Fatalf("fwd conntrack -L: %d connections from port %d:\n%s", len(lines), sport, out)
	case len(lines) == 0:
		return ""
	}
	return lines[0]
}

// ctCounters is the packets= and bytes= fields of an extended line.
func ctCounters(line string) string {
	var cs []string
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "packets=") || strings.HasPrefix(f, "bytes=") {
			cs = append(cs, f)
		}
	}
	return strings.Join(cs, " ")
}

// quiet waits until the connection from sport has carried no packet for
// half a second (a delayed ACK, or the kernel's window update, may still
// be on its way after the last read), and returns its line.
func (e *env) quiet(sport int) string {
	e.t.Helper()
	last := ctCounters(e.ctEntry(sport, true))
	for range 40 {
		time.Sleep(500 * time.Millisecond)
		now := ctCounters(e.ctEntry(sport, true))
		if now == last && now != "" {
			return e.ctEntry(sport, false)
		}
		last = now
	}
	e.t.Fatalf("the connection from port %d never went quiet: %s", sport, last)
	return ""
}

// metric returns the value of an unlabelled metric of fwd metrics.
func (e *env) metric(name string) uint64 {
	e.t.Helper()
	out := e.fwd("metrics")
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				e.t.Fatalf("fwd metrics: %q: %v", l, err)
			}
			return uint64(f)
		}
	}
	e.t.Fatalf("fwd metrics has no %s:\n%s", name, out)
	return 0
}

// offloadRule returns the packet and byte counters of the forward
// chain's offload rule (FLOWOFFLOAD in fwd rules -v -x).
func (e *env) offloadRule() (pkts, bytes uint64) {
	e.t.Helper()
	out := e.fwd("rules", "-v", "-x")
	var found [][]string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "FLOWOFFLOAD" {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("fwd rules -v -x: %d FLOWOFFLOAD rules, want 1:\n%s", len(found), out)
	}
	var err error
	if pkts, err = strconv.ParseUint(found[0][0], 10, 64); err == nil {
		bytes, err = strconv.ParseUint(found[0][1], 10, 64)
	}
	if err != nil {
		e.t.Fatalf("fwd rules -v -x: FLOWOFFLOAD counters %q: %v", found[0][:2], err)
	}
	return pkts, bytes
}

func localPort(t *testing.T, c net.Conn) int {
	t.Helper()
	a, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("local address %v is not TCP", c.LocalAddr())
	}
	return a.Port
}

// TestOffload: with action = "offload" before the forward chain's
// established accept, a TCP transfer from the LAN through masquerade
// arrives whole; while it is open, fwd conntrack -L shows the connection
// [OFFLOAD], the flowtable counts its packets and the offload rule only
// the first few; its FIN takes it off the fast path. A second connection
// loses [OFFLOAD] on `fwd reload`, keeps working, and gets it back with
// its next packet.
func TestOffload(t *testing.T) {
	e := startLab(t, offloadTOML(t))
	if n := e.metric("fwd_flowtable_packets_total"); n != 0 {
		t.Fatalf("fwd_flowtable_packets_total is %d before any traffic", n)
	}

	// The server hashes what it gets: it says "half\n" after the first
	// half, and the SHA-256 of everything after the client's FIN.
	const half = 512 << 10
	ln, res := hashServer(t, e, half)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.Dial(ctx, "lan-a", "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(90 * time.Second))
	sport := localPort(t, c)
	rng := rand.NewChaCha8([32]byte{4, 5, 6})
	h := sha256.New()
	send := func(n int64) {
		t.Helper()
		if _, err := io.Copy(c, io.TeeReader(io.LimitReader(rng, n), h)); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send(half)
	ack := make([]byte, 5)
	if _, err := io.ReadFull(c, ack); err != nil || string(ack) != "half\n" {
		t.Fatalf("the server's word after the first half: %q, %v", ack, err)
	}

	// Open, after the handshake and half the data: offloaded, masqueraded.
	line := e.ctEntry(sport, false)
	if !strings.Contains(line, " ESTABLISHED src=192.168.1.10 dst=198.51.100.20 ") ||
		!strings.Contains(line, "src=198.51.100.20 dst=203.0.113.2 ") ||
		!strings.Contains(line, "[OFFLOAD]") || strings.Contains(line, "[ASSURED]") {
		t.Errorf("conntrack -L for the open transfer, want ESTABLISHED, masqueraded and [OFFLOAD]:\n%s", line)
	}
	// Conntrack does not see the fast path's packets, but counts them:
	// what the client sent so far, headers included.
	if cs := strings.Fields(ctCounters(e.ctEntry(sport, true))); len(cs) != 4 {
		t.Errorf("conntrack -L -o extended: no counters in %q", cs)
	} else if n, _ := strconv.ParseUint(strings.TrimPrefix(cs[1], "bytes="), 10, 64); n < half {
		t.Errorf("conntrack counts %s in the original direction after %d bytes of data", cs[1], half)
	}
	if n := e.metric("fwd_flowtable_connections"); n < 1 {
		t.Errorf("fwd_flowtable_connections is %d with the transfer open", n)
	}
	fastPkts, fastBytes := e.metric("fwd_flowtable_packets_total"), e.metric("fwd_flowtable_bytes_total")
	ruled, ruledBytes := e.offloadRule()
	t.Logf("after %d KiB: fast path %d packets, %d bytes; offload rule %d packets, %d bytes", half>>10, fastPkts, fastBytes, ruled, ruledBytes)
	if fastPkts == 0 || fastBytes < half/2 {
		t.Errorf("the fast path carried %d packets, %d bytes of the first %d: want most of them", fastPkts, fastBytes, half)
	}
	// The rules saw the handshake's answer, the packet that offloaded the
	// connection and what was in flight with it (at most the initial
	// window); the fast path took the rest.
	if ruled < 2 || ruled*3 > fastPkts || ruledBytes*4 > fastBytes {
		t.Errorf("the offload rule counted %d packets (%d bytes), the fast path %d (%d bytes): the rules should see only the first few", ruled, ruledBytes, fastPkts, fastBytes)
	}

	// The rest, then the client's FIN: the teardown passes the rules.
	send(half)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c)
	r := <-res
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	if r.n != 2*half || r.sum != want || string(got) != want {
		t.Fatalf("server got %d bytes with sha256 %s (told the client %q); sent %d with %s", r.n, r.sum, got, 2*half, want)
	}
	if !strings.HasPrefix(r.from, "203.0.113.2:") {
		t.Errorf("the server saw %s, want fwd's WAN address", r.from)
	}
	c.Close()
	if line := e.ctEntry(sport, false); strings.Contains(line, "[OFFLOAD]") || strings.Contains(line, " ESTABLISHED ") {
		t.Errorf("conntrack -L after the close, want it gone or closing and not [OFFLOAD]:\n%s", line)
	}
	if n, _ := e.offloadRule(); n <= ruled {
		t.Errorf("the offload rule counted %d packets after the teardown, %d before: the FIN should pass the rules", n, ruled)
	}
	if n := e.metric("fwd_flowtable_packets_total"); n <= fastPkts {
		t.Errorf("fwd_flowtable_packets_total %d after the second half, %d after the first", n, fastPkts)
	}

	// A reload of the same file takes a second connection off the fast
	// path; its next packet puts it back.
	serveEcho(t, e, "server", "198.51.100.20:9000")
	ec := dialEcho(t, e, "lan-b", "198.51.100.20:9000")
	esport := localPort(t, ec)
	for i := range 3 {
		ec.check(t, fmt.Sprintf("before the reload %d", i))
	}
	if line := e.quiet(esport); !strings.Contains(line, " ESTABLISHED src=192.168.1.11 ") || !strings.Contains(line, "[OFFLOAD]") {
		t.Fatalf("conntrack -L for the echo connection, want ESTABLISHED and [OFFLOAD]:\n%s", line)
	}
	if msg := e.fwd("reload", "-c", e.cfg); !strings.Contains(msg, "reloaded") {
		t.Fatalf("fwd reload: %s", msg)
	}
	if line := e.ctEntry(esport, false); !strings.Contains(line, " ESTABLISHED ") || strings.Contains(line, "[OFFLOAD]") || !strings.Contains(line, "[ASSURED]") {
		t.Errorf("conntrack -L right after the reload, want ESTABLISHED [ASSURED] and no [OFFLOAD]:\n%s", line)
	}
	if n := e.metric("fwd_flowtable_connections"); n != 0 {
		t.Errorf("fwd_flowtable_connections is %d right after the reload", n)
	}
	before := e.metric("fwd_flowtable_packets_total")
	ec.check(t, "after the reload")
	if line := e.ctEntry(esport, false); !strings.Contains(line, "[OFFLOAD]") {
		t.Errorf("conntrack -L after traffic following the reload, want [OFFLOAD] again:\n%s", line)
	}
	for i := range 3 {
		ec.check(t, fmt.Sprintf("after the reload %d", i))
	}
	if n := e.metric("fwd_flowtable_packets_total"); n <= before {
		t.Errorf("fwd_flowtable_packets_total %d after more echoes, %d before: the connection is not back on the fast path", n, before)
	}
}
