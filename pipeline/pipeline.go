package pipeline

// Packet flow (DESIGN.md has the full picture):
//
//  1. A device (TAP, NFQUEUE, capture) reads a batch of datagrams into
//     pooled packets and calls Runner.Run.
//  2. Run walks the stages of Order one at a time over the whole batch
//     (vector processing: each stage's code and data stay hot for the
//     batch). A stage runs on a packet only when the packet is at the
//     stage's hook; the route stage moves packets from Prerouting to Input
//     or Forward, and Forward/Output packets move on to Postrouting.
//  3. parse -> defrag -> [flowtable: an offloaded connection's packet is
//     done here] -> raw -> conntrack -> mangle -> nat (DNAT) -> route ->
//     [input: filter -> local] | [forward: ttl -> filter] ->
//     postrouting: nat (SNAT) -> confirm -> mtu.
//  4. A Drop or Reject verdict counts the packet under pkt.Drop and hands
//     it to Output.Discard; Reject first lets icmperr answer. Stolen hands
//     it to Discard uncounted (the stage consumed it).
//  5. Survivors go to Output.Deliver on pkt.OutIf. A stage that finished
//     a packet's path itself (the flowtable) moves it to packet.Done, where
//     no stage runs.
//  6. Packets fwd made while the batch ran (Injector) then run as their own
//     batch from the Output hook, up to a small depth.
//
// Locking: a Runner belongs to one goroutine (one worker); stages are shared
// by all runners and do their own locking (the conntrack table is sharded).
// Counters are per runner and summed on read.

import (
	"fmt"
	"sync"
	"sync/atomic"

	"fwd/config"
	"fwd/packet"
)

// Output is where a runner sends packets when it is done with them. The
// output owns the packet afterwards (and returns pooled ones to the pool).
type Output interface {
	Deliver(pkt *packet.Packet)
	Discard(pkt *packet.Packet, v Verdict)
}

// TraceFunc receives one call per stage a traced packet passes.
type TraceFunc func(pkt *packet.Packet, stage string, v Verdict, note string)

type builtSlot struct {
	hook  packet.Hook
	name  string
	stage Stage
	pf    Prefetcher // stage, when it prefetches
	sel   Selection  // which packets the stage has work for (Selective)
}

// Pipeline is the built chain of stages for one configuration.
type Pipeline struct {
	Env   *Env
	nIf   int // interfaces at Build; a reload cannot change them
	slots []builtSlot
	// groups are the slots without the stages that have nothing to do
	// under the current configuration (Idler), in runs of one hook each;
	// recomputed at each reload.
	groups atomic.Pointer[[]slotGroup]
	mods   []Module
	// Trace, when set, is called for packets with Trace set.
	Trace TraceFunc
	// TraceFilter, when set, is called by Runner.Run for each packet of a
	// batch (before any stage, on the raw datagram); a packet it returns
	// true for gets pkt.Trace. Unset, it costs one atomic load per batch.
	TraceFilter atomic.Pointer[func(pkt *packet.Packet) bool]

	runners  atomic.Pointer[[]*Runner]
	reloadMu sync.Mutex // serialises reloads
}

// Build provisions every registered stage named by order. A stage module is
// made once per slot; stages that must share state across hooks do so
// through Env.Shared.
func Build(env *Env, order []Slot) (*Pipeline, error) {
	p := &Pipeline{Env: env}
	if env.Config != nil {
		p.nIf = len(env.Config.Interfaces)
	}
	empty := []*Runner{}
	p.runners.Store(&empty)
	for _, s := range order {
		if _, ok := Lookup(s.ID); !ok {
			continue
		}
		m, err := New(s.ID)
		if err != nil {
			p.Cleanup()
			return nil, err
		}
		p.mods = append(p.mods, m)
		if pr, ok := m.(Provisioner); ok {
			if err := pr.Provision(&Context{Env: env, Hook: s.Hook}); err != nil {
				p.Cleanup()
				return nil, fmt.Errorf("%s at %s: %w", s.ID, s.Hook, err)
			}
		}
		if v, ok := m.(Validator); ok {
			if err := v.Validate(); err != nil {
				p.Cleanup()
				return nil, fmt.Errorf("%s at %s: %w", s.ID, s.Hook, err)
			}
		}
		st, ok := m.(Stage)
		if !ok {
			p.Cleanup()
			return nil, fmt.Errorf("pipeline: %s is not a stage", s.ID)
		}
		pf, _ := st.(Prefetcher)
		var sel Selection
		if x, ok := st.(Selective); ok {
			sel = x.Selects()
		}
		p.slots = append(p.slots, builtSlot{hook: s.Hook, name: s.Hook.String() + "/" + st.Name(), stage: st, pf: pf, sel: sel})
	}
	p.refreshActive()
	return p, nil
}

// Idler is a stage that can tell it has nothing to do under the current
// configuration (a rules stage whose table has no chain at its hook). Idle
// stages are left out of the run, which saves a call per packet each; the
// set is recomputed after every reload.
type Idler interface {
	Idle() bool
}

// Prefetcher is a stage that looks at a whole sub-batch before Process
// runs on each of its packets, to start the memory loads Process will
// need (VPP's prefetching of the next packets' state). A lookup in a table
// larger than the cache costs a miss or two; started together for a batch,
// the misses overlap instead of following one another. Prefetch must not
// change what Process decides: it may only leave hints on the packets.
type Prefetcher interface {
	Prefetch(batch []*packet.Packet, sub []int32)
}

// Selective is a stage that has work only for some packets, which the
// runner can tell from the packet's own fields: for the others it moves
// on as if the stage had returned Continue, without the call. Most of an
// established flow's packets pass the nat tables, confirm and defrag this
// way. A traced packet still visits every stage, so traces show them all.
type Selective interface {
	Selects() Selection
}

// Selection names the packets a Selective stage has work for.
type Selection uint8

const (
	SelectAll Selection = iota
	// SelectFirst: a connection's first packets (ctstate NEW), and every
	// packet when conntrack is not linked (NONE): the nat table.
	SelectFirst
	// SelectUnconfirmed: packets whose connection may still need
	// confirming (NEW), or whose rules changed the connection mark.
	SelectUnconfirmed
	// SelectFragments: IPv4 fragments.
	SelectFragments
)

// wants reports whether a stage selecting sel has work for pkt.
func (sel Selection) wants(pkt *packet.Packet) bool {
	switch sel {
	case SelectFirst:
		return pkt.CTState == packet.CTNew || pkt.CTState == packet.CTNone
	case SelectUnconfirmed:
		return pkt.CTState == packet.CTNew || pkt.CTMarkDirty
	case SelectFragments:
		return pkt.Parsed.Proto == packet.Fragment
	}
	return true
}

// slotGroup is a run of stages at one hook.
type slotGroup struct {
	hook  packet.Hook
	slots []builtSlot
}

func (p *Pipeline) refreshActive() {
	var gs []slotGroup
	for _, s := range p.slots {
		if i, ok := s.stage.(Idler); ok && i.Idle() {
			continue
		}
		if len(gs) == 0 || gs[len(gs)-1].hook != s.hook {
			gs = append(gs, slotGroup{hook: s.hook})
		}
		g := &gs[len(gs)-1]
		g.slots = append(g.slots, s)
	}
	p.groups.Store(&gs)
}

// Stages lists the built stages as "hook/name", in order.
func (p *Pipeline) Stages() []string {
	out := make([]string, len(p.slots))
	for i, s := range p.slots {
		out[i] = s.name
	}
	return out
}

// Cleanup releases every module, in reverse order.
func (p *Pipeline) Cleanup() {
	for i := len(p.mods) - 1; i >= 0; i-- {
		if c, ok := p.mods[i].(CleanerUpper); ok {
			c.Cleanup()
		}
	}
	p.mods = nil
}

// maxInjectDepth bounds how many rounds of self-made packets one batch may
// cause (an answer to an answer ...); RFC 1812 rules make depth 1 usual.
const maxInjectDepth = 4

// Runner runs batches through a pipeline for one worker.
type Runner struct {
	p       *Pipeline
	out     Output
	Stats   *Stats
	pending []*packet.Packet
	next    []*packet.Packet
	alive   []bool
	sub     []int32 // the packets at the hook being run, by batch index
	id      uint8   // this runner's number, written into each packet's Worker
}

// NewRunner returns a runner that hands finished packets to out.
func (p *Pipeline) NewRunner(out Output) *Runner {
	r := &Runner{p: p, out: out, Stats: newStats(p.nIf)}
	for {
		old := p.runners.Load()
		r.id = uint8(len(*old))
		nw := append(append([]*Runner{}, (*old)...), r)
		if p.runners.CompareAndSwap(old, &nw) {
			break
		}
	}
	return r
}

// Stats returns the sum of every runner's counters.
func (p *Pipeline) Stats() Snapshot {
	s := Snapshot{IfIn: make([]uint64, p.nIf), IfOut: make([]uint64, p.nIf)}
	for _, r := range *p.runners.Load() {
		r.Stats.addTo(&s)
	}
	return s
}

// NewPacket returns a pooled packet for a stage to fill and Inject.
func (r *Runner) NewPacket() *packet.Packet { return r.p.Env.Pool.Get() }

// Inject queues a packet fwd made; it runs from the Output hook after the
// current batch.
func (r *Runner) Inject(p *packet.Packet) {
	p.Local = true
	p.Hook = packet.Output
	r.pending = append(r.pending, p)
}

// Run processes a batch. Every packet in it ends in Output.Deliver or
// Output.Discard before Run returns.
func (r *Runner) Run(batch []*packet.Packet) {
	for _, pkt := range batch {
		pkt.Hook = packet.Prerouting
		r.Stats.in(pkt.InIf)
	}
	r.markTraced(batch)
	r.run(batch)
	r.drain()
}

// markTraced sets pkt.Trace on the packets the TraceFilter picks.
func (r *Runner) markTraced(batch []*packet.Packet) {
	if f := r.p.TraceFilter.Load(); f != nil {
		for _, pkt := range batch {
			if !pkt.Trace && (*f)(pkt) {
				pkt.Trace = true
			}
		}
	}
}

// RunFrom is Run for packets that enter at another hook than Prerouting:
// in NFQUEUE mode the host's own packets are seen at Output.
func (r *Runner) RunFrom(batch []*packet.Packet, hook packet.Hook) {
	for _, pkt := range batch {
		pkt.Hook = hook
		r.Stats.in(pkt.InIf)
	}
	r.markTraced(batch)
	r.run(batch)
	r.drain()
}

// drain runs the packets stages made, round by round, up to a small depth.
func (r *Runner) drain() {
	for depth := 0; len(r.pending) > 0; depth++ {
		b := r.pending
		r.pending = r.next[:0]
		if depth >= maxInjectDepth {
			for _, pkt := range b {
				r.Stats.drop(packet.DropOther)
				r.out.Discard(pkt, Drop)
			}
		} else {
			r.run(b)
		}
		clear(b)
		r.next = b[:0]
	}
}

func (r *Runner) run(batch []*packet.Packet) {
	n := len(batch)
	if cap(r.alive) < n {
		r.alive = make([]bool, n)
		r.sub = make([]int32, 0, n)
	}
	alive := r.alive[:n]
	for i := range alive {
		alive[i] = true
		batch[i].Worker = r.id
	}
	trace := r.p.Trace
	// settled counts the packets no later hook can take: ended, or moved
	// to packet.Done. When it reaches n the remaining hooks are skipped
	// without looking at each packet again.
	settled := 0
	// Hook by hook, in order: gather the packets at the hook, then run each
	// of its stages over them. A packet leaves the hook's sub-batch when a
	// stage accepts it (the rest of the hook is skipped), moves it to
	// another hook (route, local delivery), or ends it.
	for _, g := range *r.p.groups.Load() {
		if settled == n {
			break
		}
		sub := r.sub[:0]
		for i, pkt := range batch {
			if !alive[i] {
				continue
			}
			if h := pkt.Hook; h != g.hook {
				// Forward and Output packets move on to Postrouting.
				if g.hook != packet.Postrouting || (h != packet.Forward && h != packet.Output) {
					continue
				}
				pkt.Hook = packet.Postrouting
			}
			sub = append(sub, int32(i))
		}
		for si := range g.slots {
			if len(sub) == 0 {
				break
			}
			s := &g.slots[si]
			if s.pf != nil {
				s.pf.Prefetch(batch, sub)
			}
			// In locals, so the loop keeps them in registers.
			stage, sel, hook := s.stage, s.sel, g.hook
			w := 0
			for _, i := range sub {
				pkt := batch[i]
				if sel != SelectAll && !pkt.Trace && !sel.wants(pkt) {
					sub[w] = i
					w++
					continue
				}
				v := stage.Process(pkt)
				if trace != nil && pkt.Trace {
					trace(pkt, s.name, v, pkt.Note)
					pkt.Note = ""
				}
				switch v {
				case Continue:
					if h := pkt.Hook; h == hook {
						sub[w] = i
						w++
					} else if h == packet.Done {
						settled++
					}
				case Accept:
					// Skips the rest of this hook; later hooks still run.
				case Stolen:
					alive[i] = false
					settled++
					r.out.Discard(pkt, Stolen)
				case Reject:
					alive[i] = false
					settled++
					if pkt.Drop == packet.DropNone {
						pkt.Drop = packet.DropReject
					}
					r.Stats.drop(pkt.Drop)
					if rj := r.p.Env.Rejecter; rj != nil {
						rj(pkt, r)
					}
					r.out.Discard(pkt, Reject)
				default: // Drop, and anything unknown fails closed
					alive[i] = false
					settled++
					if pkt.Drop == packet.DropNone {
						pkt.Drop = packet.DropOther
					}
					r.Stats.drop(pkt.Drop)
					r.out.Discard(pkt, Drop)
				}
			}
			sub = sub[:w]
		}
		r.sub = sub[:0]
	}
	for i, pkt := range batch {
		if !alive[i] {
			continue
		}
		if !r.p.Env.KernelRoutes && (pkt.Hook == packet.Input || pkt.OutIf == packet.NoIf) {
			// Reached the end of INPUT with nothing consuming it, or never
			// routed: nowhere to go.
			if pkt.Drop == packet.DropNone {
				pkt.Drop = packet.DropLocal
			}
			r.Stats.drop(pkt.Drop)
			r.out.Discard(pkt, Drop)
			continue
		}
		r.Stats.out(pkt.OutIf)
		r.out.Deliver(pkt)
	}
}

// Ticker is a stage with timers (fragment expiry, ARP retries, conntrack
// reaping). Devices call Runner.Tick periodically (TAP/NFQUEUE: every
// few hundred milliseconds of idle; replay: after each packet's clock step
// and after --advance); packets the stage makes go out through out.
type Ticker interface {
	Tick(now int64, out Injector)
}

// Tick runs every Ticker stage once at the clock's time, then any packets
// they made. Stages placed at several hooks are ticked once.
func (r *Runner) Tick() {
	now := r.p.Env.Clock.Now()
	seen := make(map[Stage]bool, 4)
	for i := range r.p.slots {
		st := r.p.slots[i].stage
		if t, ok := st.(Ticker); ok && !seen[st] {
			seen[st] = true
			t.Tick(now, r)
		}
	}
	r.drain()
}

// CountDrop counts a packet the device dropped before the pipeline saw it
// (e.g. a frame that is not IPv4), with its ingress interface.
func (r *Runner) CountDrop(inIf int16, reason packet.DropReason) {
	r.Stats.in(inIf)
	r.Stats.drop(reason)
}

// Reloader is a module that can take a new configuration without losing
// its state (conntrack entries, NAT bindings, rule counters). A reload is
// two-phase so it is atomic: every Reloader prepares first (parse,
// compile, allocate: anything that can fail), and only when all have
// succeeded are the commits run, between batches. A failed prepare leaves
// everything as it was.
type Reloader interface {
	PrepareReload(cfg *config.Config) (commit func(), err error)
}

// Reload moves every Reloader to cfg, or none: each module that
// implements Reloader, then each registered with Env.AddReloader (shared
// state such as one ruleset behind several stages registers once, by key).
func (p *Pipeline) Reload(cfg *config.Config) error {
	var commits []func()
	prepare := func(r Reloader) error {
		c, err := r.PrepareReload(cfg)
		if err != nil {
			return err
		}
		if c != nil {
			commits = append(commits, c)
		}
		return nil
	}
	for _, m := range p.mods {
		if r, ok := m.(Reloader); ok {
			if err := prepare(r); err != nil {
				return err
			}
		}
	}
	for _, r := range p.Env.reloaders() {
		if err := prepare(r); err != nil {
			return err
		}
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	for _, c := range commits {
		c()
	}
	p.Env.Config = cfg
	p.refreshActive()
	return nil
}
