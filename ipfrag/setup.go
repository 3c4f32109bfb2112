package ipfrag

import (
	"fmt"

	"fwd/config"
	"fwd/pipeline"
)

func init() {
	pipeline.Register(Defrag{})
	pipeline.Register((*MTU)(nil))
}

// sharedKey is where the one Reassembler of a pipeline lives in
// Env.Shared, so devices and tests can reach it (FromEnv).
const sharedKey = "ipfrag.reassembler"

var (
	_ pipeline.Stage       = (*Defrag)(nil)
	_ pipeline.Provisioner = (*Defrag)(nil)
	_ pipeline.Stage       = (*MTU)(nil)
	_ pipeline.Provisioner = (*MTU)(nil)
	_ pipeline.Reloader    = (*MTU)(nil)
	_ pipeline.Ticker      = (*Defrag)(nil)
	_ pipeline.Reloader    = reloader{}
)

// Module implements pipeline.Module.
func (Defrag) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.defrag", New: func() pipeline.Module { return new(Defrag) }}
}

// Module implements pipeline.Module.
func (*MTU) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.mtu", New: func() pipeline.Module { return new(MTU) }}
}

// ConfigFrom turns the [fragments] table and the interface addresses into
// a reassembler Config. A nil c gives the defaults.
func ConfigFrom(c *config.Config) (Config, error) {
	var cfg Config
	if c == nil {
		return cfg, nil
	}
	f := c.Fragments
	pol, ok := ParsePolicy(f.Overlap)
	if !ok {
		return cfg, fmt.Errorf("ipfrag: unknown overlap policy %q (want drop, first, last, bsd, linux, windows or solaris)", f.Overlap)
	}
	cfg = Config{Timeout: f.Timeout, HighThresh: f.MaxMemory, MaxFrags: f.MaxFrags, Policy: pol}
	var locals [][4]byte
	for _, ifc := range c.Interfaces {
		if a := ifc.Addr.Addr(); a.Is4() {
			locals = append(locals, a.As4())
		}
	}
	if len(locals) > 0 {
		cfg.Local = func(dst [4]byte) bool {
			for _, l := range locals {
				if l == dst {
					return true
				}
			}
			return false
		}
	}
	return cfg, nil
}

// FromEnv returns the pipeline's Reassembler, making it on first use from
// env.Config.
func FromEnv(env *pipeline.Env) (*Reassembler, error) {
	v, err := env.Shared(sharedKey, func() (any, error) {
		cfg, err := ConfigFrom(env.Config)
		if err != nil {
			return nil, err
		}
		return New(cfg), nil
	})
	if err != nil {
		return nil, err
	}
	r := v.(*Reassembler)
	env.AddReloader(sharedKey, reloader{r})
	return r, nil
}

// reloader moves the shared Reassembler to a new [fragments] table.
type reloader struct{ r *Reassembler }

// PrepareReload implements pipeline.Reloader.
func (rl reloader) PrepareReload(c *config.Config) (func(), error) {
	cfg, err := ConfigFrom(c)
	if err != nil {
		return nil, err
	}
	return func() { rl.r.SetConfig(cfg) }, nil
}

// Provision implements pipeline.Provisioner.
func (d *Defrag) Provision(ctx *pipeline.Context) error {
	r, err := FromEnv(ctx.Env)
	if err != nil {
		return err
	}
	d.r = r
	d.env = ctx.Env
	return nil
}

// Provision implements pipeline.Provisioner.
func (m *MTU) Provision(ctx *pipeline.Context) error {
	v := ctx.Env.Config.MTUs()
	m.mtu.Store(&v)
	m.kernel = ctx.Env.KernelRoutes
	return nil
}

// PrepareReload implements pipeline.Reloader: interface MTUs may change.
func (m *MTU) PrepareReload(c *config.Config) (func(), error) {
	v := c.MTUs()
	return func() { m.mtu.Store(&v) }, nil
}

// Note strings for traces (constants: a trace must not allocate either).
const (
	noteHeld        = "fragment held"
	noteDuplicate   = "duplicate fragment discarded"
	noteReassembled = "datagram reassembled"
	noteFragNeeded  = "DF set and larger than the egress MTU"
	noteRefragment  = "larger than the egress MTU: the egress fragments it"
)
