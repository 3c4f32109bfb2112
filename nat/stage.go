package nat

import (
	"fmt"
	"sync/atomic"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register((*Stage)(nil)) }

// StateKey is the pipeline.Env.Shared key of the *State every nat stage
// instance uses.
const StateKey = "nat.state"

// Stage is "stage.nat", placed after "stage.rules.nat" at PREROUTING,
// OUTPUT and POSTROUTING. On a connection's first packet it turns the NAT
// spec the rules left on pkt.NAT into a binding: it picks the translated
// tuple, stores it as the unconfirmed conntrack entry's reply tuple (as
// nf_nat_setup_info does) and sets the SNAT or DNAT status bit. Every
// packet of a NATed connection, in both directions, is then rewritten
// from the entry alone, no rule consulted:
//
//	hook                  original direction      reply direction
//	PREROUTING, OUTPUT    destination (DNAT)      destination (un-SNAT)
//	POSTROUTING           source (SNAT)           source (un-DNAT)
//
// A packet of direction d is rewritten towards the inverse of the other
// direction's tuple: its source becomes tuple[!d]'s destination and its
// destination tuple[!d]'s source. ICMP errors RELATED to a connection get
// their outer address and the quoted packet translated (rewriteICMPError).
//
// Without a spec the stage also
//   - at PREROUTING admits inbound connections to a live mapping when the
//     filtering behaviour allows (Options.Filtering), and drops silently
//     (nat-filtered) those it does not (RFC 4787 REQ-8, RFC 5382 REQ-4);
//   - at POSTROUTING source-NATs a DNATed connection that leaves by the
//     interface it came in on to the public address it was sent to
//     (hairpinning, RFC 4787 REQ-9, RFC 5382 REQ-2);
//   - at PREROUTING drops an ICMP error conntrack found INVALID that
//     quotes a packet from one of the router's addresses: an error about a
//     packet NAT never sent (RFC 5508 REQ-5... §7.2).
type Stage struct {
	hook  packet.Hook
	st    *State
	clock pipeline.Clock
	addrs atomic.Pointer[ifAddrs] // swapped by a reload
	// kernel is NFQUEUE mode: the source is rewritten after the kernel's
	// routing decision (SourceAfterRouting, at the postrouting queue), not
	// here, since a packet whose source is already the router's own
	// address would be dropped by the kernel as a martian.
	kernel bool
}

// ifAddrs are the router's addresses from the configuration.
type ifAddrs struct {
	byIf  [][4]byte // the router's address on each interface, by index
	local [][4]byte // all of them
}

func addrsOf(cfg *config.Config) *ifAddrs {
	a := &ifAddrs{}
	if cfg == nil {
		return a
	}
	a.byIf = make([][4]byte, len(cfg.Interfaces))
	for i, ifc := range cfg.Interfaces {
		if ip := ifc.Addr.Addr(); ip.Is4() {
			a.byIf[i] = ip.As4()
			a.local = append(a.local, ip.As4())
		}
	}
	return a
}

var (
	_ pipeline.Provisioner  = (*Stage)(nil)
	_ pipeline.CleanerUpper = (*Stage)(nil)
	_ pipeline.Stage        = (*Stage)(nil)
	_ pipeline.Ticker       = (*Stage)(nil)
	_ pipeline.Reloader     = (*Stage)(nil)
)

// Module implements pipeline.Module.
func (*Stage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.nat", New: func() pipeline.Module { return new(Stage) }}
}

// Provision takes the conntrack table and the shared NAT state.
func (s *Stage) Provision(ctx *pipeline.Context) error {
	s.hook = ctx.Hook
	s.kernel = ctx.KernelRoutes
	switch s.hook {
	case packet.Prerouting, packet.Output, packet.Postrouting, packet.Input:
	default:
		return fmt.Errorf("nat: stage.nat cannot run at %s", s.hook)
	}
	s.clock = ctx.Clock
	ct, err := conntrack.FromEnv(ctx.Env)
	if err != nil {
		return err
	}
	opt := OptionsFrom(ctx.Config)
	if o, ok := ctx.Lookup(OptionsKey).(*Options); ok && o != nil {
		opt = *o // looked up outside Shared: Env's mutex is not reentrant
	}
	v, err := ctx.Shared(StateKey, func() (any, error) { return NewState(ct, opt), nil })
	if err != nil {
		return err
	}
	st, ok := v.(*State)
	if !ok {
		return fmt.Errorf("nat: shared %q is %T, not *nat.State", StateKey, v)
	}
	s.st = st
	s.addrs.Store(addrsOf(ctx.Config))
	return nil
}

// PrepareReload takes the new configuration's interface addresses. When
// an interface's address changed, the connections source-NATed to the old
// address and their mappings are dropped (as Linux's masquerade does on
// an address change): the old address is no longer the router's, so
// those connections cannot go on. The POSTROUTING instance does the flush.
//
// It also takes [nat_behavior]: the new filtering and mapping timeout
// apply to mappings from then on (live mappings keep the expiry they
// were given), hairpinning to new connections.
func (s *Stage) PrepareReload(cfg *config.Config) (func(), error) {
	nw := addrsOf(cfg)
	opt := OptionsFrom(cfg)
	return func() {
		if s.hook == packet.Postrouting {
			s.st.SetBehavior(opt)
		}
		old := s.addrs.Swap(nw)
		if s.hook != packet.Postrouting || old == nil {
			return
		}
		for i, a := range old.byIf {
			if a != ([4]byte{}) && (i >= len(nw.byIf) || nw.byIf[i] != a) && !nw.isLocal(a) {
				s.st.DropAddress(a, s.clock.Now())
			}
		}
	}, nil
}

// Cleanup ends the state's conntrack subscription (idempotent).
func (s *Stage) Cleanup() error {
	if s.st != nil {
		s.st.Close()
	}
	return nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "nat" }

// State returns the shared NAT state.
func (s *Stage) State() *State { return s.st }

// Tick applies conntrack events and frees expired mappings.
func (s *Stage) Tick(now int64, _ pipeline.Injector) { s.st.Housekeep(now) }

func (a *ifAddrs) isLocal(x [4]byte) bool {
	for _, l := range a.local {
		if l == x {
			return true
		}
	}
	return false
}

func (s *Stage) isLocal(a [4]byte) bool { return s.addrs.Load().isLocal(a) }

func (s *Stage) addrOf(ifIdx int16) ([4]byte, bool) {
	a := s.addrs.Load()
	if ifIdx < 0 || int(ifIdx) >= len(a.byIf) || a.byIf[ifIdx] == ([4]byte{}) {
		return [4]byte{}, false
	}
	return a.byIf[ifIdx], true
}

func (s *Stage) srcHook() bool { return s.hook == packet.Postrouting || s.hook == packet.Input }

// Process implements pipeline.Stage.
func (s *Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	c, _ := pkt.CT.(*conntrack.Conn)
	if pkt.NAT != nil || (c != nil && pkt.CTState == packet.CTNew && !c.Confirmed()) {
		if v := s.bind(pkt, c); v != pipeline.Continue {
			return v
		}
	}
	if c == nil {
		if pkt.CTState == packet.CTInvalid && s.hook == packet.Prerouting && s.orphanError(pkt) {
			pkt.Drop = packet.DropCTInvalid
			if pkt.Trace {
				pkt.Note = "icmp error about a packet never sent"
			}
			return pipeline.Drop
		}
		return pipeline.Continue
	}
	if pkt.CTStatus&(packet.CTStatusSNAT|packet.CTStatusDNAT) == 0 {
		return pipeline.Continue
	}
	if s.kernel && s.srcHook() {
		return pipeline.Continue // rewritten after routing: SourceAfterRouting
	}
	s.translate(pkt, c)
	return pipeline.Continue
}

// orphanError reports whether pkt is an ICMP error quoting a packet sent
// from one of the router's addresses (RFC 5508 §7.2: an error whose
// embedded packet matches no mapping is not forwarded).
func (s *Stage) orphanError(pkt *packet.Packet) bool {
	p := &pkt.Parsed
	return p.Proto == packet.ICMP && header.IsICMPError(p.ICMPType) && p.InnerOK && s.isLocal(p.Inner.Src)
}

// bind handles a connection's first packet at this hook.
func (s *Stage) bind(pkt *packet.Packet, c *conntrack.Conn) pipeline.Verdict {
	var local Spec
	var spec *Spec
	switch x := pkt.NAT.(type) {
	case *rules.NAT:
		SpecFromRules(x, &local)
		spec = &local
	case Specer:
		spec = x.NATSpec()
	}
	pkt.NAT = nil // consumed here; a later hook's rules set their own
	if c == nil || pkt.CTState != packet.CTNew || c.Confirmed() {
		return pipeline.Continue // NAT needs a new tracked connection
	}
	if s.srcHook() {
		if spec != nil && (spec.Kind.srcManip() || spec.Kind == Netmap) {
			return s.bindSrc(pkt, c, spec)
		}
		if pkt.CTStatus&packet.CTStatusDNAT != 0 && !s.st.noHairpin.Load() &&
			pkt.InIf != packet.NoIf && pkt.OutIf == pkt.InIf && s.hook == packet.Postrouting {
			return s.hairpin(pkt, c)
		}
		return pipeline.Continue
	}
	if spec != nil && (spec.Kind.dstManip() || spec.Kind == Netmap) {
		return s.bindDst(pkt, c, spec)
	}
	if s.hook == packet.Prerouting && pkt.CTStatus&packet.CTStatusDNAT == 0 {
		switch s.st.admit(c, s.clock.Now()) {
		case filtered:
			// RFC 5382 REQ-4: an unsolicited SYN gets neither a RST nor
			// an ICMP error; the same goes for UDP.
			pkt.Drop = packet.DropNATFiltered
			if pkt.Trace {
				pkt.Note = "filtered by " + s.st.Options().Filtering.String() + " filtering"
			}
			return pipeline.Drop
		case admitted:
			setStatus(pkt, c, packet.CTStatusDNAT)
			if pkt.Trace {
				pkt.Note = "admitted to mapping"
			}
		}
	}
	return pipeline.Continue
}

// bindSrc sets up SNAT, MASQUERADE or NETMAP (source) for c.
func (s *Stage) bindSrc(pkt *packet.Packet, c *conntrack.Conn, spec *Spec) pipeline.Verdict {
	o := c.Original()
	var lo, hi [4]byte
	switch spec.Kind {
	case SNAT:
		lo, hi = o.Src, o.Src
		if spec.HasAddr {
			lo, hi = spec.AddrMin, spec.AddrMax
		}
	case Masquerade:
		a, ok := s.addrOf(pkt.OutIf)
		if !ok {
			return pipeline.Continue
		}
		lo, hi = a, a
	case Netmap:
		p := spec.Prefix
		a := netmapAddr(p.Addr().As4(), p.Bits(), o.Src)
		lo, hi = a, a
	}
	return s.finishSrc(pkt, c, lo, hi, spec.PortMin, spec.PortMax, spec.HasPorts, spec.Flags)
}

// hairpin source-NATs a DNATed connection that turns back out of its
// ingress interface, so the server's replies come back through fwd
// (RFC 4787 REQ-9 a: the source is the client's external address and
// port, its endpoint-independent mapping on that address).
func (s *Stage) hairpin(pkt *packet.Packet, c *conntrack.Conn) pipeline.Verdict {
	o := c.Original()
	a := o.Dst
	if !s.isLocal(a) {
		var ok bool
		if a, ok = s.addrOf(pkt.OutIf); !ok {
			return pipeline.Continue
		}
	}
	if pkt.Trace {
		pkt.Note = "hairpin"
	}
	return s.finishSrc(pkt, c, a, a, 0, 0, false, 0)
}

func (s *Stage) finishSrc(pkt *packet.Packet, c *conntrack.Conn, lo, hi [4]byte, plo, phi uint16, hasPorts bool, flags Flags) pipeline.Verdict {
	before := c.ReplyTuple()
	switch s.st.bindSource(c, lo, hi, plo, phi, hasPorts, flags, s.clock.Now()) {
	case exhausted:
		// Counted as nat-exhausted; RFC 5508 REQ-8 asks that the host be
		// told with an administratively-prohibited unreachable, which
		// icmperr sends for the Reject verdict when it is linked in.
		pkt.Drop = packet.DropNATExhausted
		pkt.RejectWith = packet.RejectAdminProhibited
		return pipeline.Reject
	case bound:
		if c.ReplyTuple() != before {
			setStatus(pkt, c, packet.CTStatusSNAT)
		}
	}
	return pipeline.Continue
}

// bindDst sets up DNAT, REDIRECT or NETMAP (destination) for c.
func (s *Stage) bindDst(pkt *packet.Packet, c *conntrack.Conn, spec *Spec) pipeline.Verdict {
	o := c.Original()
	a := o.Dst
	plo, phi, hasPorts := spec.PortMin, spec.PortMax, spec.HasPorts
	switch spec.Kind {
	case DNAT:
		if n := uint64(len(spec.Backends)); n > 0 {
			var i uint64
			if spec.Balance == BalanceRoundRobin {
				i = uint64(spec.rr.Add(1)-1) % n
			} else {
				i = s.st.hash2(addr32(o.Src), 1) % n
			}
			b := spec.Backends[i]
			a = b.Addr().As4()
			if p := b.Port(); p != 0 {
				plo, phi, hasPorts = p, p, true
			}
		} else if spec.HasAddr {
			a = spec.AddrMin
			if n := addr32(spec.AddrMax) - addr32(spec.AddrMin) + 1; n > 1 {
				// Linux's find_best_ips_proto: a hash of the source and,
				// unless persistent, the destination.
				h := s.st.hash2(addr32(o.Src), addr32(o.Dst))
				if spec.Flags&Persistent != 0 {
					h = s.st.hash2(addr32(o.Src), 0)
				}
				a = addrAdd(spec.AddrMin, h%n)
			}
		}
	case Redirect:
		ia, ok := s.addrOf(pkt.InIf)
		if !ok {
			return pipeline.Continue // fwd has no loopback to redirect its own packets to
		}
		a = ia
	case Netmap:
		p := spec.Prefix
		a = netmapAddr(p.Addr().As4(), p.Bits(), o.Dst)
	}
	before := c.ReplyTuple()
	if s.st.bindDest(c, a, plo, phi, hasPorts) == bound && c.ReplyTuple() != before {
		setStatus(pkt, c, packet.CTStatusDNAT)
		s.st.dnat.Add(1)
	}
	return pipeline.Continue
}

// translate rewrites a packet of a NATed connection at this hook.
func (s *Stage) translate(pkt *packet.Packet, c *conntrack.Conn) {
	// Through pointers, not copies: a Tuple copied by value is written
	// in pieces and reread in words (a store-forwarding stall per copy).
	ts := c.Tuples()
	this, other := &ts[0], &ts[1]
	if pkt.CTReply {
		this, other = other, this
	}
	p := &pkt.Parsed
	if pkt.CTState == packet.CTRelated && p.Proto == packet.ICMP && header.IsICMPError(p.ICMPType) {
		s.translateError(pkt, this, other)
		return
	}
	// Anything else RELATED (a reset fwd made in answer to a packet of
	// the connection, attached to it by conntrack.Attach) is translated as
	// a packet of its direction.
	if s.srcHook() {
		translateSrc(pkt, other)
	} else {
		translateDst(pkt, other)
	}
}

// translateSrc sets a packet's source to where its connection's other
// direction sends (other.Dst): SNAT, or un-DNAT of a reply.
func translateSrc(pkt *packet.Packet, other *conntrack.Tuple) {
	p := &pkt.Parsed
	l4off := int(p.L4Off)
	a := other.Dst
	switch p.Proto {
	case packet.TCP, packet.UDP:
		if port := other.DstPort; p.Src != a || p.SrcPort != port {
			setEndFast(pkt.Data, l4off, p.Proto == packet.UDP, true, a, port)
			p.Src, p.SrcPort = a, port
		}
	case packet.ICMP:
		id := p.ICMPID
		if !pkt.CTReply {
			id = other.SrcPort // the identifier is the requester's "port"
		}
		if p.Src != a || p.ICMPID != id {
			setSource(pkt.Data, l4off, p.Proto, a, id, true)
			p.Src, p.ICMPID = a, id
		}
	default:
		if p.Src != a {
			setSource(pkt.Data, l4off, p.Proto, a, 0, false)
			p.Src = a
		}
	}
}

// translateDst sets a packet's destination to where its connection's
// other direction comes from (other.Src): DNAT, or un-SNAT of a reply.
func translateDst(pkt *packet.Packet, other *conntrack.Tuple) {
	p := &pkt.Parsed
	l4off := int(p.L4Off)
	a := other.Src
	switch p.Proto {
	case packet.TCP, packet.UDP:
		if port := other.SrcPort; p.Dst != a || p.DstPort != port {
			setEndFast(pkt.Data, l4off, p.Proto == packet.UDP, false, a, port)
			p.Dst, p.DstPort = a, port
		}
	case packet.ICMP:
		id := p.ICMPID
		if pkt.CTReply {
			id = other.SrcPort
		}
		if p.Dst != a || p.ICMPID != id {
			setDestination(pkt.Data, l4off, p.Proto, a, id, true)
			p.Dst, p.ICMPID = a, id
		}
	default:
		if p.Dst != a {
			setDestination(pkt.Data, l4off, p.Proto, a, 0, false)
			p.Dst = a
		}
	}
}

// translateError rewrites an ICMP error RELATED to a NATed connection.
// The error travels in direction d (pkt.CTReply) and quotes a packet that
// travelled in !d, as it looked on this side of the NAT; the outer address
// and the quoted packet's opposite end are set to their other side's
// values, only when the connection's translation changes that end.
func (s *Stage) translateError(pkt *packet.Packet, this, other *conntrack.Tuple) {
	p := &pkt.Parsed
	if !p.InnerOK || p.Proto != packet.ICMP {
		return
	}
	l4off := int(p.L4Off)
	icmp := this.Proto == header.ProtoICMP
	ports := this.Proto == header.ProtoTCP || this.Proto == header.ProtoUDP
	if s.srcHook() {
		a, port := other.Dst, other.DstPort
		setPort := ports
		if icmp {
			port, setPort = other.SrcPort, !pkt.CTReply
		}
		if this.Src == a && (!setPort || (ports && this.SrcPort == port) || (icmp && this.SrcPort == port)) {
			return
		}
		if rewriteICMPError(pkt.Data, l4off, true, a, port, setPort) {
			p.Src, p.Inner.Dst = a, a
			if setPort {
				if icmp {
					p.Inner.SrcPort = port
				} else {
					p.Inner.DstPort = port
				}
			}
		}
		return
	}
	a, port := other.Src, other.SrcPort
	setPort := ports || (icmp && pkt.CTReply)
	if this.Dst == a && (!setPort || (ports && this.DstPort == port) || (icmp && this.SrcPort == port)) {
		return
	}
	if rewriteICMPError(pkt.Data, l4off, false, a, port, setPort) {
		p.Dst, p.Inner.Src = a, a
		if setPort {
			p.Inner.SrcPort = port
		}
	}
}
