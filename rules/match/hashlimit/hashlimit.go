package hashlimit

import (
	"fmt"
	"sync"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register((*HashLimit)(nil)) }

type slot struct {
	key  uint32
	used bool
	b    rules.Bucket
}

// HashLimit is the hashlimit match.
type HashLimit struct {
	clock        pipeline.Clock
	every, burst int64
	n            int64
	unit         string
	dst, above   bool
	prefix       int
	mask         uint32
	slots        []slot
	mu           [64]sync.Mutex // mu[i&63] guards slots[i]'s key and used
}

var (
	_ rules.MatchModule = (*HashLimit)(nil)
	_ rules.Stateful    = (*HashLimit)(nil)
)

// Module returns the plugin's registration.
func (*HashLimit) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.hashlimit", New: func() pipeline.Module { return new(HashLimit) }}
}

// Keys returns the rule key of the match.
func (*HashLimit) Keys() (keys, options []string) { return []string{"hashlimit"}, nil }

// Decode reads the table.
func (m *HashLimit) Decode(d *rules.Decoder, kv config.KV) bool {
	t, ok := kv.Value.V.(map[string]config.Value)
	if !ok {
		d.Errorf(kv.Pos, "hashlimit: expected { rate = \"10/second\", burst = 5, mode = \"src\" }, got %s", config.Describe(kv.Value.V))
		return false
	}
	m.burst, m.prefix = 5, 32
	size := int64(1024)
	good := true
	for k, v := range t {
		switch k {
		case "rate":
			s, _ := v.V.(string)
			every, n, unit, ok := rules.ParseRate(s)
			if !ok {
				d.Errorf(kv.Pos, "hashlimit.rate: %s is not a rate like \"10/second\"", config.Describe(v.V))
				good = false
			}
			m.every, m.n, m.unit = every, n, unit
		case "burst":
			x, isInt := v.V.(int64)
			if !isInt || x < 1 || x > 10000 {
				d.Errorf(kv.Pos, "hashlimit.burst: expected an integer 1..10000, got %s", config.Describe(v.V))
				good = false
			}
			m.burst = x
		case "mode":
			s, _ := v.V.(string)
			switch s {
			case "src", "srcip":
			case "dst", "dstip":
				m.dst = true
			default:
				d.Errorf(kv.Pos, "hashlimit.mode: expected \"src\" or \"dst\", got %s", config.Describe(v.V))
				good = false
			}
		case "prefix":
			x, isInt := v.V.(int64)
			if !isInt || x < 0 || x > 32 {
				d.Errorf(kv.Pos, "hashlimit.prefix: expected 0..32, got %s", config.Describe(v.V))
				good = false
			}
			m.prefix = int(x)
		case "size":
			x, isInt := v.V.(int64)
			if !isInt || x < 1 || x > 1<<20 {
				d.Errorf(kv.Pos, "hashlimit.size: expected 1..1048576, got %s", config.Describe(v.V))
				good = false
			}
			size = x
		case "above":
			b, isBool := v.V.(bool)
			if !isBool {
				d.Errorf(kv.Pos, "hashlimit.above: expected true or false, got %s", config.Describe(v.V))
				good = false
			}
			m.above = b
		default:
			d.Errorf(kv.Pos, "hashlimit: unknown key %q (rate, burst, mode, prefix, size, above)", k)
			good = false
		}
	}
	if _, present := t["rate"]; !present {
		d.Errorf(kv.Pos, "hashlimit needs a rate")
		return false
	}
	if !good {
		return false
	}
	if m.prefix > 0 {
		m.mask = ^uint32(0) << (32 - uint(m.prefix))
	}
	m.slots = make([]slot, size)
	for i := range m.slots {
		m.slots[i].b.Every, m.slots[i].b.Burst = m.every, m.burst
	}
	m.clock = d.Clock
	return true
}

// Stateful marks the match as consuming tokens.
func (*HashLimit) Stateful() {}

// Match takes a token from the packet's bucket.
func (m *HashLimit) Match(pkt *packet.Packet) bool {
	a := pkt.Parsed.Src
	if m.dst {
		a = pkt.Parsed.Dst
	}
	k := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) & m.mask
	h := (k * 0x9e3779b1) ^ (k >> 15)
	i := int(h % uint32(len(m.slots)))
	mu := &m.mu[i&63]
	mu.Lock()
	s := &m.slots[i]
	if !s.used || s.key != k {
		s.used, s.key = true, k
		s.b.Reset()
	}
	ok := s.b.Allow(m.clock.Now())
	mu.Unlock()
	return ok != m.above
}

// List shows "limit: avg 10/sec burst 5 mode srcip" as libxt_hashlimit.
func (m *HashLimit) List(l *rules.Listing) {
	mode := "srcip"
	if m.dst {
		mode = "dstip"
	}
	s := "limit: "
	if m.above {
		s += "above "
	} else {
		s += "up to "
	}
	s += fmt.Sprintf("%d/%s burst %d mode %s", m.n, m.unit, m.burst, mode)
	if m.prefix != 32 {
		s += fmt.Sprintf(" %smask %d", mode[:3], m.prefix)
	}
	l.Matches = append(l.Matches, s)
}
