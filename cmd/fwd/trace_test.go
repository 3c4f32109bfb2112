package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"fwd/ctl"
	"fwd/packet"
	"fwd/pipeline"
)

// traceClient runs `fwd trace` against sock until it ends by itself or
// the test stops it.
type traceClient struct {
	lines  chan string
	done   chan int
	stderr *syncBuffer
	cancel func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startTrace(t *testing.T, d *daemon, sock string, args ...string) *traceClient {
	t.Helper()
	pr, pw := io.Pipe()
	c := &traceClient{lines: make(chan string, 10000), done: make(chan int, 1), stderr: &syncBuffer{}}
	before := subscribers(d)
	go func() {
		code := runMain(append([]string{"trace", "--socket", sock}, args...), pw, c.stderr)
		pw.Close()
		c.done <- code
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	c.cancel = func() { pr.Close() }
	// Wait until the daemon has the subscription, so no packet is missed.
	deadline := time.Now().Add(10 * time.Second)
	for subscribers(d) == before {
		if time.Now().After(deadline) {
			t.Fatalf("trace %v never subscribed; stderr: %s", args, c.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

func subscribers(d *daemon) int {
	v, ok := tracers.Load(d)
	if !ok {
		return 0
	}
	tr := v.(*tracer)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.subs)
}

// collect reads lines until the client ends (it must, within the time).
func (c *traceClient) collect(t *testing.T) ([]string, int) {
	t.Helper()
	var out []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				select {
				case code := <-c.done:
					return out, code
				case <-timeout:
					t.Fatal("fwd trace did not exit")
				}
			}
			out = append(out, l)
		case <-timeout:
			t.Fatalf("fwd trace did not end; so far:\n%s", strings.Join(out, "\n"))
		}
	}
}

func sendPkt(d *daemon, r *pipeline.Runner, b []byte, in int16) {
	p := d.env.Pool.Get()
	p.Load(b)
	p.InIf = in
	r.Run([]*packet.Packet{p})
}

func TestTrace(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	r := d.pl.NewRunner(discardSink{d.env.Pool})
	if d.pl.TraceFilter.Load() != nil {
		t.Fatal("a trace filter is installed with no client: the datapath pays for nothing")
	}
	c := startTrace(t, d, sock, "-p", "tcp", "-s", "192.168.1.10", "--dport", "80", "--count", "1")
	// Not matching: another host, another port, another protocol.
	sendPkt(d, r, tcpPkt(lanB, server, 41000, 80, "S", 1, 0, ""), 0)
	sendPkt(d, r, tcpPkt(lanA, server, 41000, 443, "S", 1, 0, ""), 0)
	sendPkt(d, r, udpPkt(lanA, server, 41000, 80, "x"), 0)
	// Matching: a new connection out of the LAN, masqueraded.
	sendPkt(d, r, tcpPkt(lanA, server, 41001, 80, "S", 1, 0, ""), 0)
	// After --count packets nothing more is traced.
	sendPkt(d, r, tcpPkt(lanA, server, 41002, 80, "S", 1, 0, ""), 0)
	lines, code := c.collect(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, c.stderr.String())
	}
	text := strings.Join(lines, "\n")
	id := strings.Fields(lines[0])[2]
	for _, l := range lines {
		if !strings.HasPrefix(l, "trace id "+id+" ") {
			t.Errorf("line of another packet (only one was to be traced): %q", l)
		}
	}
	want := []string{
		`packet: iif "lan0" ip saddr 192.168.1.10 ip daddr 198.51.100.20 ip ttl 64 ip id 1 ip length 52 tcp sport 41001 tcp dport 80 tcp flags == syn`,
		"prerouting parse continue",
		"prerouting conntrack continue: ct state new ct direction original; new",
		"prerouting rules.nat continue: nat prerouting; prerouting policy (verdict accept)",
		"forward rules.filter continue: filter forward; rule forward:4 at ../../configs/lab.toml:111:1 accept (verdict accept)",
		`postrouting rules.nat continue: nat postrouting; rule postrouting:1 "hide the LAN behind the WAN address" at ../../configs/lab.toml:70:1 masquerade (verdict accept)`,
		"snat ip saddr 192.168.1.10 => 203.0.113.2",
		`verdict accept oif "wan0" ip saddr 203.0.113.2 ip daddr 198.51.100.20 ip ttl 63`,
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("trace lacks %q:\n%s", w, text)
		}
	}
	// One line per stage, in pipeline order, then the verdict.
	if !strings.HasSuffix(lines[len(lines)-1], ")") || !strings.Contains(lines[len(lines)-1], "verdict accept") {
		t.Errorf("last line %q is not the final verdict", lines[len(lines)-1])
	}
	if !strings.Contains(c.stderr.String(), "1 packets traced") {
		t.Errorf("stderr %q", c.stderr.String())
	}
	if d.pl.TraceFilter.Load() != nil {
		t.Error("the trace filter stays installed after the last client left")
	}
}

// A dropped packet shows the rule that dropped it, with its line, and the
// reason; -i and --reply select by interface and direction.
func TestTraceDropAndReply(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	r := d.pl.NewRunner(discardSink{d.env.Pool})
	c := startTrace(t, d, sock, "-p", "tcp", "-i", "lan0", "--dport", "23", "--count", "1")
	sendPkt(d, r, tcpPkt(lanA, server, 41000, 23, "S", 1, 0, ""), 1) // wrong interface
	sendPkt(d, r, tcpPkt(lanA, server, 41000, 23, "S", 1, 0, ""), 0)
	lines, code := c.collect(t)
	text := strings.Join(lines, "\n")
	if code != 0 || !strings.Contains(text, `rule forward:3 "no telnet out of the LAN (a demo of reject)" at ../../configs/lab.toml:`) ||
		!strings.Contains(text, "forward rules.filter reject reason reject") || !strings.HasSuffix(text, "verdict reject reason reject") {
		t.Errorf("exit %d:\n%s", code, text)
	}
	if n := strings.Count(text, "packet: "); n != 1 {
		t.Errorf("%d packets traced, want 1 (the one from lan0)", n)
	}

	// --reply follows the answers too: a UDP query and its reply.
	c = startTrace(t, d, sock, "-p", "udp", "-s", "192.168.1.11", "--dport", "53", "--reply", "--count", "2")
	sendPkt(d, r, udpPkt(server, wanIP, 53, 5399, "a"), 1) // no flow yet: not an answer
	sendPkt(d, r, udpPkt(lanB, server, 5399, 53, "q"), 0)
	sendPkt(d, r, udpPkt(server, wanIP, 53, 5399, "a"), 1)
	lines, code = c.collect(t)
	text = strings.Join(lines, "\n")
	if code != 0 || strings.Count(text, "packet: ") != 2 || !strings.Contains(text, "ct direction reply") ||
		!strings.Contains(text, "dnat ip daddr 203.0.113.2 => 192.168.1.11") || !strings.Contains(text, `iif "wan0" ip saddr 198.51.100.20`) {
		t.Errorf("--reply: exit %d:\n%s", code, text)
	}
}

// Several clients trace at once, each its own packets; a client that goes
// away stops its trace and the others go on.
func TestTraceConcurrentClients(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	r := d.pl.NewRunner(discardSink{d.env.Pool})
	// Client a is a raw socket client that the test can make go away.
	actx, acancel := context.WithCancel(context.Background())
	aevs := make(chan traceEvent, 1000)
	aerr := make(chan error, 1)
	go func() {
		aerr <- ctl.CallContext(actx, sock, "trace", traceRequest{Proto: 17, Dport: 1001}, func(data json.RawMessage) error {
			var ev traceEvent
			json.Unmarshal(data, &ev)
			aevs <- ev
			return nil
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); subscribers(d) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("client a never subscribed")
		}
	}
	b := startTrace(t, d, sock, "-p", "udp", "--dport", "1002", "--count", "2")
	cc := startTrace(t, d, sock, "-p", "udp", "--count", "3") // every UDP packet
	sendPkt(d, r, udpPkt(lanA, server, 2000, 1001, "a"), 0)
	sendPkt(d, r, udpPkt(lanA, server, 2000, 1002, "b"), 0)
	sendPkt(d, r, udpPkt(lanA, server, 2001, 1002, "b"), 0)

	bl, code := b.collect(t)
	if code != 0 || strings.Count(strings.Join(bl, "\n"), "packet: ") != 2 || strings.Contains(strings.Join(bl, "\n"), "dport 1001") {
		t.Errorf("client b: exit %d\n%s", code, strings.Join(bl, "\n"))
	}
	cl, _ := cc.collect(t)
	if n := strings.Count(strings.Join(cl, "\n"), "packet: "); n != 3 {
		t.Errorf("client c saw %d packets, want 3", n)
	}
	// a is still tracing; it goes away, and its subscription with it.
	acancel()
	if err := <-aerr; err != nil {
		t.Fatal(err)
	}
	close(aevs)
	n := 0
	for ev := range aevs {
		if ev.Kind == "packet" {
			n++
			if !strings.Contains(ev.Packet, "udp dport 1001") {
				t.Errorf("client a got %s", ev.Packet)
			}
		}
	}
	if n != 1 {
		t.Errorf("client a saw %d packets, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for subscribers(d) != 0 || d.pl.TraceFilter.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions left after every client went away", subscribers(d))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that reads nothing never stalls the datapath: its events are
// dropped, counted and reported.
func TestTraceStuckClientDropsEvents(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	v, _ := tracers.Load(d)
	tr := v.(*tracer)
	// A subscription whose reader is stuck: a tiny buffer nobody drains.
	f, err := (&traceRequest{Proto: 17}).compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	stuck := &traceSub{f: f, ch: make(chan traceEvent, 4)}
	tr.subscribe(stuck)
	r := d.pl.NewRunner(discardSink{d.env.Pool})
	start := time.Now()
	for i := 0; i < 200; i++ {
		sendPkt(d, r, udpPkt(lanA, server, uint16(3000+i), 53, "q"), 0)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("200 traced packets took %v with a stuck client", el)
	}
	if stuck.lost.Load() == 0 || tr.lost.Load() < stuck.lost.Load() {
		t.Errorf("lost %d (total %d): events beyond the buffer must be counted", stuck.lost.Load(), tr.lost.Load())
	}
	tr.unsubscribe(stuck)

	// Through the socket, every event is either delivered or reported lost.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan traceEvent, 100000)
	errc := make(chan error, 1)
	go func() {
		errc <- ctl.CallContext(ctx, sock, "trace", traceRequest{Proto: 17, Count: 500}, func(data json.RawMessage) error {
			var ev traceEvent
			json.Unmarshal(data, &ev)
			got <- ev
			return nil
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); subscribers(d) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no subscription")
		}
	}
	for i := 0; i < 500; i++ {
		sendPkt(d, r, udpPkt(lanA, server, uint16(10000+i), 53, "q"), 0)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	close(got)
	kinds := map[string]int{}
	var lost uint64
	for ev := range got {
		kinds[ev.Kind]++
		lost += ev.Lost
	}
	// Every event is either delivered or counted as lost.
	total := uint64(kinds["packet"] + kinds["stage"] + kinds["end"])
	if kinds["packet"] == 0 || total+lost < 500*3 {
		t.Errorf("kinds %v lost %d", kinds, lost)
	}
}

// The filter reads the raw datagram: each field alone, and --reply.
func TestTraceFilterMatch(t *testing.T) {
	pool := packet.NewPool()
	mk := func(b []byte, in int16) *packet.Packet {
		p := pool.Get()
		p.Load(b)
		p.InIf = in
		return p
	}
	syn := mk(tcpPkt(lanA, server, 40000, 80, "S", 1, 0, ""), 0)
	ping := mk(echoPkt(lanA, server, 8, 1, 1, 64), 0)
	idx := func(n string) (int16, bool) {
		return map[string]int16{"lan0": 0, "wan0": 1}[n], n == "lan0" || n == "wan0"
	}
	tests := []struct {
		name string
		req  traceRequest
		pkt  *packet.Packet
		want bool
	}{
		{"any", traceRequest{}, syn, true},
		{"proto", traceRequest{Proto: 6}, syn, true},
		{"other proto", traceRequest{Proto: 17}, syn, false},
		{"src", traceRequest{Src: "192.168.1.10"}, syn, true},
		{"src prefix", traceRequest{Src: "192.168.1.0/24"}, syn, true},
		{"other src", traceRequest{Src: "192.168.1.11"}, syn, false},
		{"dst", traceRequest{Dst: "198.51.100.0/24"}, syn, true},
		{"sport", traceRequest{Sport: 40000}, syn, true},
		{"dport", traceRequest{Dport: 80}, syn, true},
		{"other dport", traceRequest{Dport: 81}, syn, false},
		{"ports on icmp", traceRequest{Dport: 80}, ping, false},
		{"icmp", traceRequest{Proto: 1, Src: "192.168.1.10"}, ping, true},
		{"iface", traceRequest{In: "lan0"}, syn, true},
		{"other iface", traceRequest{In: "wan0"}, syn, false},
		{"reverse without reply", traceRequest{Src: "198.51.100.20", Sport: 80}, syn, false},
		{"reverse with reply", traceRequest{Src: "198.51.100.20", Sport: 80, Reply: true}, syn, true},
	}
	for _, tt := range tests {
		f, err := tt.req.compile(idx)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := f.match(tt.pkt); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []traceRequest{{Src: "::1"}, {Dst: "300.1.1.1"}, {Sport: 70000}, {Proto: 1, Dport: 80}, {In: "eth9"}, {Count: -1}} {
		if _, err := bad.compile(idx); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
	f, _ := (&traceRequest{Proto: 17, Dport: 53}).compile(idx)
	if n := testing.AllocsPerRun(1000, func() { f.match(syn) }); n != 0 {
		t.Errorf("a filter that does not match allocates %v times", n)
	}
}

func TestTraceUsage(t *testing.T) {
	for _, args := range [][]string{{"-p", "sctpx"}, {"-s", "x"}, {"-o", "yaml"}, {"extra"}} {
		if _, _, code := run(t, append([]string{"trace", "--socket", "/nonexistent"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, _, code := run(t, "trace", "--socket", "/nonexistent/fwd.sock"); code != 2 {
		t.Errorf("no daemon: exit %d, want 2", code)
	}
}

// With a trace running, packets it does not pick cost a header read and
// no allocation.
func TestTraceMarkNoAllocs(t *testing.T) {
	d, _, _ := startTestDaemon(t)
	v, _ := tracers.Load(d)
	tr := v.(*tracer)
	f, _ := (&traceRequest{Proto: 17, Dport: 53, Reply: true}).compile(nil)
	s := &traceSub{f: f, ch: make(chan traceEvent, 16)}
	tr.subscribe(s)
	defer tr.unsubscribe(s)
	s.followAnswers(readTuple(udpPkt(wanIP, server, 1000, 53, "")))
	p := d.env.Pool.Get()
	p.Load(tcpPkt(lanA, server, 40000, 80, "A", 1, 1, ""))
	subs := []*traceSub{s}
	if n := testing.AllocsPerRun(1000, func() { tr.mark(p, subs) }); n != 0 {
		t.Errorf("mark of a packet no trace wants: %v allocs", n)
	}
}

// BenchmarkRunTraceFilter is the datapath's cost of tracing: an
// established flow's packet with no trace, and with a trace running that
// does not pick it.
func BenchmarkRunTraceFilter(b *testing.B) {
	cfg, err := loadConfig("../../configs/lab.toml")
	if err != nil {
		b.Fatal(err)
	}
	env, err := newEnv(cfg, &pipeline.Virtual{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Cleanup()
	tr := newTracer(pl, ifNames(cfg))
	pl.Trace = tr.stage
	r := pl.NewRunner(discardSink{env.Pool})
	out := udpPkt(lanA, server, 40000, 53, "query")
	send := func(b []byte, in int16) {
		p := env.Pool.Get()
		p.Load(b)
		p.InIf = in
		r.Run([]*packet.Packet{p})
	}
	send(out, 0)
	send(udpPkt(server, wanIP, 53, 40000, "answer"), 1)
	for _, bc := range []struct {
		name  string
		trace bool
	}{{"off", false}, {"other-flow", true}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.trace {
				f, _ := (&traceRequest{Proto: 6, Dport: 443}).compile(nil)
				s := &traceSub{f: f, ch: make(chan traceEvent, 16)}
				tr.subscribe(s)
				defer tr.unsubscribe(s)
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				send(out, 0)
			}
		})
	}
}
