package main

import (
	"bufio"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fwd/ctl"
	"fwd/netio/capture"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"
)

type discardSink struct{ pool *packet.Pool }

func (s discardSink) Deliver(p *packet.Packet)                     { s.pool.Put(p) }
func (s discardSink) Discard(p *packet.Packet, _ pipeline.Verdict) { s.pool.Put(p) }

// startTestDaemon builds a daemon around the lab configuration without
// devices, feeds it the lab capture, and serves its control socket.
func startTestDaemon(t *testing.T) (*daemon, string, *pipeline.Virtual) {
	t.Helper()
	cfg, err := loadConfig("../../configs/lab.toml")
	if err != nil {
		t.Fatal(err)
	}
	clock := &pipeline.Virtual{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := newEnv(cfg, clock, log)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Cleanup)
	d := &daemon{cfgPath: "../../configs/lab.toml", env: env, pl: pl, cfg: cfg, log: log, srv: ctl.NewServer(log)}
	d.handleBuiltins()
	for _, s := range ctlSetups {
		s(d)
	}
	sock := filepath.Join(t.TempDir(), "fwd.sock")
	if err := d.srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.srv.Close() })

	recs, err := capture.ReadAll(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	table, _ := router.NewTable(cfg)
	r := pl.NewRunner(discardSink{env.Pool})
	for _, rec := range recs {
		clock.Set(rec.Timestamp.UnixNano())
		p := env.Pool.Get()
		p.Load(rec.Data)
		p.InIf = ingressIf(cfg, table, rec, packet.NoIf)
		r.Run([]*packet.Packet{p})
	}
	return d, sock, clock
}

func TestConntrackCLI(t *testing.T) {
	_, sock, _ := startTestDaemon(t)
	out, errs, code := run(t, "conntrack", "-L", "--socket", sock)
	if code != 0 {
		t.Fatalf("-L: exit %d: %s", code, errs)
	}
	golden(t, "conntrack-L.golden", out)
	n := strings.Count(out, "\n")
	if !strings.Contains(errs, "flow entries have been shown.") || !strings.Contains(errs, " "+itoa(n)+" flow entries") {
		t.Errorf("summary on stderr: %q for %d lines", errs, n)
	}

	// Filters select exactly the matching lines of the full listing.
	filters := []struct {
		args []string
		want func(line string) bool
	}{
		{[]string{"-p", "tcp"}, func(l string) bool { return strings.HasPrefix(l, "tcp ") }},
		{[]string{"-p", "udp", "--dport", "53"}, func(l string) bool {
			return strings.HasPrefix(l, "udp ") && strings.Contains(l, "dport=53 ") && strings.Index(l, "dport=53 ") < strings.Index(l, "src=198.51.100.20 dst=")
		}},
		{[]string{"-s", "192.168.1.11"}, func(l string) bool { return strings.HasPrefix(strings.SplitN(l, "src=", 2)[1], "192.168.1.11 ") }},
		{[]string{"-d", "198.51.100.0/24"}, func(l string) bool {
			return strings.Contains(strings.SplitN(l, " src=", 2)[0]+strings.SplitN(strings.SplitN(l, "dst=", 2)[1], " ", 2)[0], "198.51.100.")
		}},
		{[]string{"--state", "SYN_SENT"}, func(l string) bool { return strings.Contains(l, " SYN_SENT ") }},
	}
	for _, f := range filters {
		got, errs, code := run(t, append([]string{"conntrack", "-L", "--socket", sock}, f.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", f.args, code, errs)
		}
		var want []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if f.want(l) {
				want = append(want, l)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%v: the fixture has no matching entry; the test proves nothing", f.args)
		}
		if strings.Join(want, "\n")+"\n" != got {
			t.Errorf("%v:\ngot:\n%swant:\n%s", f.args, got, strings.Join(want, "\n")+"\n")
		}
	}

	// -C counts, -S names the counters as conntrack -S does.
	cnt, _, _ := run(t, "conntrack", "-C", "--socket", sock)
	if strings.TrimSpace(cnt) != itoa(n) {
		t.Errorf("-C = %q, -L showed %d", cnt, n)
	}
	st, _, _ := run(t, "conntrack", "-S", "--socket", sock)
	for _, name := range []string{"found=", "invalid=", "insert=", "insert_failed=", "drop=", "early_drop=", "search_restart="} {
		if !strings.Contains(st, name) {
			t.Errorf("-S lacks %s: %q", name, st)
		}
	}

	// -G needs a whole tuple and fails (exit 1) when there is no such entry.
	if _, _, code := run(t, "conntrack", "-G", "-p", "tcp", "--socket", sock); code != 2 {
		t.Errorf("-G without a tuple: exit %d, want 2", code)
	}
	g, _, code := run(t, "conntrack", "-G", "-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "40000", "--dport", "80", "--socket", sock)
	if code != 0 || strings.Count(g, "\n") != 1 {
		t.Errorf("-G: exit %d %q", code, g)
	}
	if _, _, code := run(t, "conntrack", "-G", "-p", "tcp", "-s", "192.168.1.10", "-d", "198.51.100.20", "--sport", "1", "--dport", "80", "--socket", sock); code != 1 {
		t.Errorf("-G of a missing entry: exit %d, want 1", code)
	}

	// -D removes exactly the matching entries.
	before := strings.Count(out, "udp ")
	_, errs, code = run(t, "conntrack", "-D", "-p", "udp", "--socket", sock)
	if code != 0 || !strings.Contains(errs, itoa(before)+" flow entries have been deleted") {
		t.Errorf("-D: exit %d %q (had %d udp entries)", code, errs, before)
	}
	after, _, _ := run(t, "conntrack", "-L", "--socket", sock)
	if strings.Contains(after, "udp ") || strings.Count(after, "\n") != n-before {
		t.Errorf("after -D -p udp:\n%s", after)
	}
	// -o json is valid JSON with the entries.
	js, _, code := run(t, "conntrack", "-L", "-o", "json", "--socket", sock)
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(js), "[") {
		t.Errorf("-o json: %q", js)
	}
	// -F empties the table.
	run(t, "conntrack", "-F", "--socket", sock)
	if c, _, _ := run(t, "conntrack", "-C", "--socket", sock); strings.TrimSpace(c) != "0" {
		t.Errorf("after -F, -C = %q", c)
	}
	// Usage errors exit 2.
	if _, _, code := run(t, "conntrack", "-L", "-D", "--socket", sock); code != 2 {
		t.Errorf("two verbs: exit %d", code)
	}
	if _, _, code := run(t, "conntrack", "-L", "-p", "sctpx", "--socket", sock); code != 2 {
		t.Errorf("bad protocol: exit %d", code)
	}
}

// The event stream shows a connection's life: NEW when it is confirmed,
// UPDATE on state changes, DESTROY when it goes.
func TestConntrackEvents(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := runMain([]string{"conntrack", "-E", "--socket", sock}, pw, io.Discard)
		pw.Close()
		done <- code
	}()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // never block the client
			}
		}
	}()
	t.Cleanup(func() {
		d.srv.Close() // ends the stream; the client returns
		pr.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("fwd conntrack -E did not end when the daemon went away")
		}
	})

	r := d.pl.NewRunner(discardSink{d.env.Pool})
	send := func(b []byte, in int16) {
		p := d.env.Pool.Get()
		p.Load(b)
		p.InIf = in
		r.Run([]*packet.Packet{p})
	}
	// New flows until the subscription (which starts asynchronously) shows
	// one: each gets a port of its own.
	var port uint16
	var newLine string
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for newLine == "" {
		select {
		case l := <-lines:
			if port != 0 && strings.Contains(l, "sport="+itoa(7000+int(port))+" ") {
				newLine = l
			}
		case <-tick.C:
			port++
			send(udpPkt(lanA, server, 7000+port, 53, "q"), 0)
		case <-deadline:
			t.Fatal("no event for any new flow")
		}
	}
	if !strings.HasPrefix(newLine, "    [NEW] udp      17 ") {
		t.Errorf("first event %q, want a right-aligned [NEW] udp line", newLine)
	}
	run(t, "conntrack", "-F", "--socket", sock)
	deadline = time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.HasPrefix(l, "[DESTROY] udp ") {
				return
			}
		case <-deadline:
			t.Fatal("no DESTROY event after a flush")
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
