package main

// fwd apply: a reload that undoes itself unless confirmed in time, as
// iptables-apply and VyOS's commit-confirm do, so a ruleset that cuts the
// operator off heals itself. The timer runs in the daemon: the client may
// lose its connection (that is the point) and the rollback still happens.

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"fwd/config"
	"fwd/ctl"
)

func init() {
	register(&command{
		name: "apply",
		summary: `reload to a new configuration that rolls back unless confirmed in time
  fwd apply -c NEW [--confirm 60s]   swap NEW in now (atomically, as fwd reload);
                                     unless confirmed within the time, fwd goes
                                     back to the configuration it ran before
  fwd apply --confirm-now            keep the applied configuration
  fwd apply --status                 show an apply waiting for confirmation
The timer runs in the daemon: losing the connection does not stop it. One
apply waits at a time. The rollback keeps conntrack and NAT state, as any
reload does.`,
		usage: "fwd apply -c NEW [--confirm DUR] | --confirm-now | --status [--socket PATH]",
		run:   runApply,
	})
	ctlSetups = append(ctlSetups, applyHandlers)
}

// maxConfirm bounds the confirmation window (Junos allows 65535 minutes;
// a day is plenty).
const maxConfirm = 24 * time.Hour

type applyRequest struct {
	Config  string `json:"config"`
	Timeout string `json:"timeout"` // a Go duration
}

// applyStatus describes an apply waiting for confirmation.
type applyStatus struct {
	Pending  bool      `json:"pending"`
	Config   string    `json:"config,omitempty"`   // the applied file
	Previous string    `json:"previous,omitempty"` // what a rollback returns to
	Deadline time.Time `json:"deadline,omitempty"`
	// Last says how the previous apply ended (confirmed, rolled back).
	Last string `json:"last,omitempty"`
}

// pendingApply is an apply whose timer runs.
type pendingApply struct {
	prevCfg  *config.Config
	prevPath string
	path     string
	deadline time.Time
	timer    *time.Timer
}

// applier holds a daemon's pending apply.
type applier struct {
	d    *daemon
	mu   sync.Mutex // mu protects pend and last
	pend *pendingApply
	last string
}

func (a *applier) status() applyStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := applyStatus{Last: a.last}
	if p := a.pend; p != nil {
		st.Pending, st.Config, st.Previous, st.Deadline = true, p.path, p.prevPath, p.deadline
	}
	return st
}

// apply reloads to path and starts the rollback timer.
func (a *applier) apply(path string, timeout time.Duration) (applyStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pend; p != nil {
		return applyStatus{}, ctl.Errorf(ctl.CodeFailed, "an apply of %s waits for confirmation until %s: confirm it (fwd apply --confirm-now) or let it roll back first",
			p.path, p.deadline.Format(time.TimeOnly))
	}
	d := a.d
	d.mu.Lock()
	prevCfg, prevPath := d.cfg, d.cfgPath
	d.mu.Unlock()
	if err := d.reload(path); err != nil {
		return applyStatus{}, ctl.Errorf(ctl.CodeFailed, "%v", err)
	}
	d.mu.Lock()
	newPath := d.cfgPath
	d.mu.Unlock()
	p := &pendingApply{prevCfg: prevCfg, prevPath: prevPath, path: newPath, deadline: time.Now().Add(timeout)}
	p.timer = time.AfterFunc(timeout, func() { a.rollback(p) })
	a.pend = p
	d.log.Warn("configuration applied; rolls back unless confirmed", "config", newPath, "previous", prevPath, "deadline", p.deadline)
	return applyStatus{Pending: true, Config: newPath, Previous: prevPath, Deadline: p.deadline}, nil
}

// rollback returns to the configuration p replaced, unless p was
// confirmed meanwhile.
func (a *applier) rollback(p *pendingApply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pend != p {
		return // confirmed just before the timer fired
	}
	a.pend = nil
	d := a.d
	d.mu.Lock()
	err := d.pl.Reload(p.prevCfg)
	if err == nil {
		d.cfg, d.cfgPath = p.prevCfg, p.prevPath
	}
	d.mu.Unlock()
	if err != nil {
		a.last = fmt.Sprintf("the rollback of %s to %s failed at %s: %v", p.path, p.prevPath, time.Now().Format(time.TimeOnly), err)
		d.log.Error("apply not confirmed in time, and the rollback failed: the applied configuration stays", "config", p.path, "previous", p.prevPath, "err", err)
		return
	}
	a.last = fmt.Sprintf("%s was not confirmed: rolled back to %s at %s", p.path, p.prevPath, time.Now().Format(time.TimeOnly))
	d.log.Warn("apply not confirmed in time: rolled back", "config", p.path, "to", p.prevPath)
}

// confirm keeps the pending apply.
func (a *applier) confirm() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pend
	if p == nil {
		msg := "no apply waits for confirmation"
		if a.last != "" {
			msg += " (last: " + a.last + ")"
		}
		return "", ctl.Errorf(ctl.CodeNotFound, "%s", msg)
	}
	p.timer.Stop() // if it fired, rollback waits for mu and then sees pend changed
	a.pend = nil
	a.last = fmt.Sprintf("%s confirmed at %s", p.path, time.Now().Format(time.TimeOnly))
	a.d.log.Info("apply confirmed", "config", p.path)
	return "confirmed " + p.path, nil
}

// appliers finds a daemon's applier (for tests).
var appliers sync.Map // *daemon -> *applier

func applyHandlers(d *daemon) {
	a := &applier{d: d}
	appliers.Store(d, a)
	d.srv.Handle("apply", func(req *ctl.Request, st *ctl.Stream) error {
		var r applyRequest
		if err := req.Decode(&r); err != nil {
			return err
		}
		timeout, err := time.ParseDuration(r.Timeout)
		if err != nil || timeout <= 0 || timeout > maxConfirm {
			return ctl.Errorf(ctl.CodeBadRequest, "apply: timeout %q: want a positive duration up to %s", r.Timeout, maxConfirm)
		}
		if r.Config == "" {
			return ctl.Errorf(ctl.CodeBadRequest, "apply: a configuration file is required")
		}
		s, err := a.apply(r.Config, timeout)
		if err != nil {
			return err
		}
		return st.Send(s)
	})
	d.srv.Handle("confirm", func(req *ctl.Request, st *ctl.Stream) error {
		msg, err := a.confirm()
		if err != nil {
			return err
		}
		return st.Send(msg)
	})
	d.srv.Handle("apply.status", func(req *ctl.Request, st *ctl.Stream) error {
		return st.Send(a.status())
	})
}

func runApply(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	cfgPath := fs.String("c", "", "the configuration to apply")
	confirm := fs.Duration("confirm", 60*time.Second, "roll back unless confirmed within this time")
	confirmNow := fs.Bool("confirm-now", false, "confirm the applied configuration")
	status := fs.Bool("status", false, "show an apply waiting for confirmation")
	socket := fs.String("socket", defaultSocket, "control socket")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	verbs := 0
	for _, v := range []bool{*cfgPath != "", *confirmNow, *status} {
		if v {
			verbs++
		}
	}
	if verbs != 1 {
		return &usageError{"give one of -c NEW, --confirm-now or --status"}
	}
	switch {
	case *confirmNow:
		return ctlExit(ctl.Call(*socket, "confirm", nil, func(data json.RawMessage) error {
			var s string
			json.Unmarshal(data, &s)
			fmt.Fprintln(stdout, s)
			return nil
		}))
	case *status:
		var st applyStatus
		if err := ctl.Call(*socket, "apply.status", nil, func(data json.RawMessage) error { return json.Unmarshal(data, &st) }); err != nil {
			return ctlExit(err)
		}
		if st.Pending {
			fmt.Fprintf(stdout, "%s applied; rolls back to %s at %s (in %s) unless confirmed\n",
				st.Config, st.Previous, st.Deadline.Format(time.TimeOnly), time.Until(st.Deadline).Round(time.Second))
		} else {
			fmt.Fprintln(stdout, "no apply waits for confirmation")
		}
		if st.Last != "" {
			fmt.Fprintf(stdout, "last: %s\n", st.Last)
		}
		return nil
	}
	if *confirm <= 0 || *confirm > maxConfirm {
		return &usageError{fmt.Sprintf("--confirm %s: want a positive duration up to %s", *confirm, maxConfirm)}
	}
	// The daemon resolves the path: make it absolute here.
	path, err := filepath.Abs(*cfgPath)
	if err != nil {
		return err
	}
	var st applyStatus
	err = ctl.Call(*socket, "apply", applyRequest{Config: path, Timeout: confirm.String()}, func(data json.RawMessage) error {
		return json.Unmarshal(data, &st)
	})
	if err != nil {
		return ctlExit(err)
	}
	fmt.Fprintf(stdout, "applied %s\nconfirm within %s with `fwd apply --confirm-now`, or fwd rolls back to %s at %s\n",
		st.Config, *confirm, st.Previous, st.Deadline.Format(time.TimeOnly))
	return nil
}
