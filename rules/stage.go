package rules

import (
	"fmt"
	"sync/atomic"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// SharedKey is the Env.Shared key of the *Holder every rules stage reads.
const SharedKey = "rules.ruleset"

// Holder holds the live ruleset; a reload compiles a new one and swaps it
// in with Store. Stages Load it once per packet.
type Holder struct {
	p atomic.Pointer[Ruleset]
}

// Load returns the live ruleset.
func (h *Holder) Load() *Ruleset { return h.p.Load() }

// Store makes rs the live ruleset.
func (h *Holder) Store(rs *Ruleset) { h.p.Store(rs) }

// Reload compiles cfg against the live ruleset (carrying counters over) and
// swaps it in; on error the live ruleset stays.
func (h *Holder) Reload(cfg *config.Config) error {
	rs, err := Compile(cfg, h.Load())
	if err != nil {
		return err
	}
	h.Store(rs)
	return nil
}

// Stage runs one table's built-in chain at one hook. One instance is made
// per slot of pipeline.Order; all share the Holder.
type Stage struct {
	table Table
	hook  packet.Hook
	h     *Holder
}

// StageModules returns the four stage modules ("stage.rules.raw", ...);
// package rules/stage registers them with every match and target.
func StageModules() []pipeline.Module {
	return []pipeline.Module{stageModule(TableRaw), stageModule(TableMangle), stageModule(TableNAT), stageModule(TableFilter)}
}

type stageModule Table

func (m stageModule) Module() pipeline.ModuleInfo {
	t := Table(m)
	return pipeline.ModuleInfo{
		ID:  "stage.rules." + t.String(),
		New: func() pipeline.Module { return &Stage{table: t} },
	}
}

var (
	_ pipeline.Provisioner = (*Stage)(nil)
	_ pipeline.Stage       = (*Stage)(nil)
)

// Module returns the stage's module info.
func (s *Stage) Module() pipeline.ModuleInfo { return stageModule(s.table).Module() }

// Name is "rules.TABLE".
func (s *Stage) Name() string { return "rules." + s.table.String() }

// Provision compiles the configuration once per pipeline (the first rules
// stage does it; the others find it in Env.Shared).
func (s *Stage) Provision(ctx *pipeline.Context) error {
	s.hook = ctx.Hook
	env := ctx.Env
	v, err := env.Shared(SharedKey, func() (any, error) {
		rs, err := CompileWith(env.Config, nil, Options{Env: env})
		if err != nil {
			return nil, err
		}
		h := &Holder{}
		h.Store(rs)
		return h, nil
	})
	if err != nil {
		return err
	}
	h, ok := v.(*Holder)
	if !ok {
		return fmt.Errorf("rules: shared %q is %T, not *rules.Holder", SharedKey, v)
	}
	s.h = h
	env.AddReloader(SharedKey, holderReloader{h: h, env: env}) // once, whichever stage comes first
	return nil
}

// holderReloader makes the shared ruleset take part in the pipeline's
// atomic reloads: compile (carrying the counters of unchanged rules over)
// in prepare, swap in commit.
type holderReloader struct {
	h   *Holder
	env *pipeline.Env
}

func (r holderReloader) PrepareReload(cfg *config.Config) (func(), error) {
	rs, err := CompileWith(cfg, r.h.Load(), Options{Env: r.env})
	if err != nil {
		return nil, err
	}
	return func() { r.h.Store(rs) }, nil
}

// Idle reports whether the table has no chain at the stage's hook in the
// live ruleset (pipeline.Idler): the runner then leaves the stage out until
// a reload gives it one.
func (s *Stage) Idle() bool {
	return s.h.Load().builtin[s.table][s.hook] == nil
}

var _ pipeline.Idler = (*Stage)(nil)

// Selects implements pipeline.Selective: the nat table sees only a
// connection's first packets, the other tables every packet.
func (s *Stage) Selects() pipeline.Selection {
	if s.table == TableNAT {
		return pipeline.SelectFirst
	}
	return pipeline.SelectAll
}

// Process walks the table's chain for the stage's hook. Accept continues
// to the next stage: as in netfilter, an accept in one table does not skip
// the tables after it. The nat table sees only a connection's first packet
// (CTNew; CTNone when conntrack is not linked).
func (s *Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	rs := s.h.Load()
	c := rs.builtin[s.table][s.hook]
	if c == nil {
		return pipeline.Continue
	}
	if s.table == TableNAT && pkt.CTState != packet.CTNew && pkt.CTState != packet.CTNone {
		return pipeline.Continue
	}
	var v Verdict
	if pkt.Trace {
		tr := &Tracer{}
		v, _ = rs.Eval(c, pkt, tr)
		pkt.Note = tr.Note(v)
	} else {
		v, _ = rs.Eval(c, pkt, nil)
	}
	switch v {
	case Accept:
		return pipeline.Continue
	case Reject:
		return pipeline.Reject
	}
	return pipeline.Drop
}
