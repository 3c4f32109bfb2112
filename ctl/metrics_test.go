package ctl

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseText parses a scrape with the Prometheus text parser, strictly
// (legacy names: what every Prometheus version accepts).
func parseText(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses the scrape: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			default:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

func TestWriteMetrics(t *testing.T) {
	ms := []Metric{
		{Name: "fwd_x_total", Help: "A help with a \\ backslash\nand a newline.", Type: Counter, Samples: []Sample{
			{Labels: L("comment", `say "hi"\n`+"\nthere", "rule", "3"), Value: 12345678901},
			{Labels: L("comment", "", "rule", "4"), Value: 0},
		}},
		{Name: "fwd_g", Help: "g", Type: Gauge, Samples: []Sample{{Value: 0.25}, {Labels: L("k", "inf"), Value: math.Inf(1)}}},
		{Name: "fwd_empty", Help: "no samples yet", Type: Gauge},
	}
	var b bytes.Buffer
	if err := WriteMetrics(&b, ms); err != nil {
		t.Fatal(err)
	}
	want := `# HELP fwd_x_total A help with a \\ backslash\nand a newline.
# TYPE fwd_x_total counter
fwd_x_total{comment="say \"hi\"\\n\nthere",rule="3"} 12345678901
fwd_x_total{comment="",rule="4"} 0
# HELP fwd_g g
# TYPE fwd_g gauge
fwd_g 0.25
fwd_g{k="inf"} +Inf
# HELP fwd_empty no samples yet
# TYPE fwd_empty gauge
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	got := parseText(t, strings.NewReader(b.String()))
	if got["fwd_x_total,comment=say \"hi\"\\n\nthere,rule=3"] != 12345678901 || got["fwd_g"] != 0.25 || !math.IsInf(got["fwd_g,k=inf"], 1) {
		t.Errorf("parsed back: %v", got)
	}

	bad := [][]Metric{
		{{Name: "1abc", Type: Gauge}},
		{{Name: "a-b", Type: Gauge}},
		{{Name: "a", Type: "histogram"}},
		{{Name: "a", Type: Gauge}, {Name: "a", Type: Gauge}},
		{{Name: "a", Type: Gauge, Samples: []Sample{{Labels: L("bad-label", "x")}}}},
		{{Name: "a", Type: Gauge, Samples: []Sample{{Labels: L("__reserved", "x")}}}},
	}
	for _, m := range bad {
		if err := WriteMetrics(io.Discard, m); err == nil {
			t.Errorf("%+v: accepted", m)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		want string
	}{
		{"zero", 0, "0"},
		{"int", 42, "42"},
		{"big int", 1 << 52, "4503599627370496"},
		{"negative", -3, "-3"},
		{"fraction", 0.5, "0.5"},
		{"huge", 1e300, "1e+300"},
		{"nan", math.NaN(), "NaN"},
		{"-inf", math.Inf(-1), "-Inf"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMetricsServer(t *testing.T) {
	n := 0.0
	ms, err := ListenMetrics("127.0.0.1:0", func() []Metric {
		n++
		return []Metric{{Name: "fwd_scrapes", Help: "scrapes", Type: Counter, Samples: []Sample{{Value: n}}}}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	url := "http://" + ms.Addr().String()
	for want := 1.0; want <= 2; want++ {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			t.Errorf("content type %q", ct)
		}
		got := parseText(t, resp.Body)
		resp.Body.Close()
		if got["fwd_scrapes"] != want {
			t.Errorf("scrape %v: %v", want, got)
		}
	}
	resp, err := http.Post(url+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	resp, err = http.Get(url + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nothing: %s", resp.Status)
	}
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url + "/metrics"); err == nil {
		t.Error("still serving after Close")
	}
	if _, err := ListenMetrics("127.0.0.1:notaport", nil, nil); err == nil {
		t.Error("a bad address was accepted")
	}
}
