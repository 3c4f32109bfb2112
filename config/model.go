package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Pos is a place in a configuration file. Line and Col start at 1; the zero
// Pos means "unknown" (errors then name only the file).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one configuration mistake at a place: "file:line:col: message".
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errorf returns an *Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList is every mistake found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the list by line then column.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Col < l[j].Pos.Col
	})
}

// Err returns nil for an empty list, else the sorted list.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Config is a whole decoded and validated configuration file.
type Config struct {
	File       string
	Dataplane  Dataplane
	Interfaces []Interface
	Routes     []Route
	Conntrack  Conntrack
	Fragments  Fragments
	ICMP       ICMP
	NAT        NATBehavior
	Control    Control
	Sets       []*Set   // in file order
	Chains     []*Chain // every [TABLE.CHAIN], in file order
}

// Dataplane is the [dataplane] table.
type Dataplane struct {
	Mode        string // "tap" | "nfqueue"
	Queues      [2]uint16
	FailOpen    bool
	QueueMaxLen uint32
	Steering    bool
	Pos         Pos
}

// Interface is one [[interface]].
type Interface struct {
	Index  int // position in Config.Interfaces
	Name   string
	Device string       // TAP device name; Name when empty
	Addr   netip.Prefix // the router's address and the connected subnet
	MTU    int
	MAC    [6]byte // zero: derived from the name
	Bridge string  // Linux bridge to add the TAP port to
	// Netns is a network namespace (a name under /run/netns, or a path)
	// to move the TAP device into once it is open; Bridge is then looked
	// up in that namespace. Empty: the device stays where fwd runs.
	Netns string
	Pos   Pos
}

// Route is one [[route]].
type Route struct {
	To  netip.Prefix
	Via netip.Addr // invalid for a connected route
	Dev string
	Pos Pos
}

// Conntrack is [conntrack] with [conntrack.timeouts].
type Conntrack struct {
	MaxEntries    int
	TCPLoose      bool
	TCPMaxRetrans int
	Timeouts      Timeouts
}

// Timeouts per state, Linux's defaults when not configured.
type Timeouts struct {
	TCPSynSent, TCPSynRecv, TCPEstablished, TCPFinWait, TCPCloseWait, TCPLastAck,
	TCPTimeWait, TCPClose, TCPUnacknowledged, TCPRetrans time.Duration
	UDP, UDPStream, ICMP, Generic time.Duration
}

// Fragments is [fragments].
type Fragments struct {
	Timeout   time.Duration
	MaxMemory int64  // bytes (high threshold)
	Overlap   string // "drop" | "first" | "last" | "bsd" | "linux" | "windows" | "solaris"
	MaxFrags  int    // per datagram
}

// ICMP is [icmp].
type ICMP struct {
	RatePerSec float64 // tokens a second; 0 = unlimited
	RateBurst  int
}

// NATBehavior is [nat_behavior]: how NAT maps and filters (RFC 4787,
// RFC 5382, RFC 5508). The rule chains of the nat table are under [nat].
type NATBehavior struct {
	// Filtering is how packets from outside that match no connection are
	// let in to a mapping: "address-and-port-dependent" (the default, as
	// Linux: only the endpoints the inside host sent to),
	// "address-dependent" or "endpoint-independent".
	Filtering string
	// MappingTimeout is how long a mapping outlives its last connection
	// (at least 2 minutes, RFC 4787 REQ-5).
	MappingTimeout time.Duration
	// Hairpin: a DNATed connection from inside to the router's public
	// address gets its source NATed too, so replies come back through
	// fwd (RFC 4787 REQ-9).
	Hairpin bool
}

// Control is [control].
type Control struct {
	Socket  string
	Metrics string
}

// Set is one [sets.NAME].
type Set struct {
	Name     string
	Type     string // ipv4_addr | ipv4_net | port | ipv4_addr_port
	Elements []Value
	Pos      Pos
}

// Chain is one [TABLE.CHAIN] with its [[TABLE.CHAIN.rule]] entries. A chain
// only named by rules (no [TABLE.CHAIN] header) exists too, with no policy.
type Chain struct {
	Table     string // raw | mangle | nat | filter
	Name      string // a hook name for built-in chains, else a user chain
	Policy    string // "accept" | "drop" | "" (user chain, or not given: accept)
	Pos       Pos    // of the [TABLE.CHAIN] header, or of the first rule
	PolicyPos Pos
	Rules     []*Rule
}

// Rule is one [[TABLE.CHAIN.rule]]: its keys in file order. Their meaning
// (matches and targets) belongs to the rules package, which decodes and
// validates them with the positions kept here.
type Rule struct {
	Pos  Pos // of the [[...rule]] header
	Keys []KV
}

// Get returns the value of key and true, or false when absent.
func (r *Rule) Get(key string) (KV, bool) {
	for _, kv := range r.Keys {
		if kv.Key == key {
			return kv, true
		}
	}
	return KV{}, false
}

// KV is one key = value of a rule, with the key's place.
type KV struct {
	Key   string
	Value Value
	Pos   Pos
}

// Value is a TOML value as decoded: string, int64, float64, bool,
// []Value, map[string]Value, or time.Time; Pos is the key's place (TOML
// libraries do not keep values' places).
type Value struct {
	V   any
	Pos Pos
}

// String returns the value as TOML-ish text for messages.
func (v Value) String() string {
	switch x := v.V.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []Value:
		s := make([]string, len(x))
		for i := range x {
			s[i] = x[i].String()
		}
		return "[" + strings.Join(s, ", ") + "]"
	case map[string]Value:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = k + " = " + x[k].String()
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	return fmt.Sprint(v.V)
}

// MTUs returns each interface's MTU, by interface index (nil for a nil
// Config): what the TTL, MTU and flowtable stages check packets against.
func (c *Config) MTUs() []int {
	if c == nil {
		return nil
	}
	m := make([]int, len(c.Interfaces))
	for i, ifc := range c.Interfaces {
		m[i] = ifc.MTU
	}
	return m
}

// Interface returns the interface named name, or nil.
func (c *Config) Interface(name string) *Interface {
	for i := range c.Interfaces {
		if c.Interfaces[i].Name == name {
			return &c.Interfaces[i]
		}
	}
	return nil
}

// Set returns the set named name, or nil.
func (c *Config) Set(name string) *Set {
	for _, s := range c.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Chain returns the chain table.name, or nil.
func (c *Config) Chain(table, name string) *Chain {
	for _, ch := range c.Chains {
		if ch.Table == table && ch.Name == name {
			return ch
		}
	}
	return nil
}

// DefaultTimeouts are Linux's (nf_conntrack_proto_*.c).
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:        120 * time.Second,
		TCPSynRecv:        60 * time.Second,
		TCPEstablished:    5 * 24 * time.Hour,
		TCPFinWait:        120 * time.Second,
		TCPCloseWait:      60 * time.Second,
		TCPLastAck:        30 * time.Second,
		TCPTimeWait:       120 * time.Second,
		TCPClose:          10 * time.Second,
		TCPUnacknowledged: 300 * time.Second,
		TCPRetrans:        300 * time.Second,
		UDP:               30 * time.Second,
		UDPStream:         120 * time.Second,
		ICMP:              30 * time.Second,
		Generic:           600 * time.Second,
	}
}

// Default returns a configuration with every default filled and nothing else.
func Default() *Config {
	return &Config{
		Dataplane: Dataplane{Mode: "tap", QueueMaxLen: 4096, Steering: true},
		Conntrack: Conntrack{MaxEntries: 262144, TCPMaxRetrans: 3, TCPLoose: true, Timeouts: DefaultTimeouts()},
		Fragments: Fragments{Timeout: 30 * time.Second, MaxMemory: 4 << 20, Overlap: "drop", MaxFrags: 64},
		ICMP:      ICMP{RatePerSec: 1000, RateBurst: 50},
		NAT:       NATBehavior{Filtering: "address-and-port-dependent", MappingTimeout: 5 * time.Minute, Hairpin: true},
		Control:   Control{Socket: "/run/fwd/fwd.sock"},
	}
}
