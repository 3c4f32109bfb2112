package ctl

// Prometheus text exposition (format 0.0.4) of fwd's counters, and the
// small HTTP server `fwd run` starts on [control] metrics. The same text
// is the answer of the "metrics" control command.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Metric types of the text format.
const (
	Counter = "counter"
	Gauge   = "gauge"
)

// Label is one label pair of a sample.
type Label struct{ Name, Value string }

// Sample is one value of a metric family, with its labels.
type Sample struct {
	Labels []Label
	Value  float64
}

// Metric is a metric family: one HELP and TYPE line, then its samples.
type Metric struct {
	Name    string
	Help    string
	Type    string // Counter or Gauge
	Samples []Sample
}

// L makes a label list from name, value pairs.
func L(pairs ...string) []Label {
	ls := make([]Label, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ls = append(ls, Label{pairs[i], pairs[i+1]})
	}
	return ls
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == ':' && colon:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// formatValue prints integers exactly and everything else as Go's
// shortest float, with the format's spellings of the special values.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WriteMetrics writes families in the Prometheus text format. Family
// names must be unique and valid, label names valid; an invalid one is an
// error and nothing after it is written.
func WriteMetrics(w io.Writer, ms []Metric) error {
	bw := bufio.NewWriter(w)
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if !validName(m.Name, true) || seen[m.Name] {
			return fmt.Errorf("ctl: bad or repeated metric name %q", m.Name)
		}
		seen[m.Name] = true
		if m.Type != Counter && m.Type != Gauge {
			return fmt.Errorf("ctl: metric %s: type %q", m.Name, m.Type)
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", m.Name, helpEscaper.Replace(m.Help), m.Name, m.Type)
		for _, s := range m.Samples {
			bw.WriteString(m.Name)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if !validName(l.Name, false) || strings.HasPrefix(l.Name, "__") {
						return fmt.Errorf("ctl: metric %s: bad label name %q", m.Name, l.Name)
					}
					if i > 0 {
						bw.WriteByte(',')
					}
					fmt.Fprintf(bw, "%s=\"%s\"", l.Name, labelEscaper.Replace(l.Value))
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// SortSamples orders a family's samples by their label values, so scrapes
// are stable.
func SortSamples(ss []Sample) {
	key := func(s Sample) string {
		var b strings.Builder
		for _, l := range s.Labels {
			b.WriteString(l.Value)
			b.WriteByte(0)
		}
		return b.String()
	}
	sort.SliceStable(ss, func(i, j int) bool { return key(ss[i]) < key(ss[j]) })
}

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// MetricsServer serves GET /metrics over HTTP.
type MetricsServer struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// ListenMetrics serves gather's families at http://addr/metrics until
// Close. gather runs on the HTTP server's goroutine for each scrape and
// must read the datapath's state only through atomics and snapshots.
func ListenMetrics(addr string, gather func() []Metric, log *slog.Logger) (*MetricsServer, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		if err := WriteMetrics(w, gather()); err != nil {
			log.Error("metrics: writing a scrape", "err", err)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "fwd metrics: /metrics\n")
	})
	m := &MetricsServer{ln: ln, log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: server stopped", "err", err)
		}
	}()
	return m, nil
}

// Addr is the address the server listens on (for ":0" in tests).
func (m *MetricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops the server, waiting briefly for scrapes in progress.
func (m *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}
