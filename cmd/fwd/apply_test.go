package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fwd/ctl"
)

// newConfig writes a variant of the lab configuration (a changed rule
// comment, visible in fwd rules -L) and returns its path.
func newConfig(t *testing.T, comment string) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/lab.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "no telnet out of the LAN (a demo of reject)", comment, 1)
	if s == string(b) {
		t.Fatal("the lab configuration no longer has the telnet rule's comment")
	}
	path := filepath.Join(t.TempDir(), "new.toml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func listing(t *testing.T, sock string) string {
	t.Helper()
	out, errs, code := run(t, "rules", "-L", "--socket", sock)
	if code != 0 {
		t.Fatalf("rules -L: %s", errs)
	}
	return out
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func applierOf(d *daemon) *applier {
	v, _ := appliers.Load(d)
	return v.(*applier)
}

// fireNow makes the pending apply's timer fire at once.
func fireNow(t *testing.T, d *daemon) {
	t.Helper()
	a := applierOf(d)
	a.mu.Lock()
	p := a.pend
	a.mu.Unlock()
	if p == nil {
		t.Fatal("no apply pending")
	}
	p.timer.Reset(time.Millisecond)
}

// Unconfirmed, an apply rolls back by itself, after its time.
func TestApplyRollsBackInTime(t *testing.T) {
	_, sock, _ := startTestDaemon(t)
	newPath := newConfig(t, "applied and never confirmed")
	start := time.Now()
	if _, errs, code := run(t, "apply", "-c", newPath, "--confirm", "200ms", "--socket", sock); code != 0 {
		t.Fatalf("apply: %s", errs)
	}
	waitFor(t, "the rollback", func() bool {
		st, _, _ := run(t, "apply", "--status", "--socket", sock)
		return strings.Contains(st, "was not confirmed: rolled back")
	})
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("rolled back after %v, before the 200ms were up", el)
	}
	if l := listing(t, sock); !strings.Contains(l, "no telnet out of the LAN") {
		t.Errorf("the old ruleset is not back:\n%s", l)
	}
}

// While an apply waits, the new configuration runs, a second apply is
// refused, and the rollback restores the previous one with the
// connection table untouched.
func TestApplyRollsBack(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	newPath := newConfig(t, "applied and never confirmed")
	ctBefore, _, _ := run(t, "conntrack", "-L", "--socket", sock)
	out, errs, code := run(t, "apply", "-c", newPath, "--confirm", "10m", "--socket", sock)
	if code != 0 || !strings.Contains(out, "applied "+newPath) || !strings.Contains(out, "fwd rolls back to ../../configs/lab.toml at ") {
		t.Fatalf("apply: exit %d %s %s", code, out, errs)
	}
	if l := listing(t, sock); !strings.Contains(l, "applied and never confirmed") {
		t.Fatalf("the new ruleset is not running:\n%s", l)
	}
	st, _, _ := run(t, "apply", "--status", "--socket", sock)
	if !strings.Contains(st, newPath+" applied; rolls back to ../../configs/lab.toml") {
		t.Errorf("status while pending: %q", st)
	}
	// A second apply waits for the first to end.
	if _, errs, code := run(t, "apply", "-c", newPath, "--confirm", "1m", "--socket", sock); code != 1 || !strings.Contains(errs, "waits for confirmation") {
		t.Errorf("a second apply: exit %d %s", code, errs)
	}
	fireNow(t, d)
	waitFor(t, "the rollback", func() bool { return strings.Contains(listing(t, sock), "no telnet out of the LAN") })
	d.mu.Lock()
	path := d.cfgPath
	d.mu.Unlock()
	if path != "../../configs/lab.toml" {
		t.Errorf("after the rollback the daemon runs %s", path)
	}
	if ctAfter, _, _ := run(t, "conntrack", "-L", "--socket", sock); ctAfter != ctBefore {
		t.Errorf("the connection table changed across apply and rollback:\n%s\n---\n%s", ctBefore, ctAfter)
	}
	st, _, _ = run(t, "apply", "--status", "--socket", sock)
	if !strings.Contains(st, "no apply waits") || !strings.Contains(st, "was not confirmed: rolled back to ../../configs/lab.toml") {
		t.Errorf("status after the rollback: %q", st)
	}
	// Too late to confirm.
	if _, errs, code := run(t, "apply", "--confirm-now", "--socket", sock); code != 1 || !strings.Contains(errs, "rolled back") {
		t.Errorf("late confirm: exit %d %s", code, errs)
	}
}

// Confirmed in time, the applied configuration stays, even when the
// timer fires just after the confirmation.
func TestApplyConfirmed(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	newPath := newConfig(t, "applied and confirmed")
	if _, errs, code := run(t, "apply", "-c", newPath, "--confirm", "10m", "--socket", sock); code != 0 {
		t.Fatalf("apply: %s", errs)
	}
	a := applierOf(d)
	a.mu.Lock()
	p := a.pend
	a.mu.Unlock()
	out, errs, code := run(t, "apply", "--confirm-now", "--socket", sock)
	if code != 0 || strings.TrimSpace(out) != "confirmed "+newPath {
		t.Fatalf("confirm: exit %d %q %s", code, out, errs)
	}
	a.rollback(p) // the timer's function, as if it had fired during the confirmation
	if l := listing(t, sock); !strings.Contains(l, "applied and confirmed") {
		t.Errorf("rolled back although confirmed:\n%s", l)
	}
	if _, _, code := run(t, "apply", "--confirm-now", "--socket", sock); code != 1 {
		t.Errorf("a second confirm: exit %d, want 1 (nothing waits)", code)
	}

	// The confirm control command does the same, for other clients, and a
	// short timer confirmed in time does not fire.
	other := newConfig(t, "applied and confirmed over the socket")
	if _, errs, code := run(t, "apply", "-c", other, "--confirm", "3s", "--socket", sock); code != 0 {
		t.Fatalf("apply: %s", errs)
	}
	var msg string
	if err := ctl.Call(sock, "confirm", nil, func(data json.RawMessage) error { return json.Unmarshal(data, &msg) }); err != nil || msg != "confirmed "+other {
		t.Fatalf("confirm command: %q %v", msg, err)
	}
	time.Sleep(3300 * time.Millisecond)
	if l := listing(t, sock); !strings.Contains(l, "applied and confirmed over the socket") {
		t.Errorf("rolled back although confirmed:\n%s", l)
	}
}

// A bad file is refused with its positions; nothing changes and nothing
// waits.
func TestApplyRefused(t *testing.T) {
	_, sock, _ := startTestDaemon(t)
	before := listing(t, sock)
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[dataplane]\nmode = \"tap\"\n[[filter.forward.rule]]\naction = \"teleport\"\n"), 0o644)
	_, errs, code := run(t, "apply", "-c", bad, "--confirm", "1m", "--socket", sock)
	if code != 1 || !strings.Contains(errs, "bad.toml:") {
		t.Errorf("bad file: exit %d %s", code, errs)
	}
	if listing(t, sock) != before {
		t.Error("a refused apply changed the ruleset")
	}
	if st, _, _ := run(t, "apply", "--status", "--socket", sock); !strings.Contains(st, "no apply waits") {
		t.Errorf("status: %q", st)
	}
	for _, args := range [][]string{
		{},                                   // no verb
		{"-c", "x.toml", "--confirm-now"},    // two verbs
		{"-c", "x.toml", "--confirm", "-1s"}, // bad duration
		{"-c", "x.toml", "--confirm", "48h"},
		{"--status", "extra"},
	} {
		if _, _, code := run(t, append(append([]string{"apply"}, args...), "--socket", sock)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if err := ctl.Call(sock, "apply", map[string]string{"config": bad, "timeout": "forever"}, nil); err == nil {
		t.Error("a bad timeout over the socket was accepted")
	}
}
