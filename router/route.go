package router

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"fwd/config"
)

// Route is one entry of the routing table.
type Route struct {
	Prefix netip.Prefix
	Via    [4]byte // zero for a connected route (the next hop is the destination)
	HasVia bool
	Dev    int // interface index
	Local  bool
	Pos    config.Pos

	net, mask uint32
}

// Table is a routing table with longest-prefix match. Connected routes come
// from the interfaces, static routes from [[route]]; the router's own
// addresses are host routes marked Local. A Table is immutable once built:
// a reload builds a new one.
//
// Lookup order is host, subnet, network, default (RFC 1812 §5.2.4.3's
// longest match): entries are sorted by prefix length, longest first, and
// the first match wins. Tables are small on a gateway (tens of routes), so a
// sorted scan of 16-byte entries beats a trie here; a trie would pay off at
// thousands of routes.
type Table struct {
	routes []Route
}

// NewTable builds the table for cfg.
func NewTable(cfg *config.Config) (*Table, error) {
	t := &Table{}
	for i, ifc := range cfg.Interfaces {
		a := ifc.Addr.Addr().As4()
		t.add(Route{Prefix: netip.PrefixFrom(ifc.Addr.Addr(), 32), Dev: i, Local: true, Pos: ifc.Pos})
		t.add(Route{Prefix: ifc.Addr.Masked(), Dev: i, Pos: ifc.Pos})
		_ = a
	}
	for _, r := range cfg.Routes {
		ifc := cfg.Interface(r.Dev)
		if ifc == nil {
			return nil, fmt.Errorf("%s: route to %s: unknown interface %q", r.Pos, r.To, r.Dev)
		}
		rt := Route{Prefix: r.To.Masked(), Dev: ifc.Index, Pos: r.Pos}
		if r.Via.IsValid() {
			rt.Via = r.Via.As4()
			rt.HasVia = true
		}
		t.add(rt)
	}
	sort.SliceStable(t.routes, func(i, j int) bool {
		a, b := t.routes[i], t.routes[j]
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() > b.Prefix.Bits()
		}
		return a.Local && !b.Local
	})
	return t, nil
}

func (t *Table) add(r Route) {
	a := r.Prefix.Addr().As4()
	r.net = binary.BigEndian.Uint32(a[:])
	if b := r.Prefix.Bits(); b > 0 {
		r.mask = ^uint32(0) << (32 - b)
	}
	r.net &= r.mask
	t.routes = append(t.routes, r)
}

// Lookup returns the route for dst, or nil when there is none.
func (t *Table) Lookup(dst [4]byte) *Route {
	d := binary.BigEndian.Uint32(dst[:])
	for i := range t.routes {
		r := &t.routes[i]
		if d&r.mask == r.net {
			return r
		}
	}
	return nil
}

// IsLocal reports whether dst is one of the router's own addresses.
func (t *Table) IsLocal(dst [4]byte) bool {
	r := t.Lookup(dst)
	return r != nil && r.Local
}

// NextHop returns the address to resolve on the egress link for dst.
func (r *Route) NextHop(dst [4]byte) [4]byte {
	if r.HasVia {
		return r.Via
	}
	return dst
}

// Routes returns the entries in lookup order.
func (t *Table) Routes() []Route { return t.routes }
