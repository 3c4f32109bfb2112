package pipeline

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"fwd/config"
	"fwd/packet"
)

// Stage is one step of the packet flow.
type Stage interface {
	Name() string
	// Process may rewrite pkt in place; it must not keep pkt or its buffer
	// after returning.
	Process(pkt *packet.Packet) Verdict
}

// Verdict is what a stage decided. The zero value is Drop: a stage that
// forgets to decide fails closed.
type Verdict uint8

const (
	Drop     Verdict = iota
	Continue         // run the next stage
	Accept           // skip the remaining stages of this hook; later hooks still run
	Reject           // drop and answer (icmperr builds the answer from pkt.RejectWith)
	Stolen           // the stage consumed the packet (e.g. a fragment held for reassembly, a local delivery)
)

var verdictNames = [...]string{"drop", "continue", "accept", "reject", "stolen"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Module is anything registered by ID: stages, matches, targets, devices.
type Module interface {
	Module() ModuleInfo
}

// ModuleInfo names a module and makes new instances of it.
type ModuleInfo struct {
	// ID is dotted, lower-case snake_case: "stage.conntrack",
	// "rules.match.tcp_flags", "netio.tap".
	ID string
	// New returns a new, empty instance. It has no side effects.
	New func() Module
}

// Provisioner is a module that needs setting up with the environment
// (compile, allocate, open). Cleanup must work even if Provision failed.
type Provisioner interface {
	Provision(ctx *Context) error
}

// Validator checks a provisioned module; fast and pure.
type Validator interface {
	Validate() error
}

// CleanerUpper releases what Provision took.
type CleanerUpper interface {
	Cleanup() error
}

// Context is what a module gets at Provision: the configuration, the clock,
// the shared environment and, for stages, the hook it is placed at.
type Context struct {
	*Env
	Hook packet.Hook
}

// Env is the environment shared by every stage of one pipeline.
type Env struct {
	Config *config.Config
	Clock  Clock
	Pool   *packet.Pool
	Log    *slog.Logger

	// KernelRoutes is set in NFQUEUE mode: the host's kernel routes and
	// delivers. Packets that reach the end of INPUT are accepted (the
	// kernel delivers them to its sockets), packets with no route in fwd's
	// own table go on for the kernel to route, and local delivery stands
	// aside.
	KernelRoutes bool

	// Rejecter answers a packet that got a Reject verdict (set by icmperr
	// when it is linked in). It is called before the packet is discarded.
	Rejecter func(pkt *packet.Packet, out Injector)

	mu        sync.Mutex
	shared    map[string]any      // mu protects shared
	reloadReg map[string]Reloader // and reloadReg
	reloadOrd []string
}

// AddReloader registers r under key for Pipeline.Reload; a second
// registration under the same key is ignored (stages at several hooks that
// share one piece of state register it once).
func (e *Env) AddReloader(key string, r Reloader) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reloadReg == nil {
		e.reloadReg = map[string]Reloader{}
	}
	if _, ok := e.reloadReg[key]; ok {
		return
	}
	e.reloadReg[key] = r
	e.reloadOrd = append(e.reloadOrd, key)
}

func (e *Env) reloaders() []Reloader {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Reloader, 0, len(e.reloadOrd))
	for _, k := range e.reloadOrd {
		out = append(out, e.reloadReg[k])
	}
	return out
}

// Shared returns the value stored under key, making it with mk on first use.
// Stages use it to share state across hooks: the conntrack table used by the
// prerouting, output and confirm stages and by NAT is one value.
func (e *Env) Shared(key string, mk func() (any, error)) (any, error) {
	e.mu.Lock()
	if e.shared == nil {
		e.shared = map[string]any{}
	}
	if v, ok := e.shared[key]; ok {
		e.mu.Unlock()
		return v, nil
	}
	e.mu.Unlock()
	if mk == nil {
		return nil, nil
	}
	// mk runs without the lock: making one shared value may need another
	// (the ruleset compiles against the conntrack table).
	v, err := mk()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.shared[key]; ok {
		return old, nil // made meanwhile by someone else: theirs wins
	}
	e.shared[key] = v
	return v, nil
}

// Lookup returns a shared value, or nil.
func (e *Env) Lookup(key string) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shared[key]
}

// Injector takes packets fwd makes itself (ICMP errors, resets, echo
// replies); they run through OUTPUT and POSTROUTING after the current batch.
type Injector interface {
	// NewPacket returns an empty pooled packet.
	NewPacket() *packet.Packet
	// Inject queues p, which must have Data set and, for TAP mode, InIf
	// set to the interface the answer concerns (or NoIf).
	Inject(p *packet.Packet)
}

var (
	regMu    sync.RWMutex
	registry = map[string]ModuleInfo{} // the only package-level mutable state
)

// Register adds a module. It panics on a duplicate or malformed ID: that is
// a programmer error found at init.
func Register(m Module) {
	info := m.Module()
	if info.ID == "" || info.New == nil || strings.ToLower(info.ID) != info.ID {
		panic(fmt.Sprintf("pipeline: bad module info %+v", info))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[info.ID]; dup {
		panic("pipeline: module already registered: " + info.ID)
	}
	registry[info.ID] = info
}

// Lookup returns the module registered under id.
func Lookup(id string) (ModuleInfo, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	m, ok := registry[id]
	return m, ok
}

// IDs returns the registered IDs that start with prefix, sorted.
func IDs(prefix string) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var ids []string
	for id := range registry {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// New makes a module by ID; an unknown ID is an error listing the known
// ones under the same prefix.
func New(id string) (Module, error) {
	m, ok := Lookup(id)
	if !ok {
		prefix := id
		if i := strings.LastIndexByte(id, '.'); i >= 0 {
			prefix = id[:i+1]
		}
		return nil, fmt.Errorf("pipeline: unknown module %q (known: %s)", id, strings.Join(IDs(prefix), ", "))
	}
	return m.New(), nil
}
