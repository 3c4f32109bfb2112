package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"fwd/conntrack"
	"fwd/ctl"
	"fwd/netio/tap"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

// scrape parses a text exposition with the Prometheus parser into
// "name{label=value,...}" keys (labels in the parser's order) and types.
func scrape(t *testing.T, r io.Reader) (map[string]float64, map[string]string) {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses the scrape: %v", err)
	}
	vals, types := map[string]float64{}, map[string]string{}
	for name, f := range fams {
		types[name] = strings.ToLower(f.GetType().String())
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				vals[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				vals[key] = m.GetGauge().GetValue()
			}
		}
	}
	return vals, types
}

func TestMetrics(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	ms, err := startMetrics(d, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	resp, err := http.Get("http://" + ms.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	vals, types := scrape(t, bytes.NewReader(body))

	// Conntrack, with node_exporter's names, against the table itself.
	tab, err := conntrack.FromEnv(d.env)
	if err != nil {
		t.Fatal(err)
	}
	st := tab.Stats()
	if st.Entries == 0 || st.Found == 0 {
		t.Fatalf("the fixture made no connections: %+v", st)
	}
	ct := map[string]float64{
		"fwd_nf_conntrack_entries":             float64(st.Entries),
		"fwd_nf_conntrack_entries_limit":       65536,
		"fwd_nf_conntrack_stat_found":          float64(st.Found),
		"fwd_nf_conntrack_stat_invalid":        float64(st.Invalid),
		"fwd_nf_conntrack_stat_ignore":         float64(st.Ignore),
		"fwd_nf_conntrack_stat_insert":         float64(st.Insert),
		"fwd_nf_conntrack_stat_insert_failed":  float64(st.InsertFailed),
		"fwd_nf_conntrack_stat_drop":           float64(st.Drop),
		"fwd_nf_conntrack_stat_early_drop":     float64(st.EarlyDrop),
		"fwd_nf_conntrack_stat_search_restart": float64(st.SearchRestart),
	}
	for name, want := range ct {
		got, ok := vals[name]
		if !ok || got != want || types[name] != "gauge" {
			t.Errorf("%s = %v (present %v, %s), want %v", name, got, ok, types[name], want)
		}
	}

	// Every counter of fwd replay --stats shows under its metric: drops by
	// reason, interfaces in and out.
	checked := 0
	for _, c := range allCounters(d.env, d.pl, d.interfaceNames()) {
		var key string
		switch {
		case strings.HasPrefix(c.Name, "drop."):
			key = `fwd_drops_total{reason=` + strings.TrimPrefix(c.Name, "drop.") + `}`
		case strings.HasPrefix(c.Name, "if."):
			parts := strings.Split(c.Name, ".")
			key = "fwd_interface_packets_total{interface=" + parts[1] + ",direction=" + parts[2] + "}"
		case c.Name == "frag.memory":
			key = "fwd_fragment_queue_memory_bytes"
		case c.Name == "frag.queues":
			key = "fwd_fragment_queues"
		default:
			continue
		}
		if got, ok := vals[key]; !ok || got != float64(c.Value) {
			t.Errorf("%s = %v (present %v), --stats says %s %d", key, got, ok, c.Name, c.Value)
		}
		checked++
	}
	if checked < 6 || vals["fwd_interface_packets_total{interface=lan0,direction=in}"] == 0 || vals["fwd_drops_total{reason=ttl-expired}"] == 0 {
		t.Errorf("checked %d counters; the fixture should have interface traffic and drops", checked)
	}
	if _, ok := vals["fwd_drops_total{reason=ct-invalid}"]; !ok {
		t.Error("every drop reason has a series, zero or not: ct-invalid is missing")
	}
	if types["fwd_drops_total"] != "counter" || types["fwd_interface_packets_total"] != "counter" || types["fwd_rule_packets_total"] != "counter" {
		t.Errorf("types: %v", types)
	}

	// Per rule, labelled by table, chain, number, comment and action, equal
	// to the ruleset's counters; policies too.
	rs := d.env.Lookup(rules.SharedKey).(*rules.Holder).Load()
	r := rs.Rule(rules.TableFilter, "forward", 4)
	p, b := rs.Counters(r)
	if p == 0 {
		t.Fatal("forward rule 4 counted nothing in the fixture")
	}
	key := "{table=filter,chain=forward,rule=4,comment=,action=accept}"
	if vals["fwd_rule_packets_total"+key] != float64(p) || vals["fwd_rule_bytes_total"+key] != float64(b) {
		t.Errorf("forward rule 4: %v packets %v bytes, want %d %d", vals["fwd_rule_packets_total"+key], vals["fwd_rule_bytes_total"+key], p, b)
	}
	key = `{table=nat,chain=postrouting,rule=1,comment=hide the LAN behind the WAN address,action=masquerade}`
	if _, ok := vals["fwd_rule_packets_total"+key]; !ok {
		t.Errorf("no series for %s", key)
	}
	pp, _ := rs.PolicyCounters(rs.Chain(rules.TableFilter, "forward"))
	if vals["fwd_chain_policy_packets_total{table=filter,chain=forward,policy=drop}"] != float64(pp) {
		t.Errorf("forward policy: %v, want %d", vals["fwd_chain_policy_packets_total{table=filter,chain=forward,policy=drop}"], pp)
	}
	n := 0
	for k := range vals {
		if strings.HasPrefix(k, "fwd_rule_packets_total{") {
			n++
		}
	}
	if want := countRules(rs); n != want {
		t.Errorf("%d rule series, the ruleset has %d rules", n, want)
	}

	// The control command answers the same text (nothing ran in between).
	out, errs, code := run(t, "metrics", "--socket", sock)
	if code != 0 || out != string(body) {
		t.Errorf("fwd metrics: exit %d %s\n%s", code, errs, diff(string(body), out))
	}
}

func countRules(rs *rules.Ruleset) int {
	n := 0
	for tb := rules.Table(0); int(tb) < rules.NumTables; tb++ {
		for _, c := range rs.Chains(tb) {
			n += len(c.Rules)
		}
	}
	return n
}

// Trace counters move when a client traces.
func TestMetricsTrace(t *testing.T) {
	d, sock, _ := startTestDaemon(t)
	r := d.pl.NewRunner(discardSink{d.env.Pool})
	c := startTrace(t, d, sock, "-p", "udp", "--count", "2")
	sendPkt(d, r, udpPkt(lanA, server, 2000, 53, "a"), 0)
	sendPkt(d, r, udpPkt(lanA, server, 2001, 53, "a"), 0)
	c.collect(t)
	var b bytes.Buffer
	if err := writeMetricsText(&b, d); err != nil {
		t.Fatal(err)
	}
	vals, _ := scrape(t, &b)
	if vals["fwd_trace_packets_total"] != 2 {
		t.Errorf("fwd_trace_packets_total = %v", vals["fwd_trace_packets_total"])
	}
	if _, ok := vals["fwd_trace_events_lost_total"]; !ok {
		t.Error("no fwd_trace_events_lost_total")
	}
}

// The rules' log action writes kernel LOG lines to the daemon's log
// target, not through slog.
func TestLogTarget(t *testing.T) {
	var stderr bytes.Buffer
	w, err := logTargetWriter("stderr", &stderr)
	if err != nil || w != io.Writer(&stderr) {
		t.Fatalf("stderr: %v %v", w, err)
	}
	if _, err := logTargetWriter("kmsg", &stderr); err == nil {
		t.Error("an unknown target was accepted")
	}
	if _, _, code := run(t, "run", "-c", "../../configs/lab.toml", "--log-target", "kmsg"); code != 2 {
		t.Errorf("fwd run --log-target kmsg: exit %d, want 2", code)
	}

	cfg, err := loadConfig("../../configs/lab.toml")
	if err != nil {
		t.Fatal(err)
	}
	var slogged bytes.Buffer
	env, err := newEnv(cfg, &pipeline.Virtual{}, slog.New(slog.NewTextHandler(&slogged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	setLogWriter(env, w)
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Cleanup()
	r := pl.NewRunner(discardSink{env.Pool})
	for i := 0; i < 3; i++ {
		p := env.Pool.Get()
		p.Load(udpPkt(server, lanA, 5555, uint16(9000+i), "x"))
		p.InIf = 1
		r.Run([]*packet.Packet{p})
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d LOG lines, want 3:\n%s", len(lines), stderr.String())
	}
	for i, l := range lines {
		want := "fwd-drop: IN=wan0 OUT=lan0 MAC= SRC=198.51.100.20 DST=192.168.1.10 LEN=29 "
		if !strings.HasPrefix(l, want) || !strings.HasSuffix(l, "PROTO=UDP SPT=5555 DPT="+strconv.Itoa(9000+i)+" LEN=9") {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if strings.Contains(slogged.String(), "fwd-drop") {
		t.Errorf("LOG lines went through slog too: %s", slogged.String())
	}
}

// fwd_tap_frames_total has a sample per interface, queue and kind, with
// the queue's counters, and passes the exposition format's parser.
func TestTAPMetrics(t *testing.T) {
	var lan, wan tap.QueueStats
	lan.ReadFrames.Add(10)
	lan.GSOFrames.Add(2)
	lan.Segments.Add(7)
	wan.WriteFrames.Add(9)
	wan.Coalesced.Add(5)
	wan.SuperFrames.Add(1)
	m := tapMetrics([]deviceStats{{iface: "lan0", stats: &lan}, {iface: "wan0", queue: 1, stats: &wan}})
	var b bytes.Buffer
	if err := ctl.WriteMetrics(&b, []ctl.Metric{m}); err != nil {
		t.Fatal(err)
	}
	vals, types := scrape(t, &b)
	for name, want := range map[string]float64{
		`fwd_tap_frames_total{interface=lan0,queue=0,kind=read}`:        10,
		`fwd_tap_frames_total{interface=lan0,queue=0,kind=gso_read}`:    2,
		`fwd_tap_frames_total{interface=lan0,queue=0,kind=segmented}`:   7,
		`fwd_tap_frames_total{interface=wan0,queue=1,kind=written}`:     9,
		`fwd_tap_frames_total{interface=wan0,queue=1,kind=coalesced}`:   5,
		`fwd_tap_frames_total{interface=wan0,queue=1,kind=gso_written}`: 1,
		`fwd_tap_frames_total{interface=wan0,queue=1,kind=malformed}`:   0,
	} {
		if got, ok := vals[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if types["fwd_tap_frames_total"] != "counter" {
		t.Errorf("type %q", types["fwd_tap_frames_total"])
	}
}
