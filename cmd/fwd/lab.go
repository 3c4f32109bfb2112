package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"fwd/config"
	"fwd/lab"
)

func init() {
	register(&command{
		name: "lab",
		summary: `the namespace lab: real Linux hosts on both sides of fwd (root)
  fwd lab run -c CONFIG   bring the lab up with fwd in it, show a short
                          demonstration (ping, curl, traceroute, the port
                          forward, a rejected telnet) and the conntrack
                          table, then take it all down
  fwd lab up -c CONFIG    bring the lab up and run fwd in the foreground
                          until Ctrl-C, then take it down; meanwhile
                          'ip netns exec NAME-lan-a bash' is a LAN host and
                          fwd conntrack, rules and reload work as usual
  fwd lab down            remove what labs left behind (every namespace
                          named fwdlab-..., or --name NAME's)
The LAN interfaces get two hosts each (.10 and .11, fwd the default
gateway); the default route's interface leads to an upstream router (its
via), which routes to a server at 198.51.100.20. fwd runs in this process,
with its TAP devices moved into the lab's namespaces.`,
		usage: "fwd lab up|run -c CONFIG [--name NAME] [--socket PATH] [--log-level LEVEL] [-v] [--kernel] [--cpuprofile FILE]\n       fwd lab down [--name NAME]",
		run:   runLab,
	})
}

func runLab(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &usageError{"say up, run or down"}
	}
	sub := args[0]
	fs := newFlags("lab "+sub, stderr)
	cfgPath := fs.String("c", "", "configuration file")
	name := fs.String("name", "", "the lab's name, which prefixes its namespaces (default: fwdlab- and six random hex digits)")
	socket := fs.String("socket", "", "control socket (default: [control] socket, or /run/fwd/fwd.sock)")
	defLevel := "info"
	if sub == "run" {
		defLevel = "warn"
	}
	level := fs.String("log-level", defLevel, "debug, info or warn")
	verbose := fs.Bool("v", false, "print the ip commands that build and remove the lab")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (fwd and the lab's helpers) here until exit")
	kernel := fs.Bool("kernel", false, "up: the Linux kernel routes in a namespace NAME-router instead of fwd (for comparison; add its filtering and NAT with nft there)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if sub == "down" {
		prefix := lab.Prefix
		if *name != "" {
			prefix = *name + "-"
		}
		names, err := lab.Remove(prefix)
		for _, n := range names {
			fmt.Fprintf(stdout, "removed namespace %s\n", n)
		}
		if len(names) == 0 && err == nil {
			fmt.Fprintf(stdout, "no namespace named %s*\n", prefix)
		}
		return err
	}
	if sub != "up" && sub != "run" {
		return &usageError{fmt.Sprintf("unknown lab command %q (up, run or down)", sub)}
	}
	if *cfgPath == "" {
		return &usageError{"-c CONFIG is required"}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return &usageError{fmt.Sprintf("--log-level %q: %v", *level, err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if os.Geteuid() != 0 {
		return &exitError{code: 1, err: errors.New("fwd lab needs root: it creates network namespaces and TAP devices")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if *kernel && sub != "up" {
		return &usageError{"--kernel is for fwd lab up"}
	}
	opts := lab.Options{Name: *name, KernelRouter: *kernel}
	if *verbose {
		opts.Trace = func(cmd string) { fmt.Fprintf(stderr, "+ %s\n", cmd) }
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l, err := lab.Up(cfg, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Down(); err != nil {
			fmt.Fprintf(stderr, "fwd lab: taking the lab down: %v\n", err)
		}
	}()
	if *kernel {
		describeLab(stdout, l, "")
		<-ctx.Done()
		fmt.Fprintln(stdout, "taking the lab down")
		return nil
	}

	// fwd runs in this process on the lab's namespaces: the same daemon as
	// fwd run, with each interface's device, netns and bridge set by the
	// lab (on reloads too).
	fwdCtx, stopFwd := context.WithCancel(ctx)
	defer stopFwd()
	readyc := make(chan *daemon, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(fwdCtx, daemonSpec{cfgPath: *cfgPath, socket: *socket, log: log, adjust: l.Configure,
			ready: func(d *daemon) { readyc <- d }})
	}()
	var d *daemon
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("fwd stopped before it was ready")
		}
		return err
	case d = <-readyc:
	}
	sock := *socket
	if sock == "" {
		sock = cfg.Control.Socket
	}
	if sub == "up" {
		describeLab(stdout, l, sock)
		<-ctx.Done()
		fmt.Fprintln(stdout, "taking the lab down")
	} else {
		err = labDemo(ctx, stdout, l, d)
	}
	stopFwd()
	if ferr := <-errc; ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// describeLab prints who is where in a running lab. Its first line, "lab
// NAME is up", is what scripts and the end-to-end tests wait for.
func describeLab(w io.Writer, l *lab.Lab, sock string) {
	fmt.Fprintf(w, "lab %s is up\n", l.Name)
	router := "fwd"
	if l.KernelRouter {
		router = "kernel"
	}
	for _, s := range l.Segments {
		fmt.Fprintf(w, "  %s %-8s %-18s on %s in %s\n", router, s.Interface, s.Addr, s.Bridge, s.Netns)
	}
	for _, h := range l.Hosts {
		fmt.Fprintf(w, "  %-12s %-15s ip netns exec %s bash\n", h.Name, h.Addr, h.Netns)
	}
	if sock != "" {
		fmt.Fprintf(w, "control socket %s (fwd conntrack -L --socket %s); ", sock, sock)
	}
	fmt.Fprintln(w, "Ctrl-C takes the lab down")
}

// labDemo shows a person what fwd does in the lab, with the commands they
// could type themselves.
func labDemo(ctx context.Context, w io.Writer, l *lab.Lab, d *daemon) error {
	lanA, okA := l.Host("lan-a")
	lanB, okB := l.Host("lan-b")
	up, _ := l.Host("upstream")
	srv, _ := l.Host("server")
	if !okA || !okB {
		return errors.New("fwd lab run: the demonstration needs a LAN (an interface besides the default route's)")
	}
	var lanIf *config.Interface
	for i := range d.cfg.Interfaces {
		if d.cfg.Interfaces[i].Name == lanA.Interface {
			lanIf = &d.cfg.Interfaces[i]
		}
	}
	gw := lanIf.Addr.Addr()
	var wanAddr string
	for _, s := range l.Segments {
		if s.Upstream {
			wanAddr = s.Addr.Addr().String()
		}
	}
	fmt.Fprintf(w, "fwd lab %s: %s %s and %s %s behind fwd (%s), upstream router %s, server %s\n",
		l.Name, lanA.Name, lanA.Addr, lanB.Name, lanB.Addr, gw, up.Addr, srv.Addr)

	// Two web servers, run by this process inside the namespaces.
	stopSrv, err := serveHello(l, "server", ":80", "the server "+srv.Addr.String())
	if err != nil {
		return err
	}
	defer stopSrv()
	stopLan, err := serveHello(l, "lan-a", ":80", "lan-a "+lanA.Addr.String())
	if err != nil {
		return err
	}
	defer stopLan()

	section := func(title string) { fmt.Fprintf(w, "\n== %s\n", title) }
	cmd := func(host string, name string, args ...string) {
		fmt.Fprintf(w, "$ %s: %s %s\n", host, name, strings.Join(args, " "))
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		c := l.Command(cctx, host, name, args...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			fmt.Fprintf(w, "  %s\n", sc.Text())
		}
		if err != nil {
			fmt.Fprintf(w, "  (%v)\n", err)
		}
	}
	section("ping the gateway (fwd answers echo requests to its own address)")
	cmd("lan-a", "ping", "-c", "2", "-i", "0.2", "-w", "5", gw.String())
	section("ping the server through fwd (masqueraded to " + wanAddr + ")")
	cmd("lan-a", "ping", "-c", "2", "-i", "0.2", "-w", "5", srv.Addr.String())
	section("fetch a page from the server (it sees fwd's WAN address)")
	cmd("lan-a", "curl", "-sS", "--max-time", "5", "http://"+srv.Addr.String()+"/")
	section("traceroute: fwd is hop 1, the upstream router hop 2")
	cmd("lan-a", "traceroute", "-n", "-N", "1", "-q", "1", "-w", "3", "-m", "5", srv.Addr.String())
	section("the published port: " + wanAddr + ":8080 from the internet reaches lan-a's web server")
	cmd("server", "curl", "-sS", "--max-time", "5", "http://"+wanAddr+":8080/")
	section("telnet out of the LAN is rejected with a TCP reset")
	fmt.Fprintf(w, "$ lan-b: connect to %s port 23\n", srv.Addr)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := l.Dial(dctx, "lan-b", "tcp", net.JoinHostPort(srv.Addr.String(), "23"))
	cancel()
	if err == nil {
		c.Close()
		fmt.Fprintln(w, "  connected (the reject rule did not apply)")
	} else {
		fmt.Fprintf(w, "  %v\n", err)
	}
	section("fwd's connection table (fwd conntrack -L)")
	if ctDumper == nil {
		fmt.Fprintln(w, "  connection tracking is not built in")
		return nil
	}
	var tbl bytes.Buffer
	if err := ctDumper(d.env, &tbl, ""); err != nil {
		return err
	}
	w.Write(tbl.Bytes())
	return nil
}

// serveHello serves a one-line page in host's namespace until stop.
func serveHello(l *lab.Lab, host, addr, who string) (stop func(), err error) {
	ln, err := l.Listen(host, "tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s; you came from %s\n", who, r.RemoteAddr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
