package main

// Observability of the daemon: Prometheus metrics (on [control] metrics,
// and the "metrics" control command with `fwd metrics`), and where the
// rules' LOG target lines go (stderr or syslog, in the kernel's LOG
// format).
//
// Metric names follow node_exporter's conntrack collector
// (node_nf_conntrack_entries, ..._stat_found: gauges there, gauges here)
// with fwd_ for node_, and the nftables exporters' per-rule counters
// (labelled by table, chain, rule number, and the rule's name or comment,
// which Telegraf's nftables input needs to keep a rule).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/syslog"
	"strconv"
	"strings"

	"fwd/conntrack"
	"fwd/ctl"
	"fwd/flowtable"
	"fwd/ipfrag"
	"fwd/netio/tap"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() {
	register(&command{
		name: "metrics",
		summary: `print the daemon's metrics in the Prometheus text format
The same text is served over HTTP at /metrics when the configuration sets
[control] metrics = "127.0.0.1:9100".`,
		usage: "fwd metrics [--socket PATH]",
		run:   runMetrics,
	})
	ctlSetups = append(ctlSetups, func(d *daemon) {
		d.srv.Handle("metrics", func(req *ctl.Request, st *ctl.Stream) error {
			var b bytes.Buffer
			if err := writeMetricsText(&b, d); err != nil {
				return err
			}
			return st.Send(b.String())
		})
	})
}

// startMetrics serves the daemon's metrics on addr ([control] metrics).
func startMetrics(d *daemon, addr string) (*ctl.MetricsServer, error) {
	ms, err := ctl.ListenMetrics(addr, func() []ctl.Metric { return gatherMetrics(d) }, d.log)
	if err != nil {
		return nil, err
	}
	d.log.Info("metrics listening", "addr", ms.Addr().String())
	return ms, nil
}

// writeMetricsText writes the daemon's metrics in the text format.
func writeMetricsText(w io.Writer, d *daemon) error { return ctl.WriteMetrics(w, gatherMetrics(d)) }

// ctStatHelp describes conntrack -S's counters as node_exporter does.
var ctStatHelp = map[string]string{
	"found":          "Number of searched entries which were successful.",
	"invalid":        "Number of packets seen which can not be tracked.",
	"ignore":         "Number of packets seen which are already connected to a conntrack entry.",
	"insert":         "Number of entries inserted into the list.",
	"insert_failed":  "Number of entries for which list insertion was attempted but failed.",
	"drop":           "Number of packets dropped due to conntrack failure.",
	"early_drop":     "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
	"error":          "Number of packets the tracker could not handle (lookup loops, internal errors).",
	"search_restart": "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
	"clash_resolve":  "Number of insert clashes resolved in favour of the entry in the table.",
	"chaintoolong":   "Number of entries refused because their hash chain was too long.",
}

// gatherMetrics reads every counter of the daemon (atomics and
// snapshots: no datapath lock is held for long).
func gatherMetrics(d *daemon) []ctl.Metric {
	env, pl := d.env, d.pl
	var ms []ctl.Metric
	gauge := func(name, help string, v float64) {
		ms = append(ms, ctl.Metric{Name: name, Help: help, Type: ctl.Gauge, Samples: []ctl.Sample{{Value: v}}})
	}

	// Connection tracking, with node_exporter's names.
	if env.Lookup("conntrack.table") != nil {
		if t, err := conntrack.FromEnv(env); err == nil {
			st := t.Stats()
			gauge("fwd_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.", float64(st.Entries))
			gauge("fwd_nf_conntrack_entries_limit", "Maximum size of connection tracking table.", float64(st.Max))
			for _, c := range st.Counters() {
				help := ctStatHelp[c.Name]
				if help == "" {
					help = "conntrack -S " + c.Name + "."
				}
				gauge("fwd_nf_conntrack_stat_"+c.Name, help, float64(c.Value))
			}
		}
	}

	// Drops by reason: the runners' and the stages' own.
	snap := pl.Stats()
	for _, src := range extraDropSources {
		dr := src(env)
		for i := range dr {
			snap.Drops[i] += dr[i]
		}
	}
	drops := ctl.Metric{Name: "fwd_drops_total", Help: "Packets dropped, by reason.", Type: ctl.Counter}
	for i := 1; i < packet.NumDropReasons; i++ {
		drops.Samples = append(drops.Samples, ctl.Sample{Labels: ctl.L("reason", packet.DropReason(i).String()), Value: float64(snap.Drops[i])})
	}
	ctl.SortSamples(drops.Samples)
	ms = append(ms, drops)

	// Interfaces.
	ifp := ctl.Metric{Name: "fwd_interface_packets_total", Help: "Packets received (in) and sent (out) on each interface.", Type: ctl.Counter}
	for i, n := range d.interfaceNames() {
		if i < len(snap.IfIn) {
			ifp.Samples = append(ifp.Samples,
				ctl.Sample{Labels: ctl.L("interface", n, "direction", "in"), Value: float64(snap.IfIn[i])},
				ctl.Sample{Labels: ctl.L("interface", n, "direction", "out"), Value: float64(snap.IfOut[i])})
		}
	}
	ms = append(ms, ifp)

	// Rules: every rule's counters and every built-in chain's policy.
	if h, ok := env.Lookup(rules.SharedKey).(*rules.Holder); ok {
		ms = append(ms, ruleMetrics(h.Load())...)
	}

	// Fragment reassembly.
	if env.Lookup("ipfrag.reassembler") != nil {
		if r, err := ipfrag.FromEnv(env); err == nil {
			gauge("fwd_fragment_queue_memory_bytes", "Memory held by fragments waiting for reassembly.", float64(r.Memory()))
			gauge("fwd_fragment_queues", "Datagrams being reassembled.", float64(r.Queues()))
		}
	}

	// Other stages' counters (NAT, ...), as gauges named after them.
	for _, c := range extraCounters(env) {
		if strings.HasPrefix(c.Name, "conntrack.") || strings.HasPrefix(c.Name, "frag.") {
			continue // above, under their own names
		}
		gauge("fwd_"+metricName(c.Name), "fwd --stats counter "+c.Name+".", float64(c.Value))
	}

	// The flowtable's fast path.
	if ft, ok := env.Lookup(flowtable.CountersKey).(*flowtable.Stage); ok {
		pk, by := ft.Counters()
		ms = append(ms,
			ctl.Metric{Name: "fwd_flowtable_packets_total", Help: "Packets of offloaded connections that took the flowtable's fast path.", Type: ctl.Counter, Samples: []ctl.Sample{{Value: float64(pk)}}},
			ctl.Metric{Name: "fwd_flowtable_bytes_total", Help: "Bytes of offloaded connections that took the flowtable's fast path.", Type: ctl.Counter, Samples: []ctl.Sample{{Value: float64(by)}}})
		if t := ft.Table(); t != nil {
			gauge("fwd_flowtable_connections", "Connections on the flowtable's fast path (offloaded).", float64(t.Len()))
		}
	}

	// TAP queues: what the kernel's offloads did.
	if ds := d.devStats.Load(); ds != nil {
		ms = append(ms, tapMetrics(*ds))
	}

	// Tracing.
	if v, ok := tracers.Load(d); ok {
		t := v.(*tracer)
		ms = append(ms,
			ctl.Metric{Name: "fwd_trace_packets_total", Help: "Packets marked for fwd trace.", Type: ctl.Counter, Samples: []ctl.Sample{{Value: float64(t.marked.Load())}}},
			ctl.Metric{Name: "fwd_trace_events_lost_total", Help: "Trace events dropped because a client's buffer was full.", Type: ctl.Counter, Samples: []ctl.Sample{{Value: float64(t.lost.Load())}}})
	}
	return ms
}

// ruleMetrics are the per-rule and per-policy counters of a ruleset.
func ruleMetrics(rs *rules.Ruleset) []ctl.Metric {
	pk := ctl.Metric{Name: "fwd_rule_packets_total", Help: "Packets that matched a rule.", Type: ctl.Counter}
	by := ctl.Metric{Name: "fwd_rule_bytes_total", Help: "Bytes (IP datagram lengths) of the packets that matched a rule.", Type: ctl.Counter}
	ppk := ctl.Metric{Name: "fwd_chain_policy_packets_total", Help: "Packets that fell through a built-in chain to its policy.", Type: ctl.Counter}
	pby := ctl.Metric{Name: "fwd_chain_policy_bytes_total", Help: "Bytes of the packets that fell through a built-in chain to its policy.", Type: ctl.Counter}
	for t := rules.Table(0); int(t) < rules.NumTables; t++ {
		for _, c := range rs.Chains(t) {
			for _, r := range c.Rules {
				p, b := rs.Counters(r)
				name := r.Name
				if name == "" {
					name = r.Comment
				}
				ls := ctl.L("table", t.String(), "chain", c.Name, "rule", strconv.Itoa(r.Num), "comment", name, "action", r.Action)
				pk.Samples = append(pk.Samples, ctl.Sample{Labels: ls, Value: float64(p)})
				by.Samples = append(by.Samples, ctl.Sample{Labels: ls, Value: float64(b)})
			}
			if c.Builtin() {
				p, b := rs.PolicyCounters(c)
				ls := ctl.L("table", t.String(), "chain", c.Name, "policy", c.Policy.String())
				ppk.Samples = append(ppk.Samples, ctl.Sample{Labels: ls, Value: float64(p)})
				pby.Samples = append(pby.Samples, ctl.Sample{Labels: ls, Value: float64(b)})
			}
		}
	}
	return []ctl.Metric{pk, by, ppk, pby}
}

// metricName turns a --stats counter name ("nat.port_exhausted") into a
// metric name part.
func metricName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

func runMetrics(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("metrics", stderr)
	socket := fs.String("socket", defaultSocket, "control socket")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return ctlExit(ctl.Call(*socket, "metrics", nil, func(data json.RawMessage) error {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, s)
		return err
	}))
}

// logTargetWriter is where the rules' LOG target lines (kernel LOG
// format, one a line) go: stderr, or syslog (the kernel logs them under
// facility kern; a process logs as daemon, at warning, iptables' default
// level).
func logTargetWriter(target string, stderr io.Writer) (io.Writer, error) {
	switch target {
	case "", "stderr":
		return stderr, nil
	case "syslog":
		w, err := syslog.New(syslog.LOG_WARNING|syslog.LOG_DAEMON, "fwd")
		if err != nil {
			return nil, fmt.Errorf("--log-target syslog: %w", err)
		}
		return w, nil
	}
	return nil, &usageError{fmt.Sprintf("--log-target %q: want stderr or syslog", target)}
}

// setLogWriter makes w the rules' LOG sink; it must run before the first
// packet.
func setLogWriter(env *pipeline.Env, w io.Writer) {
	env.Shared(rules.LogWriterKey, func() (any, error) { return w, nil })
}

// deviceStats is one TAP queue's counters, under its interface's name.
type deviceStats struct {
	iface string
	queue int
	stats *tap.QueueStats
}

// tapMetrics is fwd_tap_frames_total: the frames each TAP queue read
// and wrote, and what the offloads did with them (super-frames read
// whole or cut into segments, datagrams merged on write, checksums
// completed, malformed frames dropped).
func tapMetrics(ds []deviceStats) ctl.Metric {
	m := ctl.Metric{Name: "fwd_tap_frames_total", Help: "Frames a TAP queue read and wrote, and what its offloads did with them, by kind.", Type: ctl.Counter}
	for _, d := range ds {
		st := d.stats
		q := strconv.Itoa(d.queue)
		for _, k := range []struct {
			kind string
			v    uint64
		}{
			{"read", st.ReadFrames.Load()},
			{"written", st.WriteFrames.Load()},
			{"gso_read", st.GSOFrames.Load()},
			{"gso_passed", st.Passed.Load()},
			{"segmented", st.Segments.Load()},
			{"coalesced", st.Coalesced.Load()},
			{"gso_written", st.SuperFrames.Load()},
			{"checksum_completed", st.CsumDone.Load()},
			{"malformed", st.BadFrames.Load()},
		} {
			m.Samples = append(m.Samples, ctl.Sample{Labels: ctl.L("interface", d.iface, "queue", q, "kind", k.kind), Value: float64(k.v)})
		}
	}
	return m
}
