package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"fwd/config"
)

// SetType is the element type of a named set.
type SetType uint8

const (
	SetNone     SetType = iota
	SetAddr             // ipv4_addr: single addresses (hash)
	SetNet              // ipv4_net: prefixes; an address is in the set when any prefix holds it
	SetPort             // port: ports and port ranges (bitmap)
	SetAddrPort         // ipv4_addr_port: "addr:port" pairs (hash)
)

var setTypeNames = [...]string{"none", "ipv4_addr", "ipv4_net", "port", "ipv4_addr_port"}

func (t SetType) String() string {
	if int(t) < len(setTypeNames) {
		return setTypeNames[t]
	}
	return "unknown"
}

// ParseSetType maps a config type name to a SetType.
func ParseSetType(s string) (SetType, bool) {
	for i, n := range setTypeNames {
		if i != 0 && n == s {
			return SetType(i), true
		}
	}
	return SetNone, false
}

// Set is a named set. Lookups read an immutable snapshot through an atomic
// pointer (no lock on the datapath); Add and Delete build a new snapshot
// and swap it in, so the control socket can change a set without
// recompiling the ruleset.
type Set struct {
	Name string
	Type SetType
	Pos  config.Pos

	mu  sync.Mutex // mu serializes writers (Add, Delete)
	cur atomic.Pointer[setData]
}

type setData struct {
	elems []string // canonical element text, in insertion order
	addrs map[uint32]struct{}
	nets  [33]map[uint32]struct{} // by prefix length
	lens  []uint8                 // prefix lengths present, longest first
	ports *[1024]uint64           // bitmap
	ap    map[uint64]struct{}     // addr<<16 | port
}

func newSet(name string, t SetType, pos config.Pos) *Set {
	s := &Set{Name: name, Type: t, Pos: pos}
	d, _ := buildSet(t, nil)
	s.cur.Store(d)
	return s
}

// canonical checks one element and returns its canonical text and the
// intervals it covers (addresses as uint32; ports; addr:port as addr<<16|port).
func canonicalElem(t SetType, e string) (string, error) {
	e = strings.TrimSpace(e)
	switch t {
	case SetAddr:
		a, err := netip.ParseAddr(e)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("%q is not an IPv4 address", e)
		}
		return a.String(), nil
	case SetNet:
		p, err := ParsePrefix(e)
		if err != nil {
			return "", err
		}
		if p.Bits() == 32 {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	case SetPort:
		lo, hi, ok := parsePortRange(e)
		if !ok {
			return "", fmt.Errorf("%q is not a port or a port range like \"8000-8099\"", e)
		}
		if lo == hi {
			return strconv.Itoa(int(lo)), nil
		}
		return fmt.Sprintf("%d-%d", lo, hi), nil
	case SetAddrPort:
		ap, err := netip.ParseAddrPort(e)
		if err != nil || !ap.Addr().Is4() {
			return "", fmt.Errorf("%q is not an address and port like \"192.0.2.1:80\"", e)
		}
		return ap.String(), nil
	}
	return "", fmt.Errorf("set has no type")
}

func buildSet(t SetType, elems []string) (*setData, error) {
	d := &setData{elems: elems}
	switch t {
	case SetAddr:
		d.addrs = make(map[uint32]struct{}, len(elems))
	case SetPort:
		d.ports = new([1024]uint64)
	case SetAddrPort:
		d.ap = make(map[uint64]struct{}, len(elems))
	}
	for _, e := range elems {
		switch t {
		case SetAddr:
			a, _ := netip.ParseAddr(e)
			d.addrs[addrU32(a.As4())] = struct{}{}
		case SetNet:
			p, err := ParsePrefix(e)
			if err != nil {
				return nil, err
			}
			b := p.Bits()
			if d.nets[b] == nil {
				d.nets[b] = map[uint32]struct{}{}
				d.lens = append(d.lens, uint8(b))
			}
			d.nets[b][addrU32(p.Addr().As4())] = struct{}{}
		case SetPort:
			lo, hi, _ := parsePortRange(e)
			for p := int(lo); p <= int(hi); p++ {
				d.ports[p>>6] |= 1 << (uint(p) & 63)
			}
		case SetAddrPort:
			ap, _ := netip.ParseAddrPort(e)
			d.ap[uint64(addrU32(ap.Addr().As4()))<<16|uint64(ap.Port())] = struct{}{}
		}
	}
	slices.SortFunc(d.lens, func(a, b uint8) int { return int(b) - int(a) })
	return d, nil
}

// Add adds an element ("192.0.2.1", "10.0.0.0/8", "8000-8099",
// "192.0.2.1:80" by type). Adding a present element is not an error.
func (s *Set) Add(elem string) error {
	c, err := canonicalElem(s.Type, elem)
	if err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if slices.Contains(old.elems, c) {
		return nil
	}
	d, err := buildSet(s.Type, append(slices.Clip(old.elems), c))
	if err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	s.cur.Store(d)
	return nil
}

// Delete removes an element as it was added; a missing element is an error.
func (s *Set) Delete(elem string) error {
	c, err := canonicalElem(s.Type, elem)
	if err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	i := slices.Index(old.elems, c)
	if i < 0 {
		return fmt.Errorf("set %s: no element %s", s.Name, c)
	}
	elems := slices.Delete(slices.Clone(old.elems), i, i+1)
	d, err := buildSet(s.Type, elems)
	if err != nil {
		return fmt.Errorf("set %s: %w", s.Name, err)
	}
	s.cur.Store(d)
	return nil
}

// Flush removes every element.
func (s *Set) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := buildSet(s.Type, nil)
	s.cur.Store(d)
}

// Elements returns the elements in canonical text, in insertion order.
func (s *Set) Elements() []string { return slices.Clone(s.cur.Load().elems) }

// Len returns the number of elements.
func (s *Set) Len() int { return len(s.cur.Load().elems) }

// ContainsAddr reports whether address a is in an ipv4_addr or ipv4_net set.
func (s *Set) ContainsAddr(a [4]byte) bool {
	d := s.cur.Load()
	k := addrU32(a)
	if d.addrs != nil {
		_, ok := d.addrs[k]
		return ok
	}
	for _, b := range d.lens {
		m := uint32(0)
		if b > 0 {
			m = ^uint32(0) << (32 - uint(b))
		}
		if _, ok := d.nets[b][k&m]; ok {
			return true
		}
	}
	return false
}

// ContainsPort reports whether port p is in a port set.
func (s *Set) ContainsPort(p uint16) bool {
	d := s.cur.Load()
	return d.ports != nil && d.ports[p>>6]&(1<<(p&63)) != 0
}

// ContainsAddrPort reports whether a:p is in an ipv4_addr_port set.
func (s *Set) ContainsAddrPort(a [4]byte, p uint16) bool {
	d := s.cur.Load()
	if d.ap == nil {
		return false
	}
	_, ok := d.ap[uint64(addrU32(a))<<16|uint64(p)]
	return ok
}

func parsePortRange(s string) (lo, hi uint16, ok bool) {
	s = strings.TrimSpace(s)
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		a, b, isRange = strings.Cut(s, ":")
	}
	x, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return uint16(x), uint16(x), true
	}
	y, err := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err != nil || y < x {
		return 0, 0, false
	}
	return uint16(x), uint16(y), true
}

// compileSets builds the named sets of cfg.
func compileSets(cfg *config.Config, errs *config.ErrorList) (map[string]*Set, []*Set) {
	m := map[string]*Set{}
	var list []*Set
	for _, cs := range cfg.Sets {
		t, ok := ParseSetType(cs.Type)
		if !ok {
			continue // config reported it
		}
		s := newSet(cs.Name, t, cs.Pos)
		var elems []string
		for _, e := range cs.Elements {
			var text string
			switch x := e.V.(type) {
			case string:
				text = x
			case int64:
				text = strconv.FormatInt(x, 10)
			default:
				*errs = append(*errs, e.Errorf("set %s: element %s is not a %s element", cs.Name, e.String(), t))
				continue
			}
			c, err := canonicalElem(t, text)
			if err != nil {
				*errs = append(*errs, e.Errorf("set %s: %v", cs.Name, err))
				continue
			}
			if !slices.Contains(elems, c) {
				elems = append(elems, c)
			}
		}
		d, err := buildSet(t, elems)
		if err == nil {
			s.cur.Store(d)
		}
		m[cs.Name] = s
		list = append(list, s)
	}
	return m, list
}
