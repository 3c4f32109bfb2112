package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"fwd/config"
	"fwd/packet"
)

// NATKind is the kind of a NAT target.
type NATKind uint8

const (
	NATNone NATKind = iota
	SNAT
	DNAT
	Masquerade
	Redirect
	Netmap
)

var natKindNames = [...]string{"none", "snat", "dnat", "masquerade", "redirect", "netmap"}

func (k NATKind) String() string {
	if int(k) < len(natKindNames) {
		return natKindNames[k]
	}
	return "unknown"
}

// NAT is what a nat-table rule asks for: the nat package reads it from
// pkt.NAT (a *NAT) on a connection's first packet and sets up the binding.
// The rules package only parses and validates it.
type NAT struct {
	Kind NATKind
	// Address range to map to (snat, dnat), inclusive; valid iff HasAddr.
	// Masquerade and redirect take the interface's address instead.
	AddrMin, AddrMax netip.Addr
	HasAddr          bool
	// Port range (to's ":p-q" or to_ports), inclusive; valid iff HasPorts.
	PortMin, PortMax uint16
	HasPorts         bool
	// Prefix is netmap's network: the host part of the address is kept.
	Prefix netip.Prefix
	// Random, FullyRandom, Persistent are iptables' --random,
	// --random-fully and --persistent.
	Random, FullyRandom, Persistent bool
	// Table, Chain and Num say which rule chose this (for traces).
	Chain string
	Num   int
	Pos   config.Pos
}

// Do implements Target: the spec goes on the packet and the nat-table walk
// ends (a NAT target is terminal, like ACCEPT).
func (n *NAT) Do(pkt *packet.Packet) Verdict {
	pkt.NAT = n
	return Accept
}

// String renders the spec as iptables' listing does ("to:192.168.1.10:80").
func (n *NAT) String() string {
	var parts []string
	switch n.Kind {
	case SNAT, DNAT:
		s := "to:"
		if n.HasAddr {
			s += n.AddrMin.String()
			if n.AddrMax != n.AddrMin {
				s += "-" + n.AddrMax.String()
			}
		}
		if n.HasPorts {
			s += ":" + portRangeText(n.PortMin, n.PortMax, "-")
		}
		parts = append(parts, s)
	case Masquerade:
		if n.HasPorts {
			parts = append(parts, "masq ports: "+portRangeText(n.PortMin, n.PortMax, "-"))
		}
	case Redirect:
		if n.HasPorts {
			parts = append(parts, "redir ports "+portRangeText(n.PortMin, n.PortMax, "-"))
		}
	case Netmap:
		parts = append(parts, "to:"+n.Prefix.String())
	}
	if n.Random {
		parts = append(parts, "random")
	}
	if n.FullyRandom {
		parts = append(parts, "random-fully")
	}
	if n.Persistent {
		parts = append(parts, "persistent")
	}
	return strings.Join(parts, " ")
}

func portRangeText(lo, hi uint16, sep string) string {
	if lo == hi {
		return strconv.Itoa(int(lo))
	}
	return fmt.Sprintf("%d%s%d", lo, sep, hi)
}

// NATOptions are the rule keys NAT targets read.
var NATOptions = []string{"to", "to_ports", "random", "fully_random", "persistent"}

// CheckPlace records an error unless the rule's chain is in table and
// reached only from hooks in allowed. what names the action for messages.
func (d *Decoder) CheckPlace(pos config.Pos, what, table string, allowed packet.HookMask) bool {
	var names []string
	for h := packet.Prerouting; h <= packet.Postrouting; h++ {
		if allowed.Has(h) {
			names = append(names, h.String())
		}
	}
	if d.Table != table {
		d.Errorf(pos, "action %s is only valid in table %s (chains %s), not in %s", what, table, strings.Join(names, ", "), d.Table)
		return false
	}
	if bad := d.Hooks &^ allowed; bad != 0 {
		var bn []string
		for h := packet.Prerouting; h <= packet.Postrouting; h++ {
			if bad.Has(h) {
				bn = append(bn, h.String())
			}
		}
		where := "chain " + d.Chain
		if !config.IsHook(d.Chain) {
			where += " (reached from " + strings.Join(bn, ", ") + ")"
		}
		d.Errorf(pos, "action %s is not valid in %s; only in %s %s", what, where, table, strings.Join(names, ", "))
		return false
	}
	return true
}

// DecodeNAT parses a NAT target's keys (to, to_ports, random,
// fully_random, persistent) and checks its place.
func (d *Decoder) DecodeNAT(kind NATKind) (*NAT, bool) {
	n := &NAT{Kind: kind, Chain: d.Chain, Num: d.Num, Pos: d.Rule.Pos}
	akv, _ := d.Get("action")
	ok := true
	switch kind {
	case DNAT, Redirect:
		ok = d.CheckPlace(akv.Pos, kind.String(), "nat", packet.Prerouting.Mask()|packet.Output.Mask())
	case SNAT:
		ok = d.CheckPlace(akv.Pos, kind.String(), "nat", packet.Postrouting.Mask()|packet.Input.Mask())
	case Masquerade:
		ok = d.CheckPlace(akv.Pos, kind.String(), "nat", packet.Postrouting.Mask())
	case Netmap:
		ok = d.CheckPlace(akv.Pos, kind.String(), "nat", packet.Prerouting.Mask()|packet.Input.Mask()|packet.Output.Mask()|packet.Postrouting.Mask())
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"random", &n.Random}, {"fully_random", &n.FullyRandom}, {"persistent", &n.Persistent}} {
		if kv, present := d.Get(b.key); present {
			v, isBool := kv.Value.V.(bool)
			if !isBool {
				d.Errorf(kv.Pos, "%s: expected a boolean, got %s", kv.Key, config.Describe(kv.Value.V))
				ok = false
			}
			*b.dst = v
		}
	}
	tkv, hasTo := d.Get("to")
	pkv, hasPorts := d.Get("to_ports")
	switch kind {
	case SNAT, DNAT:
		if !hasTo {
			d.Errorf(akv.Pos, "action %s needs to = \"ADDR[-ADDR][:PORT[-PORT]]\"", kind)
			return nil, false
		}
		if hasPorts {
			d.Errorf(pkv.Pos, "to_ports is for masquerade and redirect; give %s ports in to (\"addr:port\")", kind)
			ok = false
		}
		s, isStr := tkv.Value.V.(string)
		if !isStr {
			d.Errorf(tkv.Pos, "to: expected a string like \"192.0.2.1:80\", got %s", config.Describe(tkv.Value.V))
			return nil, false
		}
		if !parseNATTo(s, n) {
			d.Errorf(tkv.Pos, "to: %q is not ADDR[-ADDR][:PORT[-PORT]]", s)
			return nil, false
		}
	case Netmap:
		if !hasTo {
			d.Errorf(akv.Pos, "action netmap needs to = \"NETWORK/LEN\"")
			return nil, false
		}
		s, isStr := tkv.Value.V.(string)
		if !isStr {
			d.Errorf(tkv.Pos, "to: expected a string like \"10.0.0.0/24\", got %s", config.Describe(tkv.Value.V))
			return nil, false
		}
		p, err := ParsePrefix(s)
		if err != nil {
			d.Errorf(tkv.Pos, "to: %v", err)
			return nil, false
		}
		n.Prefix = p
		if hasPorts {
			d.Errorf(pkv.Pos, "netmap maps addresses only; to_ports does not apply")
			ok = false
		}
	case Masquerade, Redirect:
		if hasTo {
			d.Errorf(tkv.Pos, "to does not apply to %s (it takes the interface's address); use to_ports for ports", kind)
			ok = false
		}
		if hasPorts {
			var lo, hi uint16
			good := false
			switch x := pkv.Value.V.(type) {
			case int64:
				if x >= 0 && x <= 65535 {
					lo, hi, good = uint16(x), uint16(x), true
				}
			case string:
				lo, hi, good = parsePortRange(x)
			}
			if !good {
				d.Errorf(pkv.Pos, "to_ports: expected a port or a range \"a-b\", got %s", config.Describe(pkv.Value.V))
				return nil, false
			}
			n.PortMin, n.PortMax, n.HasPorts = lo, hi, true
		}
	}
	if n.HasPorts {
		if p, isOne := d.Proto(); !isOne || (p != 6 && p != 17) {
			pos := pkv.Pos
			if !hasPorts {
				pos = tkv.Pos
			}
			d.Errorf(pos, "%s with ports needs proto = \"tcp\" or \"udp\"", kind)
			ok = false
		}
	}
	return n, ok
}

// parseNATTo parses "a[-b][:p[-q]]" (the address may be left out: ":p").
func parseNATTo(s string, n *NAT) bool {
	addrs, ports, hasPort := strings.Cut(s, ":")
	if addrs != "" {
		a1, a2, isRange := strings.Cut(addrs, "-")
		x, err := netip.ParseAddr(a1)
		if err != nil || !x.Is4() {
			return false
		}
		y := x
		if isRange {
			y, err = netip.ParseAddr(a2)
			if err != nil || !y.Is4() || y.Less(x) {
				return false
			}
		}
		n.AddrMin, n.AddrMax, n.HasAddr = x, y, true
	}
	if hasPort {
		lo, hi, ok := parsePortRange(ports)
		if !ok || lo == 0 {
			return false
		}
		n.PortMin, n.PortMax, n.HasPorts = lo, hi, true
	}
	return n.HasAddr || n.HasPorts
}
