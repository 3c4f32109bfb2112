package rules

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

// Matcher is a compiled match: one rule key (and its options) turned into a
// test on the packet. Match runs on the datapath: it must not allocate,
// block or keep pkt.
type Matcher interface {
	Match(pkt *packet.Packet) bool
}

// MatchModule is a match plugin, registered as "rules.match.NAME". A fresh
// instance (ModuleInfo.New) is decoded from one rule key and then serves as
// the rule's Matcher.
type MatchModule interface {
	pipeline.Module
	Matcher
	// Keys returns the rule keys that select this match (usually one, the
	// plugin's name) and the option keys it reads besides them
	// (limit_burst for limit).
	Keys() (keys, options []string)
	// Decode configures the match from kv (one of its keys). Mistakes go
	// to d.Errorf; the return value says whether the match is usable.
	Decode(d *Decoder, kv config.KV) bool
}

// Stateful marks matches whose Match changes state (token buckets,
// connection counts): they run after every stateless match of the rule, so
// a packet that fails an address test takes no token (iptables evaluates
// the IP header matches first for the same reason).
type Stateful interface {
	Stateful()
}

// Passive marks matches that only annotate the rule (comment): they are
// listed but never run.
type Passive interface {
	Passive()
}

// Lister is implemented by matches and targets that show up in the
// iptables-style listing.
type Lister interface {
	List(l *Listing)
}

// Indexable is implemented by matches that can serve as a run's shared
// lookup (see doc.go): a match on one packet field whose accepted keys are
// a union of intervals. ok is false when the match cannot be indexed this
// time (negated, or a set that can change at run time).
type Indexable interface {
	Index() (f Field, iv []Interval, ok bool)
}

// Interval is the closed key range [Lo, Hi] of an Indexable match.
type Interval struct{ Lo, Hi uint32 }

// Field names a packet field an index can key on.
type Field uint8

const (
	FieldNone  Field = iota
	FieldSrc         // IPv4 source address
	FieldDst         // IPv4 destination address
	FieldSport       // TCP/UDP source port
	FieldDport       // TCP/UDP destination port
	numFields
)

var fieldNames = [...]string{"none", "src", "dst", "sport", "dport"}

func (f Field) String() string {
	if int(f) < len(fieldNames) {
		return fieldNames[f]
	}
	return "unknown"
}

// key returns the packet's value of f, false when the packet has none (a
// non-TCP/UDP packet has no ports: no port match can accept it).
func (f Field) key(pkt *packet.Packet) (uint32, bool) {
	p := &pkt.Parsed
	switch f {
	case FieldSrc:
		return uint32(p.Src[0])<<24 | uint32(p.Src[1])<<16 | uint32(p.Src[2])<<8 | uint32(p.Src[3]), true
	case FieldDst:
		return uint32(p.Dst[0])<<24 | uint32(p.Dst[1])<<16 | uint32(p.Dst[2])<<8 | uint32(p.Dst[3]), true
	case FieldSport:
		return uint32(p.SrcPort), p.Proto == packet.TCP || p.Proto == packet.UDP
	case FieldDport:
		return uint32(p.DstPort), p.Proto == packet.TCP || p.Proto == packet.UDP
	}
	return 0, false
}

// Verdict is what a target tells the chain walk.
type Verdict uint8

const (
	// Continue goes on with the next rule (log, mark: non-terminal).
	Continue Verdict = iota
	Accept
	Drop
	Reject
	Return
	Jump
	Goto
)

var verdictNames = [...]string{"continue", "accept", "drop", "reject", "return", "jump", "goto"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Target is a compiled rule action.
type Target interface {
	// Do applies the target to pkt and says how the walk goes on. Jump and
	// Goto are resolved by the walk itself (JumpTarget).
	Do(pkt *packet.Packet) Verdict
}

// TargetModule is a target plugin, registered as "rules.target.NAME" where
// NAME is the value of the rule's action key.
type TargetModule interface {
	pipeline.Module
	Target
	// Options lists the rule keys the target reads besides action.
	Options() []string
	// Decode configures the target from the rule (d.Get its options) and
	// checks it is allowed where it is (d.Table, d.Hooks).
	Decode(d *Decoder) bool
	// Name is the target column of the listing ("ACCEPT", "LOG").
	Name() string
}

// JumpTarget is implemented by jump and goto: the chain they enter.
type JumpTarget interface {
	JumpTo() (chain string, pos config.Pos, isGoto bool)
}
