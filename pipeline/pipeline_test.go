package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// fnStage is a test stage whose behaviour is a function.
type fnStage struct {
	name string
	fn   func(*packet.Packet) pipeline.Verdict
	hook packet.Hook
}

func (s *fnStage) Name() string                              { return s.name }
func (s *fnStage) Process(p *packet.Packet) pipeline.Verdict { return s.fn(p) }

var testStages = map[string]func(*packet.Packet) pipeline.Verdict{}

// register makes a test stage module under id whose Process calls fn.
func register(id string, fn func(*packet.Packet) pipeline.Verdict) {
	if _, ok := pipeline.Lookup(id); ok {
		testStages[id] = fn
		return
	}
	testStages[id] = fn
	pipeline.Register(testModule(id))
}

type testModule string

func (m testModule) Module() pipeline.ModuleInfo {
	id := string(m)
	return pipeline.ModuleInfo{ID: id, New: func() pipeline.Module {
		return &fnStage{name: id[strings.LastIndexByte(id, '.')+1:], fn: func(p *packet.Packet) pipeline.Verdict { return testStages[id](p) }}
	}}
}

func (s *fnStage) Module() pipeline.ModuleInfo { return testModule("stage.test." + s.name).Module() }

// sink records what the runner hands out.
type sink struct {
	delivered []*packet.Packet
	discarded []pipeline.Verdict
}

func (s *sink) Deliver(p *packet.Packet)                     { s.delivered = append(s.delivered, p) }
func (s *sink) Discard(p *packet.Packet, v pipeline.Verdict) { s.discarded = append(s.discarded, v) }

func testEnv() *pipeline.Env {
	cfg := config.Default()
	cfg.Interfaces = []config.Interface{{Name: "lan0"}, {Name: "wan0", Index: 1}}
	return &pipeline.Env{Config: cfg, Clock: pipeline.NewVirtual(time.Unix(0, 0)), Pool: packet.NewPool()}
}

func TestVerdicts(t *testing.T) {
	var seen []string
	rec := func(name string, v pipeline.Verdict) func(*packet.Packet) pipeline.Verdict {
		return func(p *packet.Packet) pipeline.Verdict {
			seen = append(seen, fmt.Sprintf("%s:%s", p.Hook, name))
			return v
		}
	}
	route := func(p *packet.Packet) pipeline.Verdict {
		seen = append(seen, "route")
		p.Hook = packet.Forward
		p.OutIf = 1
		return pipeline.Continue
	}
	tests := []struct {
		name      string
		stages    map[string]func(*packet.Packet) pipeline.Verdict
		want      string
		delivered int
		drop      packet.DropReason
	}{
		{
			name:      "continue to postrouting",
			stages:    map[string]func(*packet.Packet) pipeline.Verdict{"a": rec("a", pipeline.Continue), "f": rec("f", pipeline.Continue), "p": rec("p", pipeline.Continue)},
			want:      "prerouting:a route forward:f forward:f2 postrouting:p",
			delivered: 1,
		},
		{
			name:   "drop counts other when no reason",
			stages: map[string]func(*packet.Packet) pipeline.Verdict{"a": rec("a", pipeline.Drop), "f": rec("f", pipeline.Continue), "p": rec("p", pipeline.Continue)},
			want:   "prerouting:a",
			drop:   packet.DropOther,
		},
		{
			name:      "accept skips the rest of the hook only",
			stages:    map[string]func(*packet.Packet) pipeline.Verdict{"a": rec("a", pipeline.Continue), "f": rec("f", pipeline.Accept), "p": rec("p", pipeline.Continue)},
			want:      "prerouting:a route forward:f postrouting:p",
			delivered: 1,
		},
		{
			name: "drop with a reason",
			stages: map[string]func(*packet.Packet) pipeline.Verdict{"a": rec("a", pipeline.Continue), "f": func(p *packet.Packet) pipeline.Verdict {
				seen = append(seen, "forward:f")
				p.Drop = packet.DropPolicy
				return pipeline.Drop
			}, "p": rec("p", pipeline.Continue)},
			want: "prerouting:a route forward:f",
			drop: packet.DropPolicy,
		},
		{
			name:   "stolen is not counted",
			stages: map[string]func(*packet.Packet) pipeline.Verdict{"a": rec("a", pipeline.Stolen), "f": rec("f", pipeline.Continue), "p": rec("p", pipeline.Continue)},
			want:   "prerouting:a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			for k, fn := range tt.stages {
				register("stage.test."+k, fn)
			}
			register("stage.test.route", route)
			register("stage.test.f2", rec("f2", pipeline.Continue))
			order := []pipeline.Slot{
				{Hook: packet.Prerouting, ID: "stage.test.a"},
				{Hook: packet.Prerouting, ID: "stage.test.route"},
				{Hook: packet.Input, ID: "stage.test.a"},
				{Hook: packet.Forward, ID: "stage.test.f"},
				{Hook: packet.Forward, ID: "stage.test.f2"},
				{Hook: packet.Postrouting, ID: "stage.test.p"},
			}
			env := testEnv()
			pl, err := pipeline.Build(env, order)
			if err != nil {
				t.Fatal(err)
			}
			s := &sink{}
			r := pl.NewRunner(s)
			p := env.Pool.Get()
			p.InIf = 0
			r.Run([]*packet.Packet{p})
			if got := strings.Join(seen, " "); got != tt.want {
				t.Errorf("stages run: got %q, want %q", got, tt.want)
			}
			if len(s.delivered) != tt.delivered {
				t.Errorf("delivered %d, want %d", len(s.delivered), tt.delivered)
			}
			snap := pl.Stats()
			for i, v := range snap.Drops {
				want := uint64(0)
				if tt.drop != packet.DropNone && packet.DropReason(i) == tt.drop {
					want = 1
				}
				if v != want {
					t.Errorf("drop.%s = %d, want %d", packet.DropReason(i), v, want)
				}
			}
			if snap.IfIn[0] != 1 {
				t.Errorf("if.lan0.in = %d, want 1", snap.IfIn[0])
			}
			if want := uint64(tt.delivered); snap.IfOut[1] != want {
				t.Errorf("if.wan0.out = %d, want %d", snap.IfOut[1], want)
			}
		})
	}
}

func TestUnknownModuleListsKnown(t *testing.T) {
	register("stage.test.known", func(p *packet.Packet) pipeline.Verdict { return pipeline.Continue })
	_, err := pipeline.New("stage.test.nope")
	if err == nil || !strings.Contains(err.Error(), "stage.test.known") {
		t.Fatalf("error %v does not list known modules", err)
	}
}

// injector stage: the reject path answers with a packet that runs from
// OUTPUT and is delivered.
func TestRejectInjectsAnswer(t *testing.T) {
	register("stage.test.rej", func(p *packet.Packet) pipeline.Verdict {
		if p.Local {
			return pipeline.Continue
		}
		p.Drop = packet.DropReject
		return pipeline.Reject
	})
	register("stage.test.outroute", func(p *packet.Packet) pipeline.Verdict {
		if p.Hook == packet.Output {
			p.OutIf = 0
		}
		return pipeline.Continue
	})
	env := testEnv()
	var answered int
	env.Rejecter = func(p *packet.Packet, out pipeline.Injector) {
		answered++
		a := out.NewPacket()
		a.Load([]byte{0x45})
		out.Inject(a)
	}
	order := []pipeline.Slot{
		{Hook: packet.Prerouting, ID: "stage.test.rej"},
		{Hook: packet.Output, ID: "stage.test.outroute"},
		{Hook: packet.Output, ID: "stage.test.rej"},
	}
	pl, err := pipeline.Build(env, order)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	r := pl.NewRunner(s)
	r.Run([]*packet.Packet{env.Pool.Get()})
	if answered != 1 || len(s.delivered) != 1 || !s.delivered[0].Local {
		t.Fatalf("answered %d delivered %d", answered, len(s.delivered))
	}
	if got := pl.Stats().Drops[packet.DropReject]; got != 1 {
		t.Fatalf("drop.reject = %d", got)
	}
}

// An answer that provokes an answer forever is cut off at a small depth.
func TestInjectDepthBounded(t *testing.T) {
	env := testEnv()
	register("stage.test.loop", func(p *packet.Packet) pipeline.Verdict { return pipeline.Reject })
	env.Rejecter = func(p *packet.Packet, out pipeline.Injector) { out.Inject(out.NewPacket()) }
	pl, err := pipeline.Build(env, []pipeline.Slot{{Hook: packet.Prerouting, ID: "stage.test.loop"}, {Hook: packet.Output, ID: "stage.test.loop"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	pl.NewRunner(s).Run([]*packet.Packet{env.Pool.Get()})
	if n := len(s.discarded); n < 2 || n > 10 {
		t.Fatalf("discarded %d packets; the loop was not bounded sensibly", n)
	}
}

func TestVirtualClockNeverGoesBack(t *testing.T) {
	c := pipeline.NewVirtual(time.Unix(100, 0))
	c.Set(int64(50 * time.Second))
	if c.Now() != int64(100*time.Second) {
		t.Fatalf("clock went back to %d", c.Now())
	}
	c.Advance(2 * time.Hour)
	if c.Now() != int64(100*time.Second+2*time.Hour) {
		t.Fatalf("advance: %d", c.Now())
	}
}

type nopSink struct{}

func (nopSink) Deliver(*packet.Packet)                   {}
func (nopSink) Discard(*packet.Packet, pipeline.Verdict) {}

func benchPipeline(tb testing.TB, stages int) (*pipeline.Runner, []*packet.Packet) {
	register("stage.test.nop", func(p *packet.Packet) pipeline.Verdict { return pipeline.Continue })
	register("stage.test.fwd", func(p *packet.Packet) pipeline.Verdict {
		p.Hook = packet.Forward
		p.OutIf = 1
		return pipeline.Continue
	})
	order := []pipeline.Slot{{Hook: packet.Prerouting, ID: "stage.test.fwd"}}
	for i := 1; i < stages; i++ {
		order = append(order, pipeline.Slot{Hook: packet.Forward, ID: "stage.test.bench_nop"})
	}
	env := testEnv()
	pl, err := pipeline.Build(env, order)
	if err != nil {
		tb.Fatal(err)
	}
	r := pl.NewRunner(nopSink{})
	batch := make([]*packet.Packet, 32)
	for i := range batch {
		batch[i] = env.Pool.Get()
		batch[i].InIf = 0
	}
	return r, batch
}

func TestRunnerAllocatesNothing(t *testing.T) {
	r, batch := benchPipeline(t, 8)
	r.Run(batch)
	if n := testing.AllocsPerRun(200, func() { r.Run(batch) }); n != 0 {
		t.Fatalf("Run allocates %.1f times per batch", n)
	}
}

// BenchmarkRunner measures the runner's own cost: ns/op is per packet
// through all stages; divide by the stage count for the per-stage cost.
func BenchmarkRunner(b *testing.B) {
	for _, n := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("stages=%d", n), func(b *testing.B) {
			r, batch := benchPipeline(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(batch) {
				r.Run(batch)
			}
		})
	}
}

// nopStage is a stage that does nothing, to measure the runner alone.
type nopStage struct{}

func (nopStage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test.bench_nop", New: func() pipeline.Module { return nopStage{} }}
}
func (nopStage) Name() string                            { return "nop" }
func (nopStage) Process(*packet.Packet) pipeline.Verdict { return pipeline.Continue }

func init() { pipeline.Register(nopStage{}) }

type reloadProbe struct {
	fail      bool
	committed *int
}

func (r reloadProbe) PrepareReload(cfg *config.Config) (func(), error) {
	if r.fail {
		return nil, fmt.Errorf("refused")
	}
	return func() { *r.committed++ }, nil
}

// A reload commits everywhere or nowhere.
func TestReloadAllOrNothing(t *testing.T) {
	env := testEnv()
	pl, err := pipeline.Build(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	env.AddReloader("a", reloadProbe{committed: &n})
	env.AddReloader("a", reloadProbe{fail: true, committed: &n}) // same key: ignored
	old := env.Config
	if err := pl.Reload(config.Default()); err != nil || n != 1 || env.Config == old {
		t.Fatalf("good reload: err %v commits %d", err, n)
	}
	env.AddReloader("b", reloadProbe{fail: true, committed: &n})
	cur := env.Config
	if err := pl.Reload(config.Default()); err == nil || n != 1 || env.Config != cur {
		t.Fatalf("failed reload changed state: err %v commits %d", err, n)
	}
}

// Making a shared value may make another: no deadlock.
func TestSharedNested(t *testing.T) {
	env := testEnv()
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err := env.Shared("outer", func() (any, error) {
			inner, err := env.Shared("inner", func() (any, error) { return 1, nil })
			return inner.(int) + 1, err
		})
		if err != nil || v.(int) != 2 || env.Lookup("inner").(int) != 1 {
			t.Errorf("got %v %v", v, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("nested Shared deadlocked")
	}
}

// idleStage counts calls and is idle while idle is set.
type idleStage struct {
	idle  *bool
	calls *int
}

func (s idleStage) Name() string { return "idle" }
func (s idleStage) Process(*packet.Packet) pipeline.Verdict {
	*s.calls++
	return pipeline.Continue
}
func (s idleStage) Idle() bool { return *s.idle }

var idleFlag = true
var idleCalls int

type idleModule struct{}

func (idleModule) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test.idle", New: func() pipeline.Module { return idleStageModule{idleStage{&idleFlag, &idleCalls}} }}
}

type idleStageModule struct{ idleStage }

func (idleStageModule) Module() pipeline.ModuleInfo { return idleModule{}.Module() }

func init() { pipeline.Register(idleModule{}) }

// Idle stages are left out of the run, and come back after a reload that
// gives them work.
func TestIdleStagesSkippedUntilReload(t *testing.T) {
	idleFlag, idleCalls = true, 0
	env := testEnv()
	pl, err := pipeline.Build(env, []pipeline.Slot{{Hook: packet.Prerouting, ID: "stage.test.idle"}})
	if err != nil {
		t.Fatal(err)
	}
	r := pl.NewRunner(&sink{})
	r.Run([]*packet.Packet{env.Pool.Get()})
	if idleCalls != 0 {
		t.Fatalf("an idle stage ran %d times", idleCalls)
	}
	idleFlag = false
	if err := pl.Reload(config.Default()); err != nil {
		t.Fatal(err)
	}
	r.Run([]*packet.Packet{env.Pool.Get()})
	if idleCalls != 1 {
		t.Fatalf("after the reload the stage ran %d times, want 1", idleCalls)
	}
}

// selStage records which packets it saw; it selects sel.
type selStage struct {
	sel  pipeline.Selection
	seen *[]*packet.Packet
}

func (s selStage) Name() string { return "sel" }
func (s selStage) Process(p *packet.Packet) pipeline.Verdict {
	*s.seen = append(*s.seen, p)
	return pipeline.Continue
}
func (s selStage) Selects() pipeline.Selection { return s.sel }

var selSeen []*packet.Packet
var selWhich pipeline.Selection

type selModule struct{ selStage }

func (selModule) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test.sel", New: func() pipeline.Module { return selModule{selStage{selWhich, &selSeen}} }}
}

func init() { pipeline.Register(selModule{}) }

// A Selective stage is called for the packets it selects and for traced
// packets; the others pass it as if it had said Continue, and go on to
// the next stage.
func TestSelectiveStagesCalledForTheirPackets(t *testing.T) {
	mk := func(env *pipeline.Env, st packet.CTState, frag, trace, markDirty bool) *packet.Packet {
		p := env.Pool.Get()
		p.CTState, p.Trace, p.CTMarkDirty = st, trace, markDirty
		if frag {
			p.Parsed.Proto = packet.Fragment
		}
		return p
	}
	for _, tc := range []struct {
		sel  pipeline.Selection
		want []bool // for the packets below, in order
	}{
		{pipeline.SelectAll, []bool{true, true, true, true, true, true}},
		{pipeline.SelectFirst, []bool{true, false, true, true, false, false}},
		{pipeline.SelectUnconfirmed, []bool{true, false, false, true, true, false}},
		{pipeline.SelectFragments, []bool{false, false, false, true, false, true}},
	} {
		selWhich, selSeen = tc.sel, nil
		env := testEnv()
		after := 0
		register("stage.test.after", func(*packet.Packet) pipeline.Verdict { after++; return pipeline.Continue })
		pl, err := pipeline.Build(env, []pipeline.Slot{{Hook: packet.Prerouting, ID: "stage.test.sel"}, {Hook: packet.Prerouting, ID: "stage.test.after"}})
		if err != nil {
			t.Fatal(err)
		}
		batch := []*packet.Packet{
			mk(env, packet.CTNew, false, false, false),
			mk(env, packet.CTEstablished, false, false, false),
			mk(env, packet.CTNone, false, false, false),
			mk(env, packet.CTEstablished, false, true, false), // traced
			mk(env, packet.CTEstablished, false, false, true), // mark changed
			mk(env, packet.CTInvalid, true, false, false),     // a fragment
		}
		want := map[*packet.Packet]bool{}
		for i, p := range batch {
			want[p] = tc.want[i]
		}
		pl.NewRunner(&sink{}).Run(batch)
		got := map[*packet.Packet]bool{}
		for _, p := range selSeen {
			got[p] = true
		}
		for i, p := range batch {
			if got[p] != want[p] {
				t.Errorf("selection %d, packet %d: called %v, want %v", tc.sel, i, got[p], want[p])
			}
		}
		if after != len(batch) {
			t.Errorf("selection %d: the next stage saw %d of %d packets", tc.sel, after, len(batch))
		}
	}
}
