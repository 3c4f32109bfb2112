package icmperr

import (
	"sync/atomic"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// Rule names the RFC 1812 §4.3.2.7 rule (or other reason) that kept fwd
// from answering a packet.
type Rule uint8

const (
	RuleNone          Rule = iota
	RuleICMPError          // the packet is an ICMP error
	RuleDstBroadcast       // to an IP broadcast address
	RuleDstMulticast       // to an IP multicast address
	RuleLinkBroadcast      // sent as a link-layer broadcast or multicast
	RuleNonFirstFrag       // a fragment other than the first
	RuleBadSource          // the source is not a unique host
	RuleLocal              // a packet fwd made itself
	RuleUnbuildable        // too short to quote, or a reset about a reset
	numRules
)

var ruleNames = [...]string{"none", "icmp-error", "dst-broadcast", "dst-multicast",
	"link-broadcast", "non-first-fragment", "bad-source", "local", "unbuildable"}

func (r Rule) String() string {
	if int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return "unknown"
}

// iface is what the generator needs of a configured interface.
type iface struct {
	addr  [4]byte
	bcast [4]byte // the subnet's directed broadcast (zero for /31, /32)
	mtu   int
}

// Generator answers Reject verdicts: ICMP errors under RFC 1812's rules
// and rate limit, and TCP resets. One is shared by a pipeline (Install).
type Generator struct {
	// st is what the configuration decides: swapped whole by a reload
	// while workers read it.
	st    atomic.Pointer[genState]
	clock pipeline.Clock
	pool  *packet.Pool

	// Sent counts errors and resets handed to the injector.
	Sent atomic.Uint64
	// RateLimited counts errors the rate limit suppressed
	// (drop.icmp-ratelimit).
	RateLimited atomic.Uint64
	// Suppressed counts answers RFC 1812 forbade, by rule.
	Suppressed [numRules]atomic.Uint64
}

// genState is a Generator's configuration: the interfaces and the rate
// limiter.
type genState struct {
	ifaces  []iface
	limiter *Limiter
}

// New makes a generator for c (nil: no interfaces, default rate).
func New(c *config.Config, clock pipeline.Clock, pool *packet.Pool) *Generator {
	g := &Generator{clock: clock, pool: pool}
	g.st.Store(newGenState(c))
	return g
}

func newGenState(c *config.Config) *genState {
	if c == nil {
		c = config.Default()
	}
	g := &genState{}
	for _, ifc := range c.Interfaces {
		var f iface
		f.mtu = ifc.MTU
		if a := ifc.Addr.Addr(); a.Is4() {
			f.addr = a.As4()
			if bits := ifc.Addr.Bits(); bits >= 0 && bits < 31 {
				v := uint32(f.addr[0])<<24 | uint32(f.addr[1])<<16 | uint32(f.addr[2])<<8 | uint32(f.addr[3])
				v |= ^uint32(0) >> bits
				f.bcast = [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
			}
		}
		g.ifaces = append(g.ifaces, f)
	}
	g.limiter = NewLimiter(c.ICMP.RatePerSec, c.ICMP.RateBurst, 0, 0x9e3779b9)
	return g
}

var _ pipeline.Reloader = (*Generator)(nil)

// sharedKey is where a pipeline's Generator lives in Env.Shared.
const sharedKey = "icmperr.generator"

// Install makes (once per environment) the Generator and sets
// env.Rejecter to its Reject, so every Reject verdict is answered
// according to pkt.RejectWith. It returns the Generator for its counters.
func Install(env *pipeline.Env) *Generator {
	v, _ := env.Shared(sharedKey, func() (any, error) {
		clock := env.Clock
		if clock == nil {
			clock = pipeline.WallClock{}
		}
		return New(env.Config, clock, env.Pool), nil
	})
	g := v.(*Generator)
	env.Rejecter = g.Reject
	env.AddReloader(sharedKey, g)
	return g
}

// PrepareReload implements pipeline.Reloader: interface addresses, MTUs
// and the rate limit follow the new configuration (the limiter starts
// afresh: every destination gets a full burst).
func (g *Generator) PrepareReload(c *config.Config) (func(), error) {
	n := newGenState(c)
	return func() { g.st.Store(n) }, nil
}

// FromEnv returns the environment's Generator, or nil when none was
// installed.
func FromEnv(env *pipeline.Env) *Generator {
	g, _ := env.Lookup(sharedKey).(*Generator)
	return g
}

// Drops returns the generator's drop counters by reason (only
// icmp-ratelimit is non-zero), for the pipeline's stats.
func (g *Generator) Drops() [packet.NumDropReasons]uint64 {
	var d [packet.NumDropReasons]uint64
	d[packet.DropICMPRateLimit] = g.RateLimited.Load()
	return d
}

// answer is what a RejectKind asks for.
type answer struct {
	typ, code uint8
	reset     bool
}

func answerFor(k packet.RejectKind) answer {
	switch k {
	case packet.RejectNetUnreach:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPNetUnreach}
	case packet.RejectHostUnreach:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPHostUnreach}
	case packet.RejectProtoUnreach:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPProtoUnreach}
	case packet.RejectAdminProhibited:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPAdminProhibited}
	case packet.RejectNetProhibited:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPNetProhibited}
	case packet.RejectHostProhibited:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPHostProhibited}
	case packet.RejectTCPReset:
		return answer{reset: true}
	case packet.RejectFragNeeded:
		return answer{typ: header.ICMPDestUnreach, code: header.ICMPFragNeeded}
	case packet.RejectTTLExceeded:
		return answer{typ: header.ICMPTimeExceeded, code: header.ICMPTTLExceeded}
	case packet.RejectReassemblyTimeout:
		return answer{typ: header.ICMPTimeExceeded, code: header.ICMPReassemblyTimeout}
	}
	// RejectNone and RejectPortUnreach: iptables' REJECT default.
	return answer{typ: header.ICMPDestUnreach, code: header.ICMPPortUnreach}
}

// Reject answers pkt, which got a Reject verdict, as pkt.RejectWith asks:
// an ICMP error or a TCP reset, queued on out. It is env.Rejecter once
// Install ran. It never modifies pkt.
func (g *Generator) Reject(pkt *packet.Packet, out pipeline.Injector) {
	a := answerFor(pkt.RejectWith)
	if a.reset && pkt.Parsed.Proto != packet.TCP {
		// tcp-reset on something that is not TCP (iptables refuses
		// such a rule): answer as the default does.
		a = answerFor(packet.RejectPortUnreach)
	}
	if r := g.mayAnswer(pkt, !a.reset); r != RuleNone {
		g.Suppressed[r].Add(1)
		return
	}
	if a.reset {
		p := out.NewPacket()
		n := header.BuildTCPReset(p.Buffer()[packet.Headroom:], header.IPv4(pkt.Data))
		g.emit(p, n, pkt, out)
		return
	}
	ip := header.IPv4(pkt.Data)
	// Linux's icmpv4_xrlim_allow: "Don't limit PMTU discovery" — a
	// frag-needed that is not sent stalls the connection.
	if a.code != header.ICMPFragNeeded || a.typ != header.ICMPDestUnreach {
		if !g.st.Load().limiter.Allow(ip.SourceAddress(), g.clock.Now()) {
			g.RateLimited.Add(1)
			return
		}
	}
	var rest uint32
	if a.typ == header.ICMPDestUnreach && a.code == header.ICMPFragNeeded {
		// RFC 1191 §4: the low-order 16 bits carry the next-hop MTU.
		if ifs := g.st.Load().ifaces; int(pkt.OutIf) >= 0 && int(pkt.OutIf) < len(ifs) {
			rest = uint32(ifs[pkt.OutIf].mtu) & 0xffff
		}
	}
	p := out.NewPacket()
	n := header.BuildICMPError(p.Buffer()[packet.Headroom:], g.source(pkt), a.typ, a.code, rest, ip)
	g.emit(p, n, pkt, out)
}

func (g *Generator) emit(p *packet.Packet, n int, orig *packet.Packet, out pipeline.Injector) {
	if n == 0 {
		g.Suppressed[RuleUnbuildable].Add(1)
		if g.pool != nil {
			g.pool.Put(p)
		}
		return
	}
	p.SetData(n)
	p.InIf = orig.InIf
	g.Sent.Add(1)
	out.Inject(p)
}

// source returns the error's source address: the address of the
// interface the offending packet arrived on (RFC 1812 §4.3.2.4 lets a
// router choose; Linux's icmp_send uses the inbound interface's address
// too, which is what traceroute shows), else — NFQUEUE mode, where fwd
// knows no interface — the offending packet's destination, the address
// the sender was talking to.
func (g *Generator) source(pkt *packet.Packet) [4]byte {
	if ifs, i := g.st.Load().ifaces, int(pkt.InIf); i >= 0 && i < len(ifs) && ifs[i].addr != ([4]byte{}) {
		return ifs[i].addr
	}
	return header.IPv4(pkt.Data).DestinationAddress()
}

// mayAnswer applies the rules on when not to answer. RFC 1812 §4.3.2.7
// "When Not to Send ICMP Errors":
//
//	An ICMP error message MUST NOT be sent as the result of receiving:
//	o An ICMP error message, or
//	o A packet which fails the IP header validation tests described in
//	  Section [5.2.2] (except where that section specifically permits
//	  the sending of an ICMP error message), or
//	o A packet destined to an IP broadcast or IP multicast address, or
//	o A packet sent as a Link Layer broadcast or multicast, or
//	o A packet whose source address has a network prefix of zero or is
//	  an invalid source address (as defined in Section [5.3.7]), or
//	o Any fragment of a datagram other then the first fragment (i.e., a
//	  packet for which the fragment offset in the IP header is nonzero).
//
// and RFC 1122 §3.2.2 on the source: "a datagram whose source address
// does not define a single host -- e.g., a zero address, a loopback
// address, a broadcast address, a multicast address, or a Class E
// address." Packets failing header validation never get here (the parse
// stage drops them). Resets follow the same address rules (Linux's
// nf_send_reset refuses broadcast and multicast too); the ICMP-error rule
// applies only to ICMP answers (a reset answers TCP).
func (g *Generator) mayAnswer(pkt *packet.Packet, icmp bool) Rule {
	if pkt.Local {
		return RuleLocal
	}
	ip := header.IPv4(pkt.Data)
	if len(ip) < header.IPv4MinSize {
		return RuleUnbuildable
	}
	hl := ip.HeaderLength()
	if icmp && ip.Protocol() == header.ProtoICMP && ip.FragmentOffset() == 0 &&
		len(ip) > hl && header.IsICMPError(ip[hl]) {
		return RuleICMPError
	}
	if ip.FragmentOffset() != 0 {
		return RuleNonFirstFrag
	}
	if pkt.LinkBroadcast {
		return RuleLinkBroadcast
	}
	dst := ip.DestinationAddress()
	if dst[0] >= 224 && dst[0] < 240 {
		return RuleDstMulticast
	}
	if dst == [4]byte{255, 255, 255, 255} || g.isSubnetBroadcast(dst) {
		return RuleDstBroadcast
	}
	if !g.uniqueHost(ip.SourceAddress()) {
		return RuleBadSource
	}
	return RuleNone
}

// uniqueHost reports whether a is a single host: not in 0/8 ("this
// network", RFC 1122 §3.2.1.3), not loopback (127/8), not multicast
// (224/4), not class E or limited broadcast (240/4), and not the directed
// broadcast of a connected subnet.
func (g *Generator) uniqueHost(a [4]byte) bool {
	switch {
	case a[0] == 0, a[0] == 127, a[0] >= 224:
		return false
	}
	return !g.isSubnetBroadcast(a)
}

func (g *Generator) isSubnetBroadcast(a [4]byte) bool {
	ifs := g.st.Load().ifaces
	for i := range ifs {
		if b := ifs[i].bcast; b != ([4]byte{}) && b == a {
			return true
		}
	}
	return false
}
