package nat

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"fwd/rules"
)

// Kind is the kind of a NAT target. The zero value KindNone asks for
// nothing (a null binding).
type Kind uint8

const (
	KindNone Kind = iota
	SNAT
	DNAT
	Masquerade
	Redirect
	Netmap
)

var kindNames = [...]string{"none", "snat", "dnat", "masquerade", "redirect", "netmap"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// srcManip reports whether the kind changes the source at hook (SNAT,
// MASQUERADE, NETMAP at POSTROUTING/INPUT); the others change the
// destination (DNAT, REDIRECT, NETMAP at PREROUTING/OUTPUT).
func (k Kind) srcManip() bool { return k == SNAT || k == Masquerade }
func (k Kind) dstManip() bool { return k == DNAT || k == Redirect }

// Flags are iptables' NAT flags.
type Flags uint8

const (
	// Random (--random): no port preservation; the first port tried is a
	// keyed hash of the internal endpoint and the destination.
	Random Flags = 1 << iota
	// FullyRandom (--random-fully): every connection gets its own random
	// port (the mapping is per connection, not endpoint-independent).
	FullyRandom
	// Persistent (--persistent): a client keeps the same address of an
	// address range for every connection (hash of the source only).
	Persistent
)

// Balance is how DNAT picks one of several backends.
type Balance uint8

const (
	// BalanceHash picks by a hash of the client address (sticky).
	BalanceHash Balance = iota
	// BalanceRoundRobin picks the next backend for every new connection.
	BalanceRoundRobin
)

// Spec is a NAT decision: what a nat-table rule asks for, in the form the
// nat stage works with. Addresses are IPv4 in network order.
//
// The rules package puts a *rules.NAT on pkt.NAT; the stage converts it to
// a Spec on the stack (SpecFromRules). A *Spec (or anything with a
// NATSpec() *Spec method) on pkt.NAT is taken as is: that is how DNAT with
// several backends is expressed until rules carries them.
type Spec struct {
	Kind Kind
	// AddrMin..AddrMax is the address range (snat, dnat); valid iff HasAddr.
	AddrMin, AddrMax [4]byte
	HasAddr          bool
	// PortMin..PortMax is the port range; valid iff HasPorts. For snat and
	// masquerade it bounds the allocation; for dnat and redirect it is the
	// new destination port (range: one picked).
	PortMin, PortMax uint16
	HasPorts         bool
	// Prefix is netmap's network; the host part of the address is kept.
	Prefix netip.Prefix
	Flags  Flags
	// Backends, when not empty, are DNAT's destinations; a zero port keeps
	// the original destination port.
	Backends []netip.AddrPort
	Balance  Balance

	rr atomic.Uint32 // round-robin position
}

// NATSpec lets a *Spec stand for itself on pkt.NAT.
func (s *Spec) NATSpec() *Spec { return s }

// Specer is implemented by values the nat stage accepts on pkt.NAT
// besides *rules.NAT.
type Specer interface {
	NATSpec() *Spec
}

// SpecFromRules fills s from a rules.NAT (the rules package's parsed
// target) without allocating.
func SpecFromRules(n *rules.NAT, s *Spec) {
	s.Kind = KindNone
	switch n.Kind {
	case rules.SNAT:
		s.Kind = SNAT
	case rules.DNAT:
		s.Kind = DNAT
	case rules.Masquerade:
		s.Kind = Masquerade
	case rules.Redirect:
		s.Kind = Redirect
	case rules.Netmap:
		s.Kind = Netmap
	}
	s.HasAddr = n.HasAddr && n.AddrMin.Is4() && n.AddrMax.Is4()
	if s.HasAddr {
		s.AddrMin, s.AddrMax = n.AddrMin.As4(), n.AddrMax.As4()
	}
	s.HasPorts = n.HasPorts
	s.PortMin, s.PortMax = n.PortMin, n.PortMax
	s.Prefix = n.Prefix
	s.Flags = 0
	if n.Random {
		s.Flags |= Random
	}
	if n.FullyRandom {
		s.Flags |= FullyRandom
	}
	if n.Persistent {
		s.Flags |= Persistent
	}
	s.Backends = nil
	s.Balance = BalanceHash
}

// ParseSpec reads a spec from words, as tests and tools write it:
//
//	snat to=203.0.113.2-203.0.113.9:1024-2047 [random] [fully_random] [persistent]
//	masquerade [ports=1024-2047]
//	dnat to=192.168.1.10[:80] | to=192.168.1.10:80,192.168.1.11:80 [balance=round_robin|hash]
//	redirect [ports=8080]
//	netmap to=10.0.0.0/24
func ParseSpec(s string) (*Spec, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil, fmt.Errorf("nat: empty spec")
	}
	sp := &Spec{}
	switch f[0] {
	case "snat":
		sp.Kind = SNAT
	case "dnat":
		sp.Kind = DNAT
	case "masquerade":
		sp.Kind = Masquerade
	case "redirect":
		sp.Kind = Redirect
	case "netmap":
		sp.Kind = Netmap
	default:
		return nil, fmt.Errorf("nat: unknown kind %q (snat, dnat, masquerade, redirect, netmap)", f[0])
	}
	for _, w := range f[1:] {
		k, v, _ := strings.Cut(w, "=")
		switch k {
		case "random":
			sp.Flags |= Random
		case "fully_random":
			sp.Flags |= FullyRandom
		case "persistent":
			sp.Flags |= Persistent
		case "ports", "to_ports":
			lo, hi, ok := parsePorts(v)
			if !ok {
				return nil, fmt.Errorf("nat: ports %q: expected a port or a range \"a-b\"", v)
			}
			sp.PortMin, sp.PortMax, sp.HasPorts = lo, hi, true
		case "balance":
			switch v {
			case "hash":
				sp.Balance = BalanceHash
			case "round_robin":
				sp.Balance = BalanceRoundRobin
			default:
				return nil, fmt.Errorf("nat: balance %q: expected hash or round_robin", v)
			}
		case "to":
			if err := sp.parseTo(v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("nat: unknown option %q", w)
		}
	}
	switch sp.Kind {
	case SNAT:
		if !sp.HasAddr {
			return nil, fmt.Errorf("nat: snat needs to=ADDR[-ADDR][:PORT[-PORT]]")
		}
	case DNAT:
		if !sp.HasAddr && len(sp.Backends) == 0 && !sp.HasPorts {
			return nil, fmt.Errorf("nat: dnat needs to=ADDR[:PORT]")
		}
	case Netmap:
		if !sp.Prefix.IsValid() {
			return nil, fmt.Errorf("nat: netmap needs to=NETWORK/LEN")
		}
	}
	return sp, nil
}

func (sp *Spec) parseTo(v string) error {
	if sp.Kind == Netmap {
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("nat: to %q: expected NETWORK/LEN", v)
		}
		sp.Prefix = p.Masked()
		return nil
	}
	if strings.Contains(v, ",") {
		for _, b := range strings.Split(v, ",") {
			ap, err := parseAddrPort(b)
			if err != nil {
				return err
			}
			sp.Backends = append(sp.Backends, ap)
		}
		return nil
	}
	addrs, ports, hasPort := strings.Cut(v, ":")
	if addrs != "" {
		a1, a2, isRange := strings.Cut(addrs, "-")
		x, err := netip.ParseAddr(a1)
		if err != nil || !x.Is4() {
			return fmt.Errorf("nat: to %q: bad address %q", v, a1)
		}
		y := x
		if isRange {
			y, err = netip.ParseAddr(a2)
			if err != nil || !y.Is4() || y.Less(x) {
				return fmt.Errorf("nat: to %q: bad address range", v)
			}
		}
		sp.AddrMin, sp.AddrMax, sp.HasAddr = x.As4(), y.As4(), true
	}
	if hasPort {
		lo, hi, ok := parsePorts(ports)
		if !ok || lo == 0 {
			return fmt.Errorf("nat: to %q: bad port range", v)
		}
		sp.PortMin, sp.PortMax, sp.HasPorts = lo, hi, true
	}
	return nil
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("nat: backend %q: expected ADDR[:PORT]", s)
	}
	return netip.AddrPortFrom(a, 0), nil
}

func parsePorts(s string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	x, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, false
	}
	y := x
	if isRange {
		y, err = strconv.ParseUint(b, 10, 16)
		if err != nil || y < x {
			return 0, 0, false
		}
	}
	return uint16(x), uint16(y), true
}
