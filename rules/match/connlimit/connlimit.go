package connlimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register((*ConnLimit)(nil)) }

type connKey struct {
	src, dst     [4]byte
	sport, dport uint16
	proto        uint8
}

// entry is one counted connection: when it was added and when a packet
// of it last reached the match.
type entry struct {
	added, seen int64
}

type shard struct {
	mu     sync.Mutex // mu guards groups
	groups map[uint32]map[connKey]entry
}

// ConnLimit is the connlimit match.
type ConnLimit struct {
	clock   pipeline.Clock
	limit   int
	upto    bool
	dst     bool
	prefix  int
	mask    uint32
	timeout int64
	shards  [64]shard

	env *pipeline.Env
	// ct is the pipeline's conntrack table, looked up at the first
	// packet (the stages are all built by then); nil without one.
	ct     atomic.Pointer[conntrack.Table]
	ctOnce sync.Once
}

// grace is how long a connection is counted before conntrack must know
// it: the first packet of a connection passes the rules before conntrack
// confirms it at the end of the pipeline (Linux keeps such an entry for
// the jiffy it was added in).
const grace = int64(2 * time.Second)

// table returns the conntrack table the pipeline tracks with, or nil.
func (m *ConnLimit) table() *conntrack.Table {
	m.ctOnce.Do(func() {
		if m.env == nil {
			return
		}
		if t, ok := m.env.Lookup("conntrack.table").(*conntrack.Table); ok {
			m.ct.Store(t)
		}
	})
	return m.ct.Load()
}

var (
	_ rules.MatchModule = (*ConnLimit)(nil)
	_ rules.Stateful    = (*ConnLimit)(nil)
)

// Module returns the plugin's registration.
func (*ConnLimit) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.connlimit", New: func() pipeline.Module { return new(ConnLimit) }}
}

// Keys returns the rule key of the match.
func (*ConnLimit) Keys() (keys, options []string) { return []string{"connlimit"}, nil }

// Decode reads N or the table.
func (m *ConnLimit) Decode(d *rules.Decoder, kv config.KV) bool {
	m.prefix, m.timeout = 32, int64(5*time.Minute)
	setLimit := func(v config.Value, what string) bool {
		x, isInt := v.V.(int64)
		if !isInt || x < 0 || x > 1<<30 {
			d.Errorf(kv.Pos, "connlimit%s: expected a count, got %s", what, config.Describe(v.V))
			return false
		}
		m.limit = int(x)
		return true
	}
	switch x := kv.Value.V.(type) {
	case int64:
		if !setLimit(kv.Value, "") {
			return false
		}
	case map[string]config.Value:
		_, a := x["above"]
		_, u := x["upto"]
		if a == u {
			d.Errorf(kv.Pos, "connlimit needs one of above or upto")
			return false
		}
		for k, v := range x {
			switch k {
			case "above":
				if !setLimit(v, ".above") {
					return false
				}
			case "upto":
				m.upto = true
				if !setLimit(v, ".upto") {
					return false
				}
			case "prefix":
				p, isInt := v.V.(int64)
				if !isInt || p < 0 || p > 32 {
					d.Errorf(kv.Pos, "connlimit.prefix: expected 0..32, got %s", config.Describe(v.V))
					return false
				}
				m.prefix = int(p)
			case "mode":
				switch v.V {
				case "src":
				case "dst":
					m.dst = true
				default:
					d.Errorf(kv.Pos, "connlimit.mode: expected \"src\" or \"dst\", got %s", config.Describe(v.V))
					return false
				}
			case "timeout":
				s, _ := v.V.(string)
				dur, err := time.ParseDuration(s)
				if err != nil || dur <= 0 {
					d.Errorf(kv.Pos, "connlimit.timeout: expected a duration like \"5m\", got %s", config.Describe(v.V))
					return false
				}
				m.timeout = int64(dur)
			default:
				d.Errorf(kv.Pos, "connlimit: unknown key %q (above, upto, prefix, mode, timeout)", k)
				return false
			}
		}
	default:
		d.Errorf(kv.Pos, "connlimit: expected a count or { above = N, prefix = 24 }, got %s", config.Describe(kv.Value.V))
		return false
	}
	if m.prefix > 0 {
		m.mask = ^uint32(0) << (32 - uint(m.prefix))
	}
	for i := range m.shards {
		m.shards[i].groups = map[uint32]map[connKey]entry{}
	}
	m.clock = d.Clock
	m.env = d.Env
	return true
}

// Stateful marks the match as counting.
func (*ConnLimit) Stateful() {}

// Match counts the packet's connection and compares.
//
// With conntrack in the pipeline, a connection counts while conntrack
// has it, as Linux's nf_conncount counts: an attempt the rules refused
// is never confirmed and drops out of the count once its grace is over,
// and a quiet connection stays counted without its packets passing the
// rule. Without conntrack, a connection counts until timeout passes
// without a packet of it reaching the match.
func (m *ConnLimit) Match(pkt *packet.Packet) bool {
	p := &pkt.Parsed
	var ck connKey
	if c, ok := pkt.CT.(*conntrack.Conn); ok && c != nil {
		o := c.Tuples()[conntrack.Original] // both directions, before and after NAT
		ck = connKey{o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto}
	} else {
		ck = connKey{p.Src, p.Dst, p.SrcPort, p.DstPort, p.IPProto}
		if p.Proto == packet.ICMP {
			ck.sport, ck.dport = p.ICMPID, 0
		}
		if pkt.CTReply {
			ck.src, ck.dst, ck.sport, ck.dport = ck.dst, ck.src, ck.dport, ck.sport
		}
	}
	a := ck.src
	if m.dst {
		a = ck.dst
	}
	k := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) & m.mask
	now := m.clock.Now()
	tab := m.table()
	sh := &m.shards[(k*0x9e3779b1)>>26]
	sh.mu.Lock()
	g := sh.groups[k]
	isNew := pkt.CTState == packet.CTNew || pkt.CTState == packet.CTNone
	closing := p.Proto == packet.TCP && p.TCPFlags&(header.TCPFlagRST|header.TCPFlagFIN) != 0
	if e, known := g[ck]; known {
		if closing {
			delete(g, ck)
		} else {
			e.seen = now
			g[ck] = e
		}
	} else if isNew && !closing {
		if g == nil {
			g = map[connKey]entry{}
			sh.groups[k] = g
		}
		g[ck] = entry{added: now, seen: now}
	}
	n := 0
	for c, e := range g {
		var gone bool
		if tab != nil {
			gone = now-e.added > grace && !tab.TupleTaken(conntrack.Tuple{Src: c.src, Dst: c.dst, SrcPort: c.sport, DstPort: c.dport, Proto: c.proto}, nil)
		} else {
			gone = now-e.seen > m.timeout
		}
		if gone {
			delete(g, c)
			continue
		}
		n++
	}
	if g != nil && len(g) == 0 {
		delete(sh.groups, k)
	}
	sh.mu.Unlock()
	if m.upto {
		return n <= m.limit
	}
	return n > m.limit
}

// List shows "#conn src/32 > 10" as libxt_connlimit does.
func (m *ConnLimit) List(l *rules.Listing) {
	dir := "src"
	if m.dst {
		dir = "dst"
	}
	op := ">"
	if m.upto {
		op = "<="
	}
	l.Matches = append(l.Matches, fmt.Sprintf("#conn %s/%d %s %d", dir, m.prefix, op, m.limit))
}
