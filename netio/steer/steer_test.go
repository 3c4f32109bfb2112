package steer_test

import (
	"strings"
	"testing"

	"fwd/netio/steer"
	"fwd/netio/steer/nstest"
	"fwd/packet"
)

func TestInstallRemove(t *testing.T) {
	ns := nstest.New(t)
	// A table of someone else's, which fwd must not touch.
	ns.MustExec(t, "nft", "add", "table", "ip", "other")
	ns.MustExec(t, "nft", "add", "chain", "ip", "other", "keep")

	s, err := steer.Install(steer.Spec{Queue: 3, Queues: 2, Bypass: true, Notrack: true, SkipMark: 0x100, NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	native, xtErr := s.Fallbacks()
	t.Logf("backend %s (native refused: %v, xt refused: %v)", s.Backend(), native, xtErr)
	if s.Backend() != steer.BackendNative && s.Backend() != steer.BackendXT {
		t.Fatalf("backend %s, want an nftables one", s.Backend())
	}
	if ok, err := steer.Present(ns.FD(), steer.DefaultTable); err != nil || !ok {
		t.Fatalf("Present after Install = %v, %v; want true", ok, err)
	}
	out := ns.MustExec(t, "nft", "list", "table", "inet", steer.DefaultTable)
	t.Logf("%s", out)
	for _, want := range []string{
		"hook prerouting priority raw + 1", "hook input priority mangle", "hook forward priority mangle",
		"hook output priority raw + 1", "hook postrouting priority mangle",
		"chain raw_prerouting", "chain raw_output", "notrack",
		"queue", "3-4", "bypass", "meta nfproto ipv4", "0x00000100",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(out, "fanout") {
		t.Errorf("CPU fanout set without CPUFanout")
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if ok, err := steer.Present(ns.FD(), steer.DefaultTable); err != nil || ok {
		t.Fatalf("Present after Remove = %v, %v; want false", ok, err)
	}
	if out := ns.MustExec(t, "nft", "list", "ruleset"); !strings.Contains(out, "chain keep") {
		t.Errorf("other table changed:\n%s", out)
	}
	// Remove twice is fine.
	if err := s.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestStaleTableReplaced(t *testing.T) {
	ns := nstest.New(t)
	ns.MustExec(t, "nft", "add", "table", "inet", steer.DefaultTable)
	ns.MustExec(t, "nft", "add", "chain", "inet", steer.DefaultTable, "stale", "{ type filter hook input priority 0; policy drop; }")
	s, err := steer.Install(steer.Spec{Queue: 0, Hooks: packet.Output.Mask(), NetNS: ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	out := ns.MustExec(t, "nft", "list", "table", "inet", steer.DefaultTable)
	if strings.Contains(out, "stale") {
		t.Errorf("stale chain survived Install:\n%s", out)
	}
	if !strings.Contains(out, "chain output") || strings.Contains(out, "chain input") || strings.Contains(out, "bypass") {
		t.Errorf("want only an output chain without bypass:\n%s", out)
	}
}

func TestBackends(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend steer.Backend
		check   []string // nft list ruleset must contain these
	}{
		{name: "xt", backend: steer.BackendXT, check: []string{"table inet fwd_steer", "queue"}},
		{name: "iptables", backend: steer.BackendIptables, check: []string{"FWD-OUTPUT", "FWD-POSTROUTING", "queue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.New(t)
			s, err := steer.Install(steer.Spec{Queue: 7, Bypass: true, Notrack: true, NetNS: ns.FD(), Backend: tc.backend})
			if err != nil {
				t.Fatal(err)
			}
			if s.Backend() != tc.backend {
				t.Fatalf("backend %s, want %s", s.Backend(), tc.backend)
			}
			out := ns.MustExec(t, "nft", "list", "ruleset")
			for _, w := range tc.check {
				if !strings.Contains(out, w) {
					t.Errorf("ruleset lacks %q:\n%s", w, out)
				}
			}
			if err := s.Remove(); err != nil {
				t.Fatal(err)
			}
			out = ns.MustExec(t, "nft", "list", "ruleset")
			if strings.Contains(out, "FWD-") || strings.Contains(out, "inet fwd_steer") || strings.Contains(out, "queue") {
				t.Errorf("left behind after Remove:\n%s", out)
			}
		})
	}
}

func TestNativeQueueExpression(t *testing.T) {
	// The project's kernel has no nft_queue; where it has, native must work.
	ns := nstest.New(t)
	s, err := steer.Install(steer.Spec{Queue: 1, NetNS: ns.FD(), Backend: steer.BackendNative})
	if err != nil {
		t.Logf("native queue expression refused (expected on this kernel): %v", err)
		if ok, _ := steer.Present(ns.FD(), steer.DefaultTable); ok {
			t.Errorf("a refused install left the table behind")
		}
		return
	}
	if s.Backend() != steer.BackendNative {
		t.Errorf("backend %s", s.Backend())
	}
	s.Remove()
}
