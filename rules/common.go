package rules

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"fwd/config"
	"fwd/packet"
)

// Shared match bodies: the src/dst, sport/dport and in/out plugins embed
// these, so the index (Indexable) and the listing see one type per kind.

type netMask struct{ addr, mask uint32 }

// AddrMatch matches the source or destination address against addresses,
// prefixes or a named set, optionally negated.
type AddrMatch struct {
	field Field
	neg   bool
	nets  []netMask
	ivs   []Interval
	texts []string
	set   *Set
	setAP bool // an ipv4_addr_port set: address and port together
	key   string
}

// DecodeAddr configures m from kv for field f (FieldSrc or FieldDst).
func (m *AddrMatch) DecodeAddr(d *Decoder, kv config.KV, f Field) bool {
	m.field, m.key = f, kv.Key
	items, neg, err := Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	ok := true
	for _, it := range items {
		s, isStr := it.V.(string)
		if !isStr {
			d.Errorf(kv.Pos, "%s: expected an address, prefix or \"@set\", got %s", kv.Key, config.Describe(it.V))
			ok = false
			continue
		}
		if name, isSet := strings.CutPrefix(s, "@"); isSet {
			if len(items) > 1 {
				d.Errorf(kv.Pos, "%s: a set cannot be mixed with other elements", kv.Key)
				return false
			}
			m.set = d.Set(name, kv.Pos, SetAddr, SetNet, SetAddrPort)
			if m.set == nil {
				return false
			}
			m.setAP = m.set.Type == SetAddrPort
			return true
		}
		p, perr := ParsePrefix(s)
		if perr != nil {
			d.Errorf(kv.Pos, "%s: %v", kv.Key, perr)
			ok = false
			continue
		}
		iv := prefixInterval(p)
		m.nets = append(m.nets, netMask{iv.Lo, ^(iv.Hi - iv.Lo)})
		m.ivs = append(m.ivs, iv)
		if p.Bits() == 32 {
			m.texts = append(m.texts, p.Addr().String())
		} else {
			m.texts = append(m.texts, p.String())
		}
	}
	return ok
}

// Match tests the packet's address.
func (m *AddrMatch) Match(pkt *packet.Packet) bool {
	a := pkt.Parsed.Src
	if m.field == FieldDst {
		a = pkt.Parsed.Dst
	}
	hit := false
	switch {
	case m.setAP:
		p := pkt.Parsed.Proto
		if p != packet.TCP && p != packet.UDP {
			return false
		}
		port := pkt.Parsed.SrcPort
		if m.field == FieldDst {
			port = pkt.Parsed.DstPort
		}
		hit = m.set.ContainsAddrPort(a, port)
	case m.set != nil:
		hit = m.set.ContainsAddr(a)
	default:
		k := addrU32(a)
		for _, n := range m.nets {
			if k&n.mask == n.addr {
				hit = true
				break
			}
		}
	}
	return hit != m.neg
}

// Index offers the prefixes to a run index (not when negated or a set).
func (m *AddrMatch) Index() (Field, []Interval, bool) {
	if m.neg || m.set != nil {
		return m.field, nil, false
	}
	return m.field, m.ivs, true
}

// List shows the address in the source or destination column, or a set as
// iptables' "match-set NAME src".
func (m *AddrMatch) List(l *Listing) {
	dir := "src"
	if m.field == FieldDst {
		dir = "dst"
	}
	if m.set != nil {
		s := "match-set " + m.set.Name + " " + dir
		if m.setAP {
			s += "," + dir
		}
		if m.neg {
			s = "! " + s
		}
		l.Matches = append(l.Matches, s)
		return
	}
	t := strings.Join(m.texts, ",")
	if m.field == FieldSrc {
		l.Src, l.SrcInv = t, m.neg
	} else {
		l.Dst, l.DstInv = t, m.neg
	}
}

// PortMatch matches the TCP/UDP source or destination port against ports,
// ranges or a port set. A packet without ports never matches, negated or
// not (iptables' tcp/udp match fails first).
type PortMatch struct {
	field Field
	neg   bool
	ivs   []Interval
	set   *Set
	texts []string
}

// DecodePort configures m from kv for field f (FieldSport or FieldDport).
func (m *PortMatch) DecodePort(d *Decoder, kv config.KV, f Field) bool {
	m.field = f
	items, neg, err := Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	if p, ok := d.Proto(); ok && p != 6 && p != 17 {
		d.Errorf(kv.Pos, "%s needs proto tcp or udp (the rule has proto %s)", kv.Key, ProtoName(p))
		return false
	}
	ok := true
	for _, it := range items {
		var lo, hi uint16
		switch x := it.V.(type) {
		case int64:
			if x < 0 || x > 65535 {
				d.Errorf(kv.Pos, "%s: %d is not a port (0..65535)", kv.Key, x)
				ok = false
				continue
			}
			lo, hi = uint16(x), uint16(x)
		case string:
			if name, isSet := strings.CutPrefix(x, "@"); isSet {
				if len(items) > 1 {
					d.Errorf(kv.Pos, "%s: a set cannot be mixed with other elements", kv.Key)
					return false
				}
				m.set = d.Set(name, kv.Pos, SetPort)
				return m.set != nil
			}
			var good bool
			lo, hi, good = parsePortRange(x)
			if !good {
				d.Errorf(kv.Pos, "%s: %q is not a port, a range \"a-b\" or \"@set\"", kv.Key, x)
				ok = false
				continue
			}
		default:
			d.Errorf(kv.Pos, "%s: expected a port, a range or \"@set\", got %s", kv.Key, config.Describe(it.V))
			ok = false
			continue
		}
		m.ivs = append(m.ivs, Interval{uint32(lo), uint32(hi)})
		if lo == hi {
			m.texts = append(m.texts, strconv.Itoa(int(lo)))
		} else {
			m.texts = append(m.texts, fmt.Sprintf("%d:%d", lo, hi))
		}
	}
	return ok
}

// Match tests the packet's port.
func (m *PortMatch) Match(pkt *packet.Packet) bool {
	p := &pkt.Parsed
	if p.Proto != packet.TCP && p.Proto != packet.UDP {
		return false
	}
	port := p.SrcPort
	if m.field == FieldDport {
		port = p.DstPort
	}
	hit := false
	if m.set != nil {
		hit = m.set.ContainsPort(port)
	} else {
		k := uint32(port)
		for _, iv := range m.ivs {
			if k >= iv.Lo && k <= iv.Hi {
				hit = true
				break
			}
		}
	}
	return hit != m.neg
}

// Index offers the port ranges to a run index.
func (m *PortMatch) Index() (Field, []Interval, bool) {
	if m.neg || m.set != nil {
		return m.field, nil, false
	}
	return m.field, m.ivs, true
}

// List shows "dpt:22", "dpts:8000:8099", a multiport list or a set.
func (m *PortMatch) List(l *Listing) {
	dir := "s"
	if m.field == FieldDport {
		dir = "d"
	}
	bang := ""
	if m.neg {
		bang = "!"
	}
	switch {
	case m.set != nil:
		side := " src" // iptables -m set: "match-set NAME src|dst"
		if m.field == FieldDport {
			side = " dst"
		}
		s := "match-set " + m.set.Name + side
		if m.neg {
			s = "! " + s
		}
		l.Matches = append(l.Matches, s)
	case len(m.texts) == 1 && !strings.Contains(m.texts[0], ":"):
		l.L4 = append(l.L4, dir+"pt:"+bang+m.texts[0])
	case len(m.texts) == 1:
		l.L4 = append(l.L4, dir+"pts:"+bang+m.texts[0])
	default:
		s := "multiport " + dir + "ports "
		if m.neg {
			s += "! "
		}
		l.Matches = append(l.Matches, s+strings.Join(m.texts, ","))
	}
}

// IfMatch matches the input or output interface (names with iptables' "+"
// wildcard), optionally negated. Packets with no such interface (local
// origin, not routed) match only a negated rule.
type IfMatch struct {
	out  bool
	neg  bool
	mask uint64
	text string
}

// DecodeIf configures m from kv; out selects the output interface.
func (m *IfMatch) DecodeIf(d *Decoder, kv config.KV, out bool) bool {
	m.out = out
	items, neg, err := Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	// iptables: "Can't use -i with OUTPUT/POSTROUTING", "Can't use -o with
	// PREROUTING/INPUT".
	bad := packet.Output.Mask() | packet.Postrouting.Mask()
	if out {
		bad = packet.Prerouting.Mask() | packet.Input.Mask()
	}
	if d.Hooks&bad != 0 {
		var hs []string
		for h := packet.Prerouting; h <= packet.Postrouting; h++ {
			if d.Hooks.Has(h) && bad.Has(h) {
				hs = append(hs, h.String())
			}
		}
		where := "chain " + d.Chain
		if !config.IsHook(d.Chain) {
			where += " (reached from " + strings.Join(hs, ", ") + ")"
		}
		if out {
			d.Errorf(kv.Pos, "out cannot be used in %s: packets there have no output interface yet", where)
		} else {
			d.Errorf(kv.Pos, "in cannot be used in %s: packets there have no input interface", where)
		}
		return false
	}
	ok := true
	var names []string
	for _, it := range items {
		s, isStr := it.V.(string)
		if !isStr {
			d.Errorf(kv.Pos, "%s: expected an interface name, got %s", kv.Key, config.Describe(it.V))
			ok = false
			continue
		}
		mk, good := d.InterfaceMask(s, kv.Pos)
		if !good {
			ok = false
			continue
		}
		m.mask |= mk
		names = append(names, s)
	}
	m.text = strings.Join(names, ",")
	if m.neg {
		m.text = "!" + m.text
	}
	return ok
}

// Match tests the packet's interface.
func (m *IfMatch) Match(pkt *packet.Packet) bool {
	i := pkt.InIf
	if m.out {
		i = pkt.OutIf
	}
	hit := i >= 0 && i < 64 && m.mask&(1<<uint(i)) != 0
	return hit != m.neg
}

// List fills the in or out column.
func (m *IfMatch) List(l *Listing) {
	if m.out {
		l.Out = m.text
	} else {
		l.In = m.text
	}
}

// Bucket is a token bucket on a clock (nanoseconds): one token every
// Every nanoseconds, at most Burst saved, as iptables' limit match. It is
// the GCRA form (one timestamp, no refill timer) and safe for concurrent
// use: one CAS loop, no lock.
type Bucket struct {
	Every int64
	Burst int64
	tat   atomic.Int64 // theoretical arrival time of the next conforming packet
}

// Allow takes a token at time now and reports whether one was there.
func (b *Bucket) Allow(now int64) bool {
	tol := (b.Burst - 1) * b.Every
	for {
		old := b.tat.Load()
		tat := max(old, now)
		if tat-now > tol {
			return false
		}
		if b.tat.CompareAndSwap(old, tat+b.Every) {
			return true
		}
	}
}

// RangeMatch matches the source or destination address against an
// inclusive range "a-b" (iptables' iprange), optionally negated.
type RangeMatch struct {
	field  Field
	neg    bool
	lo, hi uint32
	text   string
}

// DecodeRange configures m from kv for field f.
func (m *RangeMatch) DecodeRange(d *Decoder, kv config.KV, f Field) bool {
	m.field = f
	s, ok := kv.Value.V.(string)
	if !ok {
		d.Errorf(kv.Pos, "%s: expected a string \"a.b.c.d-e.f.g.h\", got %s", kv.Key, config.Describe(kv.Value.V))
		return false
	}
	s = strings.TrimSpace(s)
	if r, neg := strings.CutPrefix(s, "!"); neg {
		m.neg, s = true, strings.TrimSpace(r)
	}
	a, b, found := strings.Cut(s, "-")
	x, err1 := ParsePrefix(strings.TrimSpace(a))
	y, err2 := ParsePrefix(strings.TrimSpace(b))
	if !found || err1 != nil || err2 != nil || x.Bits() != 32 || y.Bits() != 32 {
		d.Errorf(kv.Pos, "%s: %q is not an address range \"a.b.c.d-e.f.g.h\"", kv.Key, s)
		return false
	}
	m.lo, m.hi = addrU32(x.Addr().As4()), addrU32(y.Addr().As4())
	if m.hi < m.lo {
		d.Errorf(kv.Pos, "%s: range %q ends before it starts", kv.Key, s)
		return false
	}
	m.text = x.Addr().String() + "-" + y.Addr().String()
	return true
}

// Match tests the packet's address.
func (m *RangeMatch) Match(pkt *packet.Packet) bool {
	a := pkt.Parsed.Src
	if m.field == FieldDst {
		a = pkt.Parsed.Dst
	}
	k := addrU32(a)
	return (k >= m.lo && k <= m.hi) != m.neg
}

// Index offers the range to a run index.
func (m *RangeMatch) Index() (Field, []Interval, bool) {
	return m.field, []Interval{{m.lo, m.hi}}, !m.neg
}

// List shows "source IP range a-b" as libxt_iprange does.
func (m *RangeMatch) List(l *Listing) {
	s := "source IP range "
	if m.field == FieldDst {
		s = "destination IP range "
	}
	if m.neg {
		s = "! " + s
	}
	l.Matches = append(l.Matches, s+m.text)
}

// MarkMatch matches the packet mark or the connection mark under a mask:
// "0x1/0xff", 5, or "!0x1".
type MarkMatch struct {
	ct          bool
	neg         bool
	value, mask uint32
}

// ParseMark parses "V[/M]" (decimal or 0x hex) or an integer.
func ParseMark(v any) (value, mask uint32, ok bool) {
	switch x := v.(type) {
	case int64:
		if x < 0 || x > 0xffffffff {
			return 0, 0, false
		}
		return uint32(x), 0xffffffff, true
	case string:
		a, b, hasMask := strings.Cut(strings.TrimSpace(x), "/")
		va, err := strconv.ParseUint(strings.TrimSpace(a), 0, 32)
		if err != nil {
			return 0, 0, false
		}
		mask := uint64(0xffffffff)
		if hasMask {
			mask, err = strconv.ParseUint(strings.TrimSpace(b), 0, 32)
			if err != nil {
				return 0, 0, false
			}
		}
		return uint32(va), uint32(mask), true
	}
	return 0, 0, false
}

// DecodeMark configures m from kv; ct selects the connection mark.
func (m *MarkMatch) DecodeMark(d *Decoder, kv config.KV, ct bool) bool {
	m.ct = ct
	v := kv.Value.V
	if s, ok := v.(string); ok {
		if r, neg := strings.CutPrefix(strings.TrimSpace(s), "!"); neg {
			m.neg, v = true, r
		}
	}
	val, mask, ok := ParseMark(v)
	if !ok {
		d.Errorf(kv.Pos, "%s: expected a mark like 5, \"0x1\" or \"0x1/0xff\", got %s", kv.Key, config.Describe(kv.Value.V))
		return false
	}
	m.value, m.mask = val&mask, mask
	return true
}

// Match tests the mark.
func (m *MarkMatch) Match(pkt *packet.Packet) bool {
	v := pkt.Mark
	if m.ct {
		v = pkt.CTMark
	}
	return (v&m.mask == m.value) != m.neg
}

// List shows "mark match 0x1/0xff" or "connmark match ...".
func (m *MarkMatch) List(l *Listing) {
	s := "mark match "
	if m.ct {
		s = "connmark match "
	}
	if m.neg {
		s += "!"
	}
	s += fmt.Sprintf("0x%x", m.value)
	if m.mask != 0xffffffff {
		s += fmt.Sprintf("/0x%x", m.mask)
	}
	l.Matches = append(l.Matches, s)
}

// Reset empties the bucket's history (a full bucket).
func (b *Bucket) Reset() { b.tat.Store(0) }
