package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPing: fwd answers echo to its own address, and forwards echo to the
// server through masquerade, decrementing the TTL (two routers: 64-2).
func TestPing(t *testing.T) {
	e := startLab(t, labTOML(t))
	out := e.run("lan-a", "ping", "-c", "3", "-i", "0.2", "-w", "10", "192.168.1.1")
	if !strings.Contains(out, "from 192.168.1.1: icmp_seq=1 ttl=64") || !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping the gateway:\n%s", out)
	}
	for _, host := range []string{"lan-a", "lan-b"} {
		out = e.run(host, "ping", "-c", "3", "-i", "0.2", "-w", "10", "198.51.100.20")
		if !strings.Contains(out, "from 198.51.100.20: icmp_seq=1 ttl=62") || !strings.Contains(out, " 0% packet loss") {
			t.Errorf("%s: ping the server:\n%s", host, out)
		}
	}
	// The server saw fwd's WAN address, as the table says.
	ct := e.fwd("conntrack", "-L", "-p", "icmp", "-s", "192.168.1.11")
	if !strings.Contains(ct, "src=198.51.100.20 dst=203.0.113.2 type=0") {
		t.Errorf("conntrack -L: no masqueraded echo from lan-b:\n%s", ct)
	}
	// The LAN cannot ping the upstream router's far side without fwd
	// either: nothing routes the LAN but fwd.
	if out, err := e.try("upstream", "ping", "-c", "1", "-W", "1", "192.168.1.10"); err == nil {
		t.Errorf("the upstream router reached the LAN directly:\n%s", out)
	}
}

// TestUDP: request and response through masquerade; the server sees fwd's
// WAN address, and the LAN host gets every answer.
func TestUDP(t *testing.T) {
	e := startLab(t, labTOML(t))
	pc, err := e.ListenPacket("server", "udp4", "198.51.100.20:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	seen := make(chan string, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case seen <- from.String():
			default:
			}
			pc.WriteTo(append([]byte("re: "), buf[:n]...), from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.Dial(ctx, "lan-a", "udp4", "198.51.100.20:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for i := range 5 {
		msg := fmt.Sprintf("request %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("answer to %q: %v", msg, err)
		}
		if got := string(buf[:n]); got != "re: "+msg {
			t.Errorf("answer %q, want %q", got, "re: "+msg)
		}
		if from := <-seen; !strings.HasPrefix(from, "203.0.113.2:") {
			t.Errorf("the server saw %s, want fwd's WAN address 203.0.113.2", from)
		}
	}
	ct := e.fwd("conntrack", "-L", "-p", "udp", "--dport", "7007")
	if !strings.Contains(ct, "src=192.168.1.10 dst=198.51.100.20") || !strings.Contains(ct, "src=198.51.100.20 dst=203.0.113.2 sport=7007") {
		t.Errorf("conntrack -L:\n%s", ct)
	}
}

// transfer sends size pseudo-random bytes from host to the server over TCP
// and checks the server's SHA-256 of them against the sender's. It returns
// the address the server saw and how long it took.
func transfer(t *testing.T, e *env, host string, size int) (string, time.Duration) {
	t.Helper()
	ln, res := hashServer(t, e, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.Dial(ctx, host, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(90 * time.Second))
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	h := sha256.New()
	start := time.Now()
	if _, err := io.Copy(c, io.TeeReader(io.LimitReader(rng, int64(size)), h)); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	got := readAll(t, c)
	took := time.Since(start)
	r := <-res
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	if r.n != int64(size) || r.sum != want || string(got) != want {
		t.Fatalf("server got %d bytes with sha256 %s (told the client %q); sent %d with %s", r.n, r.sum, got, size, want)
	}
	return r.from, took
}

// hashResult is what hashServer's connection saw.
type hashResult struct {
	from, sum string
	n         int64
	err       error
}

// hashServer listens on the server and hashes what its one connection
// sends: with half > 0 it writes "half\n" after that many bytes, then at
// the client's FIN the SHA-256 (hex) of everything, and reports on the
// channel. The listener closes with the test.
func hashServer(t *testing.T, e *env, half int64) (net.Listener, <-chan hashResult) {
	t.Helper()
	ln, err := e.Listen("server", "tcp4", "198.51.100.20:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	res := make(chan hashResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- hashResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(90 * time.Second))
		h := sha256.New()
		var n int64
		if half > 0 {
			n, err = io.CopyN(h, c, half)
			if err == nil {
				_, err = io.WriteString(c, "half\n")
			}
		}
		if err == nil {
			var m int64
			m, err = io.Copy(h, c)
			n += m
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if err == nil {
			_, err = io.WriteString(c, sum)
		}
		res <- hashResult{from: c.RemoteAddr().String(), sum: sum, n: n, err: err}
	}()
	return ln, res
}

// TestTCPTransfer: 100 MB from a LAN host to the server through SNAT,
// checked by SHA-256 on both ends.
func TestTCPTransfer(t *testing.T) {
	e := startLab(t, labTOML(t))
	const size = 100 << 20
	from, took := transfer(t, e, "lan-a", size)
	if !strings.HasPrefix(from, "203.0.113.2:") {
		t.Errorf("the server saw %s, want fwd's WAN address", from)
	}
	t.Logf("%d MB in %v (%.2f Gbit/s)", size>>20, took.Round(time.Millisecond), float64(size)*8/took.Seconds()/1e9)
}

// serveHTTP serves "hello from NAME; you came from ADDR" in host's
// namespace on addr.
func serveHTTP(t *testing.T, e *env, host, addr string) {
	t.Helper()
	ln, err := e.Listen(host, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s; you came from %s", host, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// get fetches url from host's namespace.
func get(e *env, host, url string) (string, error) {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return e.Dial(ctx, host, network, addr)
		},
		DisableKeepAlives: true,
	}}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestDNAT: the published port 8080 on fwd's WAN address reaches lan-a's
// web server from the internet side, with the client's own address; an
// unpublished port does not.
func TestDNAT(t *testing.T) {
	e := startLab(t, labTOML(t))
	serveHTTP(t, e, "lan-a", "192.168.1.10:80")
	serveHTTP(t, e, "lan-b", "192.168.1.11:80")
	for _, host := range []string{"server", "upstream"} {
		body, err := get(e, host, "http://203.0.113.2:8080/")
		if err != nil {
			t.Fatalf("%s: GET 203.0.113.2:8080: %v", host, err)
		}
		h, _ := e.Host(host)
		if want := "hello from lan-a; you came from " + h.Addr.String() + ":"; !strings.HasPrefix(body, want) {
			t.Errorf("%s: got %q, want %q...", host, body, want)
		}
	}
	ct := e.fwd("conntrack", "-L", "-p", "tcp", "--dst-nat")
	if !strings.Contains(ct, "dst=203.0.113.2 sport=") || !strings.Contains(ct, "dport=8080 src=192.168.1.10") {
		t.Errorf("conntrack -L --dst-nat:\n%s", ct)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := e.Dial(ctx, "server", "tcp4", "203.0.113.2:80"); err == nil {
		c.Close()
		t.Error("port 80 of fwd's WAN address is open; only 8080 is published")
	}
}

// TestTraceroute: fwd is hop 1 (time exceeded from 192.168.1.1), the
// upstream router hop 2, the server the last.
func TestTraceroute(t *testing.T) {
	e := startLab(t, labTOML(t))
	for _, mode := range [][]string{nil, {"-I"}} {
		args := append([]string{"-n", "-N", "1", "-q", "1", "-w", "3", "-m", "5"}, mode...)
		out := e.run("lan-a", "traceroute", append(args, "198.51.100.20")...)
		var hops []string
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) >= 2 {
				hops = append(hops, f[1])
			}
		}
		want := []string{"192.168.1.1", "203.0.113.1", "198.51.100.20"}
		if strings.Join(hops, " ") != strings.Join(want, " ") {
			t.Errorf("traceroute %v: hops %v, want %v\n%s", mode, hops, want, out)
		}
	}
}

// TestRejectTelnet: the forward chain rejects telnet out of the LAN with a
// TCP reset, so the client hears "connection refused" at once instead of
// timing out; the rule's counter moves. Reloaded to reject with ICMP
// admin-prohibited, the client hears "no route to host".
func TestRejectTelnet(t *testing.T) {
	e := startLab(t, labTOML(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	c, err := e.Dial(ctx, "lan-b", "tcp4", "198.51.100.20:23")
	if err == nil {
		c.Close()
		t.Fatal("telnet to the server connected")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial :23: %v, want connection refused", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refused after %v: the reset should come at once", took)
	}
	rules := e.fwd("rules", "-v", "-x")
	var line string
	for _, l := range strings.Split(rules, "\n") {
		if strings.Contains(l, "REJECT") && strings.Contains(l, "dpt:23") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) == 0 || f[0] == "0" || !strings.Contains(line, "tcp-reset") {
		t.Errorf("the reject rule's counter did not move: %q\n%s", line, rules)
	}

	// Rejected with ICMP admin-prohibited instead, the client hears "no
	// route to host" (Linux maps code 13 to EHOSTUNREACH), also at once.
	edited := filepath.Join(e.dir, "prohibited.toml")
	src := edit(t, labTOML(t), "reject_with = \"tcp-reset\"", "reject_with = \"icmp-admin-prohibited\"")
	if err := os.WriteFile(edited, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e.fwd("reload", "-c", edited)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	start = time.Now()
	c, err = e.Dial(ctx2, "lan-b", "tcp4", "198.51.100.20:23")
	if err == nil {
		c.Close()
		t.Fatal("telnet to the server connected")
	}
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("dial :23 after the reload: %v, want no route to host", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("unreachable after %v: the ICMP error should come at once", took)
	}
}

// dontFragment makes a UDP socket send without DF (IP_PMTUDISC_DONT), so
// the kernel fragments large datagrams and routers may too.
func dontFragment(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DONT)
	})
	if err != nil {
		return err
	}
	return serr
}

// udpLarge sends non-DF datagrams of size bytes from host to the server
// and back, and checks they arrive whole both ways.
func udpLarge(t *testing.T, e *env, host string, size int) {
	t.Helper()
	var pc net.PacketConn
	err := e.Do("server", func() (err error) {
		lc := net.ListenConfig{Control: dontFragment}
		pc, err = lc.ListenPacket(context.Background(), "udp4", "198.51.100.20:7008")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan []byte, 8)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- bytes.Clone(buf[:n])
			pc.WriteTo(buf[:n], from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.DialWith(ctx, &net.Dialer{Control: dontFragment}, host, "udp4", "198.51.100.20:7008")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for i := range 3 {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		copy(msg, fmt.Sprintf("datagram %d", i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if !bytes.Equal(b, msg) {
				t.Fatalf("datagram %d reached the server as %d bytes, want %d whole", i, len(b), size)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("datagram %d (%d bytes) never reached the server", i, size)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("echo of datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo of datagram %d came back as %d bytes, want %d whole", i, n, size)
		}
	}
}

// TestFragmentedUDP: non-DF datagrams of 3000 bytes cross fwd whole both
// ways: fwd reassembles the LAN host's fragments (conntrack and NAT need
// the whole datagram) and fragments again for the WAN, and the reverse.
func TestFragmentedUDP(t *testing.T) {
	e := startLab(t, labTOML(t))
	udpLarge(t, e, "lan-a", 3000)
}
