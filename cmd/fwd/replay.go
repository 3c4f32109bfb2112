package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/netio/capture"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"
)

func init() {
	register(&command{
		name: "replay",
		summary: `run a capture through the pipeline offline
The clock is each packet's capture timestamp. A packet's ingress interface is
the pcapng interface name when it names a configured interface, else --iface,
else the interface whose subnet holds the source address, else the interface
of the route back to the source. The output is pcapng with one interface per
configured interface, each packet as raw IPv4 on its egress interface.`,
		usage: "fwd replay -c CONFIG -r IN -w OUT [--ct-dump FILE] [--advance DUR] [--trace] [--stats] [--iface NAME]",
		run:   runReplay,
	})
}

// replayOptions are replay's flags.
type replayOptions struct {
	config, in, out, ctDump, iface string
	advance                        time.Duration
	trace, stats                   bool
}

func runReplay(args []string, stdout, stderr io.Writer) error {
	var o replayOptions
	fs := newFlags("replay", stderr)
	fs.StringVar(&o.config, "c", "", "configuration file")
	fs.StringVar(&o.in, "r", "", "capture to read (pcap or pcapng)")
	fs.StringVar(&o.out, "w", "", "pcapng file to write")
	fs.StringVar(&o.ctDump, "ct-dump", "", "write the final conntrack table here (JSON when the name ends in .json)")
	fs.StringVar(&o.iface, "iface", "", "ingress interface for packets the capture does not place")
	fs.DurationVar(&o.advance, "advance", 0, "move the clock on by this much after the last packet")
	fs.BoolVar(&o.trace, "trace", false, "print each stage's decision for every packet")
	fs.BoolVar(&o.stats, "stats", false, "print counters as 'name value' lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.config == "" || o.in == "" {
		return &usageError{"-c CONFIG and -r IN are required"}
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return replay(cfg, o, stdout)
}

// replaySink writes delivered packets to the output capture.
type replaySink struct {
	cfg   *config.Config
	w     *capture.Writer
	pool  *packet.Pool
	clock pipeline.Clock
	err   error
}

func (s *replaySink) Deliver(pkt *packet.Packet) {
	if s.w != nil && s.err == nil {
		name := s.cfg.Interfaces[pkt.OutIf].Name
		ts := time.Unix(0, s.clock.Now())
		for _, frag := range egressFragments(s.cfg, pkt) {
			if err := s.w.Write(name, ts, frag); err != nil {
				s.err = err
			}
		}
	}
	s.pool.Put(pkt)
}

func (s *replaySink) Discard(pkt *packet.Packet, v pipeline.Verdict) { s.pool.Put(pkt) }

// egressFragments returns the datagram as it leaves: whole, or cut to the
// egress MTU by the refragmenter when one is linked in.
func egressFragments(cfg *config.Config, pkt *packet.Packet) [][]byte {
	mtu := cfg.Interfaces[pkt.OutIf].MTU
	if refragment != nil && (len(pkt.Data) > mtu || (pkt.MaxFrag != 0 && len(pkt.Data) > int(pkt.MaxFrag))) {
		if frags := refragment(pkt, mtu); frags != nil {
			return frags
		}
	}
	return [][]byte{pkt.Data}
}

// refragment cuts a datagram to the egress MTU (set by the ipfrag wiring).
var refragment func(pkt *packet.Packet, mtu int) [][]byte

// envSetups run on a new environment before the pipeline is built (icmperr
// installs its Rejecter).
var envSetups []func(env *pipeline.Env) error

// ctDumpers write the conntrack table (set by the conntrack wiring).
var ctDumper func(env *pipeline.Env, w io.Writer, format string) error

func newEnv(cfg *config.Config, clock pipeline.Clock, log *slog.Logger) (*pipeline.Env, error) {
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool(), Log: log}
	for _, s := range envSetups {
		if err := s(env); err != nil {
			return nil, err
		}
	}
	return env, nil
}

func replay(cfg *config.Config, o replayOptions, stdout io.Writer) error {
	rd, err := capture.Open(o.in)
	if err != nil {
		return err
	}
	defer rd.Close()

	clock := &pipeline.Virtual{}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env, err := newEnv(cfg, clock, log)
	if err != nil {
		return err
	}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		return err
	}
	defer pl.Cleanup()

	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	if o.trace {
		pl.Trace = func(pkt *packet.Packet, stage string, v pipeline.Verdict, note string) {
			fmt.Fprintf(bw, "trace %d %s %s", pkt.Meta, stage, v)
			if v == pipeline.Drop || v == pipeline.Reject {
				fmt.Fprintf(bw, " reason=%s", pkt.Drop)
			}
			if note != "" {
				fmt.Fprintf(bw, " %s", note)
			}
			fmt.Fprintln(bw)
		}
	}

	names := ifNames(cfg)
	sink := &replaySink{cfg: cfg, pool: env.Pool, clock: clock}
	if o.out != "" {
		w, err := capture.Create(o.out, names)
		if err != nil {
			return err
		}
		sink.w = w
	}
	runner := pl.NewRunner(sink)
	table, err := router.NewTable(cfg)
	if err != nil {
		return err
	}
	fixedIf := packet.NoIf
	if o.iface != "" {
		ifc := cfg.Interface(o.iface)
		if ifc == nil {
			return &usageError{fmt.Sprintf("--iface %q is not a configured interface (have %s)", o.iface, strings.Join(names, ", "))}
		}
		fixedIf = int16(ifc.Index)
	}

	batch := make([]*packet.Packet, 1)
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: packet %d: %w", o.in, rec.Index+1, err)
		}
		clock.Set(rec.Timestamp.UnixNano())
		inIf := ingressIf(cfg, table, rec, fixedIf)
		if !rec.IPv4 {
			runner.CountDrop(inIf, packet.DropNotIPv4)
			if o.trace {
				fmt.Fprintf(bw, "trace %d not IPv4 (%d bytes): drop not-ipv4\n", rec.Index, len(rec.Data))
			}
			continue
		}
		pkt := env.Pool.Get()
		pkt.Load(rec.Data)
		pkt.InIf = inIf
		pkt.Timestamp = rec.Timestamp.UnixNano()
		pkt.LinkBroadcast = rec.Broadcast
		pkt.Meta = uint64(rec.Index)
		pkt.Trace = o.trace
		if o.trace {
			fmt.Fprintf(bw, "trace %d in=%s %s\n", rec.Index, ifName(cfg, inIf), describe(rec.Data))
		}
		batch[0] = pkt
		runner.Run(batch)
		runner.Tick()
	}
	if o.advance > 0 {
		clock.Advance(o.advance)
		runner.Tick()
	}
	if sink.w != nil {
		if err := sink.w.Close(); err != nil {
			return err
		}
		if sink.err != nil {
			return sink.err
		}
	}
	if o.ctDump != "" {
		if err := dumpConntrack(env, o.ctDump); err != nil {
			return err
		}
	}
	if o.stats {
		pipeline.WriteCounters(bw, allCounters(env, pl, ifNames(env.Config)))
	}
	return nil
}

// extraCounterSources add stage counters to --stats (conntrack, frag).
var extraCounterSources []func(env *pipeline.Env) []pipeline.Counter

// extraDropSources add drops counted outside the runner (fragments that
// expired or were evicted while held, ICMP errors the rate limit
// suppressed) to the drop.REASON counters.
var extraDropSources []func(env *pipeline.Env) [packet.NumDropReasons]uint64

// allCounters is every counter of a pipeline: drops by reason (the
// runners' and the stages' own), interfaces, then stage gauges.
func allCounters(env *pipeline.Env, pl *pipeline.Pipeline, ifs []string) []pipeline.Counter {
	snap := pl.Stats()
	for _, src := range extraDropSources {
		d := src(env)
		for i := range d {
			snap.Drops[i] += d[i]
		}
	}
	return append(snap.Counters(ifs), extraCounters(env)...)
}

func extraCounters(env *pipeline.Env) []pipeline.Counter {
	var out []pipeline.Counter
	for _, f := range extraCounterSources {
		out = append(out, f(env)...)
	}
	return out
}

func dumpConntrack(env *pipeline.Env, path string) error {
	if ctDumper == nil {
		return fmt.Errorf("--ct-dump: connection tracking is not built in")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	format := ""
	if strings.HasSuffix(path, ".json") {
		format = "json"
	}
	if err := ctDumper(env, f, format); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ifNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Interfaces))
	for i, ifc := range cfg.Interfaces {
		names[i] = ifc.Name
	}
	return names
}

func ifName(cfg *config.Config, i int16) string {
	if i < 0 || int(i) >= len(cfg.Interfaces) {
		return "-"
	}
	return cfg.Interfaces[i].Name
}

// ingressIf places a record on an interface: the pcapng interface name when
// it names a configured interface, else fixed (--iface), else the interface
// whose subnet holds the source, else the interface of the route back to
// the source (reverse path).
func ingressIf(cfg *config.Config, table *router.Table, rec capture.Record, fixed int16) int16 {
	if rec.IfName != "" {
		if ifc := cfg.Interface(rec.IfName); ifc != nil {
			return int16(ifc.Index)
		}
	}
	if fixed != packet.NoIf {
		return fixed
	}
	if !rec.IPv4 || len(rec.Data) < header.IPv4MinSize {
		return packet.NoIf
	}
	src := header.IPv4(rec.Data).SourceAddress()
	for _, ifc := range cfg.Interfaces {
		if ifc.Addr.Masked().Contains(header.IPv4(rec.Data).Src()) {
			return int16(ifc.Index)
		}
	}
	if r := table.Lookup(src); r != nil && !r.Local {
		return int16(r.Dev)
	}
	return packet.NoIf
}

// describe is a one-line summary of a datagram for traces.
func describe(b []byte) string {
	var p packet.Parsed
	if p.Decode(b) == 0 {
		return fmt.Sprintf("malformed (%s) %d bytes", p.Reason, len(b))
	}
	src, dst := fmt.Sprint(p.Src[0], ".", p.Src[1], ".", p.Src[2], ".", p.Src[3]), fmt.Sprint(p.Dst[0], ".", p.Dst[1], ".", p.Dst[2], ".", p.Dst[3])
	switch p.Proto {
	case packet.TCP:
		return fmt.Sprintf("tcp %s:%d > %s:%d flags %s seq %d ack %d win %d len %d", src, p.SrcPort, dst, p.DstPort, tcpFlags(p.TCPFlags), p.Seq, p.Ack, p.Window, p.Length)
	case packet.UDP:
		return fmt.Sprintf("udp %s:%d > %s:%d len %d", src, p.SrcPort, dst, p.DstPort, p.Length)
	case packet.ICMP:
		return fmt.Sprintf("icmp %s > %s type %d code %d id %d len %d", src, dst, p.ICMPType, p.ICMPCode, p.ICMPID, p.Length)
	case packet.Fragment:
		return fmt.Sprintf("fragment proto %d %s > %s id %d off %d mf %t len %d", p.IPProto, src, dst, p.ID, int(p.FragOff&0x1fff)*8, p.FragOff&header.IPv4FlagMF != 0, p.Length)
	}
	return fmt.Sprintf("proto %d %s > %s len %d", p.IPProto, src, dst, p.Length)
}

func tcpFlags(f uint8) string {
	const names = "FSRPAUEC"
	var b []byte
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			b = append(b, names[i])
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}
