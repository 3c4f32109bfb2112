package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fwd/config"
	"fwd/ctl"
	"fwd/netio/tap"
	"fwd/pipeline"
	"fwd/router"
)

func init() {
	register(&command{
		name: "run",
		summary: `run the daemon (root): TAP or NFQUEUE as the configuration says
In TAP mode fwd opens one TAP device per [[interface]] (named as the
interface, or as its "device" key; moved into network namespace "netns"
and added to "bridge" when set) and routes
between them. It serves the control socket for fwd conntrack, fwd rules,
fwd reload and fwd trace. SIGHUP reloads the configuration; SIGINT and
SIGTERM stop it and remove its devices.`,
		usage: "fwd run -c CONFIG [--socket PATH] [--log-level debug|info|warn] [--log-target stderr|syslog] [--cpuprofile FILE] [--memprofile FILE]",
		run:   runDaemon,
	})
	register(&command{
		name:    "reload",
		summary: "reload the running daemon's configuration atomically (refused, with its errors, when the new file is bad)",
		usage:   "fwd reload [--socket PATH] [-c CONFIG]",
		run:     runReload,
	})
}

// daemon is a running fwd: its configuration, pipeline and control socket.
type daemon struct {
	cfgPath string
	env     *pipeline.Env
	pl      *pipeline.Pipeline
	srv     *ctl.Server
	log     *slog.Logger

	adjust func(cfg *config.Config) // see daemonSpec
	ready  func(d *daemon)

	mu  sync.Mutex // mu serialises reloads and protects cfg
	cfg *config.Config

	// devStats lists the dataplane devices' queue counters for the
	// metrics, once the mode has opened them.
	devStats atomic.Pointer[[]deviceStats]
}

// interfaceNames returns the configured interfaces' names, for the
// control commands. It reads the daemon's configuration, not Env.Config,
// which a reload replaces while they run (the names themselves cannot
// change: checkReloadable).
func (d *daemon) interfaceNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return ifNames(d.cfg)
}

// ctlSetups add control commands (conntrack, rules, sets, trace) to a
// daemon's socket; each package's wiring file appends one.
var ctlSetups []func(d *daemon)

// modeRunners run a dataplane mode until ctx ends.
var modeRunners = map[string]func(ctx context.Context, d *daemon) error{
	"tap": runTAP,
}

func runDaemon(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("c", "", "configuration file")
	socket := fs.String("socket", "", "control socket (default: [control] socket, or /run/fwd/fwd.sock)")
	level := fs.String("log-level", "info", "debug, info or warn")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here until exit")
	memProfile := fs.String("memprofile", "", "write a heap profile here at exit")
	logTarget := fs.String("log-target", "stderr", "where the rules' log action writes its kernel-format lines: stderr or syslog")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return &usageError{"-c CONFIG is required"}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return &usageError{fmt.Sprintf("--log-level %q: %v", *level, err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	logLines, err := logTargetWriter(*logTarget, stderr)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, daemonSpec{cfgPath: *cfgPath, socket: *socket, log: log, logLines: logLines})
}

// daemonSpec is what a daemon starts from: fwd run's flags, or fwd lab's.
type daemonSpec struct {
	cfgPath string
	socket  string // "": the configuration's [control] socket
	log     *slog.Logger
	// logLines, when set, receives the rules' LOG lines (else: log).
	logLines io.Writer
	// adjust, when set, changes every configuration loaded (the first and
	// each reload's) before it is used: fwd lab points the interfaces at
	// its namespaces.
	adjust func(cfg *config.Config)
	// ready, when set, is called once the dataplane runs; it must not block.
	ready func(d *daemon)
}

// serve runs a daemon until ctx ends: it loads the configuration, builds
// the pipeline, serves the control socket (SIGHUP reloads) and runs the
// configured dataplane mode.
func serve(ctx context.Context, spec daemonSpec) error {
	log := spec.log
	cfg, err := loadConfig(spec.cfgPath)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if spec.adjust != nil {
		spec.adjust(cfg)
	}
	run, ok := modeRunners[cfg.Dataplane.Mode]
	if !ok {
		return fmt.Errorf("dataplane mode %q is not built into this fwd", cfg.Dataplane.Mode)
	}
	// A millisecond clock read from memory: the system clock costs ~50 ns
	// a read here, and conntrack reads the time for every packet.
	clock := pipeline.NewCoarse(time.Millisecond)
	defer clock.Close()
	env, err := newEnv(cfg, clock, log)
	if err != nil {
		return err
	}
	env.KernelRoutes = cfg.Dataplane.Mode == "nfqueue"
	if spec.logLines != nil {
		setLogWriter(env, spec.logLines)
	}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		return err
	}
	defer pl.Cleanup()

	d := &daemon{cfgPath: spec.cfgPath, env: env, pl: pl, cfg: cfg, log: log, srv: ctl.NewServer(log), adjust: spec.adjust, ready: spec.ready}
	d.handleBuiltins()
	for _, s := range ctlSetups {
		s(d)
	}
	sock := spec.socket
	if sock == "" {
		sock = cfg.Control.Socket
	}
	if err := d.srv.Listen(sock); err != nil {
		return err
	}
	defer d.srv.Close()
	if cfg.Control.Metrics != "" {
		ms, err := startMetrics(d, cfg.Control.Metrics)
		if err != nil {
			return err
		}
		defer ms.Close()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := d.reload(""); err != nil {
					log.Error("reload refused; the running configuration stays", "err", err)
				}
			}
		}
	}()
	log.Info("fwd running", "config", spec.cfgPath, "mode", cfg.Dataplane.Mode, "socket", sock, "stages", len(pl.Stages()))
	err = run(ctx, d)
	log.Info("fwd stopped")
	return err
}

// reload loads path (the running file when empty), compiles it and swaps
// it in atomically; on any error nothing changes.
func (d *daemon) reload(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if path == "" {
		path = d.cfgPath
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if d.adjust != nil {
		d.adjust(cfg)
	}
	if err := checkReloadable(d.cfg, cfg); err != nil {
		return err
	}
	if err := d.pl.Reload(cfg); err != nil {
		return err
	}
	d.cfg, d.cfgPath = cfg, path
	d.log.Info("configuration reloaded", "config", path)
	return nil
}

// checkReloadable refuses changes a reload cannot make without a restart.
func checkReloadable(old, nw *config.Config) error {
	if old.Dataplane.Mode != nw.Dataplane.Mode {
		return fmt.Errorf("%s: dataplane mode changed from %q to %q: restart fwd for that", nw.File, old.Dataplane.Mode, nw.Dataplane.Mode)
	}
	if len(old.Interfaces) != len(nw.Interfaces) {
		return fmt.Errorf("%s: interfaces added or removed: restart fwd for that", nw.File)
	}
	for i := range old.Interfaces {
		if old.Interfaces[i].Name != nw.Interfaces[i].Name {
			return fmt.Errorf("%s: interface %d renamed from %q to %q: restart fwd for that", nw.File, i, old.Interfaces[i].Name, nw.Interfaces[i].Name)
		}
	}
	return nil
}

func (d *daemon) handleBuiltins() {
	d.srv.Handle("stats", func(req *ctl.Request, st *ctl.Stream) error {
		return st.Send(allCounters(d.env, d.pl, d.interfaceNames()))
	})
	d.srv.Handle("reload", func(req *ctl.Request, st *ctl.Stream) error {
		var a struct {
			Config string `json:"config"`
		}
		if err := req.Decode(&a); err != nil {
			return err
		}
		if err := d.reload(a.Config); err != nil {
			return ctl.Errorf(ctl.CodeFailed, "%v", err)
		}
		return st.Send("reloaded " + d.cfgPath)
	})
}

// runTAP opens a TAP device per interface and routes between them.
func runTAP(ctx context.Context, d *daemon) error {
	cfg := d.env.Config
	var devs []*tap.Device
	defer func() {
		for _, dev := range devs {
			if err := dev.Close(); err != nil {
				d.log.Warn("closing device", "device", dev.Name(), "err", err)
			}
		}
	}()
	fdevs := make([]router.FrameDevice, 0, len(cfg.Interfaces))
	for _, ifc := range cfg.Interfaces {
		name := ifc.Device
		if name == "" {
			name = ifc.Name
		}
		// With a namespace the bridge is the namespace's: the port is
		// added after the move.
		tc := tap.Config{Name: name, MTU: ifc.MTU, Bridge: ifc.Bridge, Netns: ifc.Netns, VnetHdr: true}
		if ifc.Netns != "" {
			tc.Bridge = ""
		}
		dev, err := tap.Open(tc)
		if err != nil {
			return fmt.Errorf("interface %s: %w", ifc.Name, err)
		}
		devs = append(devs, dev)
		if ifc.Netns != "" && ifc.Bridge != "" {
			if err := dev.AddToBridge(ifc.Bridge); err != nil {
				return fmt.Errorf("interface %s: %w", ifc.Name, err)
			}
		}
		fdevs = append(fdevs, dev)
		d.log.Info("device open", "interface", ifc.Name, "device", dev.Name(), "created", dev.Created())
	}
	var ds []deviceStats
	for i, dev := range devs {
		for qi, q := range dev.Queues() {
			ds = append(ds, deviceStats{iface: cfg.Interfaces[i].Name, queue: qi, stats: &q.Stats})
		}
	}
	d.devStats.Store(&ds)
	dp := router.NewDataplane(d.env, d.pl, fdevs)
	d.srv.Handle("arp", func(req *ctl.Request, st *ctl.Stream) error {
		for _, n := range dp.ARP.Entries() {
			if err := st.Send(n); err != nil {
				return err
			}
		}
		return nil
	})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- dp.Run(runCtx) }()
	if d.ready != nil {
		d.ready(d)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	// Closing the devices ends the workers' blocked reads.
	for _, dev := range devs {
		dev.Close()
	}
	devs = nil
	return <-errc
}

func runReload(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reload", stderr)
	socket := fs.String("socket", defaultSocket, "control socket")
	cfgPath := fs.String("c", "", "load this file instead of the running one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	err := ctl.Call(*socket, "reload", map[string]string{"config": *cfgPath}, func(data json.RawMessage) error {
		var s string
		json.Unmarshal(data, &s)
		fmt.Fprintln(stdout, s)
		return nil
	})
	return ctlExit(err)
}

const defaultSocket = "/run/fwd/fwd.sock"

// ctlExit maps a control error to an exit status: 1 for a refused or
// failed command (with its message), 2 for usage and connection problems.
func ctlExit(err error) error {
	if err == nil {
		return nil
	}
	var ce *ctl.Error
	if errors.As(err, &ce) {
		code := 1
		if ce.Code == ctl.CodeBadRequest {
			code = 2
		}
		return &exitError{code: code, err: errors.New(strings.TrimSpace(ce.Msg))}
	}
	return &exitError{code: 2, err: err}
}
