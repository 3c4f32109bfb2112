package main

// fwd trace: the daemon marks packets matching a client's filter (a check
// on the raw datagram in Runner.Run, through Pipeline.TraceFilter) and
// streams, per packet, one line per stage it passed, in the shape of
// `nft monitor trace`:
//
//	trace id 0000002a packet: iif "lan0" ip saddr 192.168.1.10 ip daddr 198.51.100.20 ip ttl 64 ip id 1 ip length 44 tcp sport 40000 tcp dport 80 tcp flags == syn
//	trace id 0000002a prerouting conntrack continue: ct state new ct direction original; new
//	trace id 0000002a forward rules.filter continue: filter forward; rule forward:4 at lab.toml:111:1 accept (verdict accept)
//	trace id 0000002a postrouting nat continue: snat ip saddr 192.168.1.10 => 203.0.113.2
//	trace id 0000002a verdict accept oif "wan0" ip saddr 203.0.113.2 ...
//
// Tracing costs the datapath one atomic load per batch when no client
// traces. Events go to each client through a bounded buffer; when it is
// full they are dropped and counted (the client is told how many), never
// waited for. A client that goes away ends its trace.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fwd/ctl"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

func init() {
	register(&command{
		name: "trace",
		summary: `follow live packets through the running daemon, like nft monitor trace
Matching packets are marked as they arrive; for each, one line per stage it
passes (hook, stage, verdict and what the stage did: the chain and rule
that decided with its file:line, the conntrack state, the NAT rewrite),
then its final verdict. Ends after --count packets, at --timeout, or on ^C.
filters: -p PROTO, -s/-d ADDR[/LEN], --sport/--dport PORT, -i IFACE
(ingress interface), --reply (also the reverse direction: the answers)
output: -o json for one JSON object per event`,
		usage: "fwd trace [-p PROTO] [-s ADDR] [-d ADDR] [--sport N] [--dport N] [-i IFACE] [--reply] [--count N] [--timeout DUR] [-o json] [--socket PATH]",
		run:   runTrace,
	})
	ctlSetups = append(ctlSetups, traceHandlers)
}

// traceRequest is what `fwd trace` asks the daemon for.
type traceRequest struct {
	Proto uint8  `json:"proto,omitempty"`
	Src   string `json:"src,omitempty"`
	Dst   string `json:"dst,omitempty"`
	Sport int    `json:"sport,omitempty"`
	Dport int    `json:"dport,omitempty"`
	In    string `json:"in,omitempty"`
	Reply bool   `json:"reply,omitempty"`
	Count int    `json:"count,omitempty"` // 0: until the client goes away
}

// pktFilter is a compiled traceRequest: plain integers, so matching a
// datagram allocates nothing.
type pktFilter struct {
	proto              uint8
	src, srcMask       uint32
	dst, dstMask       uint32
	sport, dport       int // 0: any
	inIf               int16
	anyIf, reply       bool
	hasPorts, wantPort bool
}

func parsePrefix4(s string) (addr, mask uint32, err error) {
	if s == "" {
		return 0, 0, nil
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		p = netip.PrefixFrom(a, 32)
	}
	if err != nil || !p.Addr().Is4() {
		return 0, 0, fmt.Errorf("bad IPv4 address %q", s)
	}
	a4 := p.Masked().Addr().As4()
	if p.Bits() > 0 {
		mask = ^uint32(0) << (32 - p.Bits())
	}
	return binary.BigEndian.Uint32(a4[:]), mask, nil
}

// compile checks the request; ifIndex maps an interface name to its index.
func (r *traceRequest) compile(ifIndex func(string) (int16, bool)) (*pktFilter, error) {
	f := &pktFilter{proto: r.Proto, sport: r.Sport, dport: r.Dport, reply: r.Reply, anyIf: r.In == ""}
	var err error
	if f.src, f.srcMask, err = parsePrefix4(r.Src); err != nil {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "%v", err)
	}
	if f.dst, f.dstMask, err = parsePrefix4(r.Dst); err != nil {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "%v", err)
	}
	if r.Sport < 0 || r.Sport > 65535 || r.Dport < 0 || r.Dport > 65535 {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "ports are 1..65535")
	}
	if r.Count < 0 {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "count must not be negative")
	}
	f.wantPort = r.Sport != 0 || r.Dport != 0
	if f.wantPort && r.Proto != 0 && !hasPorts(r.Proto) {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "--sport and --dport need -p tcp or udp")
	}
	if r.In != "" {
		i, ok := ifIndex(r.In)
		if !ok {
			return nil, ctl.Errorf(ctl.CodeNotFound, "no interface named %q", r.In)
		}
		f.inIf = i
	}
	return f, nil
}

// rawTuple reads protocol, addresses and (for the first fragment of TCP
// and UDP) ports straight from an IPv4 datagram.
func rawTuple(b []byte) (proto uint8, src, dst uint32, sport, dport int, ports, ok bool) {
	if len(b) < header.IPv4MinSize || b[0]>>4 != 4 {
		return 0, 0, 0, 0, 0, false, false
	}
	hl := int(b[0]&0xf) * 4
	proto = b[9]
	src = binary.BigEndian.Uint32(b[12:16])
	dst = binary.BigEndian.Uint32(b[16:20])
	if (proto == header.ProtoTCP || proto == header.ProtoUDP) && binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 && len(b) >= hl+4 && hl >= header.IPv4MinSize {
		sport = int(binary.BigEndian.Uint16(b[hl:]))
		dport = int(binary.BigEndian.Uint16(b[hl+2:]))
		ports = true
	}
	return proto, src, dst, sport, dport, ports, true
}

func (f *pktFilter) match(pkt *packet.Packet) bool { return f.matchFollow(pkt, nil) }

// matchFollow matches pkt against the filter, and with --reply also
// against the answers of flows traced so far (follow: their egress tuples
// reversed, which is how answers arrive, NAT included).
func (f *pktFilter) matchFollow(pkt *packet.Packet, follow []flowKey) bool {
	if !f.anyIf && pkt.InIf != f.inIf {
		return false
	}
	proto, src, dst, sport, dport, ports, ok := rawTuple(pkt.Data)
	if !ok || (f.proto != 0 && proto != f.proto) {
		return false
	}
	if (!f.wantPort || ports) && f.one(src, dst, sport, dport) {
		return true
	}
	if !f.reply {
		return false
	}
	if (!f.wantPort || ports) && f.one(dst, src, dport, sport) {
		return true
	}
	for _, k := range follow {
		if k.proto == proto && k.src == src && k.dst == dst && (!k.ports || (k.sport == sport && k.dport == dport)) {
			return true
		}
	}
	return false
}

// flowKey is the tuple of the answers of a traced flow.
type flowKey struct {
	proto        uint8
	src, dst     uint32
	sport, dport int
	ports        bool
}

// maxFollow bounds how many flows' answers one --reply trace follows.
const maxFollow = 64

func (f *pktFilter) one(src, dst uint32, sport, dport int) bool {
	return src&f.srcMask == f.src && dst&f.dstMask == f.dst &&
		(f.sport == 0 || sport == f.sport) && (f.dport == 0 || dport == f.dport)
}

// traceEvent is one line of a trace, as it travels to the client.
type traceEvent struct {
	ID      uint32 `json:"id"`
	Kind    string `json:"kind"` // packet, stage, end, lost
	Hook    string `json:"hook,omitempty"`
	Stage   string `json:"stage,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	Reason  string `json:"reason,omitempty"` // drop reason, for drop and reject
	Iif     string `json:"iif,omitempty"`
	Oif     string `json:"oif,omitempty"`
	Packet  string `json:"packet,omitempty"` // the headers, nft style
	CT      string `json:"ct,omitempty"`
	Note    string `json:"note,omitempty"`
	NAT     string `json:"nat,omitempty"`
	Lost    uint64 `json:"lost,omitempty"`
}

// String renders the event as `fwd trace` prints it.
func (e *traceEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trace id %08x ", e.ID)
	switch e.Kind {
	case "packet":
		b.WriteString("packet:")
		if e.Iif != "" {
			fmt.Fprintf(&b, " iif %q", e.Iif)
		}
		b.WriteString(" " + e.Packet)
	case "stage":
		fmt.Fprintf(&b, "%s %s %s", e.Hook, e.Stage, e.Verdict)
		if e.Reason != "" {
			b.WriteString(" reason " + e.Reason)
		}
		sep := ": "
		for _, s := range []string{e.CT, e.Note, e.NAT} {
			if s != "" {
				b.WriteString(sep + s)
				sep = "; "
			}
		}
	case "end":
		b.WriteString("verdict " + e.Verdict)
		if e.Reason != "" {
			b.WriteString(" reason " + e.Reason)
		}
		if e.Oif != "" {
			fmt.Fprintf(&b, " oif %q", e.Oif)
		}
		if e.Packet != "" {
			b.WriteString(" " + e.Packet)
		}
		if e.NAT != "" {
			b.WriteString(" (" + e.NAT + ")")
		}
		if e.Note != "" {
			b.WriteString(" (" + e.Note + ")")
		}
	case "lost":
		return fmt.Sprintf("trace: %d events lost (the trace buffer was full)", e.Lost)
	default:
		b.WriteString(e.Kind)
	}
	return b.String()
}

// tuple is what NAT may rewrite: addresses, ports (the ICMP query id).
type tuple struct {
	proto           uint8
	src, dst        [4]byte
	sport, dport    uint16
	id              uint16
	hasPorts, hasID bool
	valid           bool
}

func readTuple(b []byte) tuple {
	var t tuple
	if len(b) < header.IPv4MinSize || b[0]>>4 != 4 {
		return t
	}
	t.valid = true
	hl := int(b[0]&0xf) * 4
	t.proto = b[9]
	copy(t.src[:], b[12:16])
	copy(t.dst[:], b[16:20])
	first := binary.BigEndian.Uint16(b[6:8])&0x1fff == 0
	switch {
	case !first || hl < header.IPv4MinSize:
	case (t.proto == header.ProtoTCP || t.proto == header.ProtoUDP) && len(b) >= hl+4:
		t.sport = binary.BigEndian.Uint16(b[hl:])
		t.dport = binary.BigEndian.Uint16(b[hl+2:])
		t.hasPorts = true
	case t.proto == header.ProtoICMP && len(b) >= hl+8 && header.IsICMPQuery(b[hl]):
		t.id = binary.BigEndian.Uint16(b[hl+4:])
		t.hasID = true
	}
	return t
}

// natDiff describes how a was rewritten into b ("" when it was not).
func natDiff(a, b tuple) string {
	if !a.valid || !b.valid {
		return ""
	}
	var parts []string
	if a.src != b.src || (a.hasPorts && a.sport != b.sport) {
		s := "snat"
		if a.src != b.src {
			s += fmt.Sprintf(" ip saddr %s => %s", netip.AddrFrom4(a.src), netip.AddrFrom4(b.src))
		}
		if a.hasPorts && a.sport != b.sport {
			s += fmt.Sprintf(" %s sport %d => %d", protoName(a.proto), a.sport, b.sport)
		}
		parts = append(parts, s)
	}
	if a.dst != b.dst || (a.hasPorts && a.dport != b.dport) {
		s := "dnat"
		if a.dst != b.dst {
			s += fmt.Sprintf(" ip daddr %s => %s", netip.AddrFrom4(a.dst), netip.AddrFrom4(b.dst))
		}
		if a.hasPorts && a.dport != b.dport {
			s += fmt.Sprintf(" %s dport %d => %d", protoName(a.proto), a.dport, b.dport)
		}
		parts = append(parts, s)
	}
	if a.hasID && b.hasID && a.id != b.id {
		parts = append(parts, fmt.Sprintf("icmp id %d => %d", a.id, b.id))
	}
	return strings.Join(parts, "; ")
}

func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return strconv.Itoa(int(p))
}

var icmpTypeNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
	8: "echo-request", 9: "router-advertisement", 10: "router-solicitation",
	11: "time-exceeded", 12: "parameter-problem", 13: "timestamp-request",
	14: "timestamp-reply", 15: "info-request", 16: "info-reply",
	17: "address-mask-request", 18: "address-mask-reply",
}

// nftPacket describes a datagram's headers as nft monitor trace does.
func nftPacket(b []byte) string {
	var p packet.Parsed
	if p.Decode(b) == 0 {
		return fmt.Sprintf("malformed (%s) length %d", p.Reason, len(b))
	}
	var s strings.Builder
	fmt.Fprintf(&s, "ip saddr %s ip daddr %s ip ttl %d ip id %d ip length %d",
		netip.AddrFrom4(p.Src), netip.AddrFrom4(p.Dst), p.TTL, p.ID, p.Length)
	switch p.Proto {
	case packet.TCP:
		fmt.Fprintf(&s, " tcp sport %d tcp dport %d tcp flags == %s", p.SrcPort, p.DstPort, nftTCPFlags(p.TCPFlags))
	case packet.UDP:
		fmt.Fprintf(&s, " udp sport %d udp dport %d", p.SrcPort, p.DstPort)
	case packet.ICMP:
		name := icmpTypeNames[p.ICMPType]
		if name == "" {
			name = strconv.Itoa(int(p.ICMPType))
		}
		fmt.Fprintf(&s, " icmp type %s icmp code %d", name, p.ICMPCode)
		if header.IsICMPQuery(p.ICMPType) {
			fmt.Fprintf(&s, " icmp id %d", p.ICMPID)
		}
	case packet.Fragment:
		fmt.Fprintf(&s, " ip protocol %s ip frag-off %d", protoName(p.IPProto), int(p.FragOff&0x1fff)*8)
	default:
		fmt.Fprintf(&s, " ip protocol %s", protoName(p.IPProto))
	}
	return s.String()
}

func nftTCPFlags(f uint8) string {
	names := [...]string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}
	var out []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "0x0"
	}
	return strings.Join(out, "|")
}

var ctStatusNames = []struct {
	bit  packet.CTStatus
	name string
}{
	{packet.CTStatusExpected, "expected"}, {packet.CTStatusSeenReply, "seen-reply"},
	{packet.CTStatusAssured, "assured"}, {packet.CTStatusConfirmed, "confirmed"},
	{packet.CTStatusSNAT, "snat"}, {packet.CTStatusDNAT, "dnat"}, {packet.CTStatusDying, "dying"},
	{packet.CTStatusOffload, "offload"},
}

// ctText is the conntrack context of a packet, as nft prints it.
func ctText(pkt *packet.Packet) string {
	s := "ct state " + pkt.CTState.String()
	if pkt.CTState == packet.CTInvalid || pkt.CTState == packet.CTUntracked || pkt.CTState == packet.CTNone {
		return s
	}
	if pkt.CTReply {
		s += " ct direction reply"
	} else {
		s += " ct direction original"
	}
	var st []string
	for _, n := range ctStatusNames {
		if pkt.CTStatus&n.bit != 0 {
			st = append(st, n.name)
		}
	}
	if len(st) > 0 {
		s += " ct status " + strings.Join(st, ",")
	}
	return s
}

// pktTrace follows one traced packet through the stages and turns each
// TraceFunc call into events. It belongs to the goroutine running the
// packet.
type pktTrace struct {
	id       uint32
	start    tuple
	last     tuple
	subs     []*traceSub
	answered bool // fwd turned the packet into its answer (echo reply)
}

// stageEnds knows where a packet's walk ends without a terminal verdict.
type stageEnds struct {
	last      string // the last slot of the pipeline
	lastInput string // the last slot at INPUT
}

func newStageEnds(pl *pipeline.Pipeline) stageEnds {
	var e stageEnds
	for _, s := range pl.Stages() {
		e.last = s
		if strings.HasPrefix(s, "input/") {
			e.lastInput = s
		}
	}
	return e
}

// step renders one stage's call; end reports the packet's walk is over
// (and then the second event says how it ended).
func (pt *pktTrace) step(pkt *packet.Packet, stage string, v pipeline.Verdict, note string, ends stageEnds, ifName func(int16) string) (evs []traceEvent, end bool) {
	hook, name, _ := strings.Cut(stage, "/")
	ev := traceEvent{ID: pt.id, Kind: "stage", Hook: hook, Stage: name, Verdict: v.String(), Note: note}
	if v == pipeline.Drop || v == pipeline.Reject {
		ev.Reason = dropReason(pkt, v)
	}
	if name == "conntrack" {
		ev.CT = ctText(pkt)
	}
	cur := readTuple(pkt.Data)
	if hook == "input" && pkt.Hook == packet.Output && pkt.Local {
		// Local delivery answered in place (an echo reply): from here on
		// it is fwd's own datagram, not a rewrite of the one traced.
		pt.answered, pt.start, pt.last = true, cur, cur
	}
	ev.NAT = natDiff(pt.last, cur)
	if cur.valid {
		pt.last = cur
	}
	evs = append(evs, ev)

	fin := traceEvent{ID: pt.id, Kind: "end"}
	switch {
	case v == pipeline.Drop || v == pipeline.Reject || v == pipeline.Stolen:
		fin.Verdict, fin.Reason = v.String(), ev.Reason
	case hook == "input" && pkt.Hook == packet.Input && (stage == ends.lastInput || v == pipeline.Accept):
		// Nothing at INPUT consumed it: the runner drops it.
		fin.Verdict, fin.Reason = "drop", packet.DropLocal.String()
		if pkt.Drop != packet.DropNone {
			fin.Reason = pkt.Drop.String()
		}
	case stage == ends.last || (hook == "postrouting" && v == pipeline.Accept):
		if pkt.OutIf == packet.NoIf {
			fin.Verdict, fin.Reason = "drop", packet.DropLocal.String()
			if pkt.Drop != packet.DropNone {
				fin.Reason = pkt.Drop.String()
			}
			break
		}
		fin.Verdict = "accept"
		fin.Oif = ifName(pkt.OutIf)
		fin.Packet = nftPacket(pkt.Data)
		fin.NAT = natDiff(pt.start, cur)
		if pt.answered {
			fin.Note = "answered by fwd"
		}
	default:
		return evs, false
	}
	return append(evs, fin), true
}

// dropReason is the reason the runner will count for a drop verdict.
func dropReason(pkt *packet.Packet, v pipeline.Verdict) string {
	if pkt.Drop != packet.DropNone {
		return pkt.Drop.String()
	}
	if v == pipeline.Reject {
		return packet.DropReject.String()
	}
	return packet.DropOther.String()
}

// traceBuffer bounds each client's queue of events; beyond it events are
// dropped and counted.
const traceBuffer = 4096

// maxLive bounds how many packets are being traced at once.
const maxLive = 4096

// traceSub is one client's trace.
type traceSub struct {
	f       *pktFilter
	limit   int64 // packets; 0 = no limit
	marked  atomic.Int64
	pending atomic.Int64 // marked and not ended
	ch      chan traceEvent
	lost    atomic.Uint64

	// follow holds the answers' tuples of the flows traced so far (with
	// --reply); copy on write under followMu, read without a lock.
	followMu sync.Mutex
	follow   atomic.Pointer[[]flowKey]
}

func (s *traceSub) full() bool { return s.limit > 0 && s.marked.Load() >= s.limit }

func (s *traceSub) match(pkt *packet.Packet) bool {
	var follow []flowKey
	if p := s.follow.Load(); p != nil {
		follow = *p
	}
	return s.f.matchFollow(pkt, follow)
}

// followAnswers adds the answers of a flow that left as t.
func (s *traceSub) followAnswers(t tuple) {
	if !s.f.reply || !t.valid {
		return
	}
	k := flowKey{proto: t.proto, src: binary.BigEndian.Uint32(t.dst[:]), dst: binary.BigEndian.Uint32(t.src[:]),
		sport: int(t.dport), dport: int(t.sport), ports: t.hasPorts}
	s.followMu.Lock()
	defer s.followMu.Unlock()
	var old []flowKey
	if p := s.follow.Load(); p != nil {
		old = *p
	}
	for _, x := range old {
		if x == k {
			return
		}
	}
	if len(old) >= maxFollow {
		old = old[1:]
	}
	nw := append(append(make([]flowKey, 0, len(old)+1), old...), k)
	s.follow.Store(&nw)
}

func (s *traceSub) send(ev traceEvent, t *tracer) {
	select {
	case s.ch <- ev:
	default:
		s.lost.Add(1)
		t.lost.Add(1)
	}
}

// tracer is a daemon's trace facility: the subscriptions, the packets
// being traced, and the hooks into the pipeline.
type tracer struct {
	pl     *pipeline.Pipeline
	ends   stageEnds
	ifName func(int16) string

	mu   sync.Mutex
	subs []*traceSub                  // mu; the filter closure holds a copy
	live map[*packet.Packet]*pktTrace // mu

	nextID atomic.Uint32
	lost   atomic.Uint64 // events dropped over every client (metrics)
	marked atomic.Uint64 // packets traced (metrics)
}

func newTracer(pl *pipeline.Pipeline, names []string) *tracer {
	t := &tracer{pl: pl, ends: newStageEnds(pl), live: map[*packet.Packet]*pktTrace{}}
	t.ifName = func(i int16) string {
		if i < 0 || int(i) >= len(names) {
			return ""
		}
		return names[i]
	}
	return t
}

// publish installs a filter over the current subscriptions, or none.
// mu is held.
func (t *tracer) publish() {
	if len(t.subs) == 0 {
		t.pl.TraceFilter.Store(nil)
		clear(t.live)
		return
	}
	subs := append([]*traceSub(nil), t.subs...)
	f := func(pkt *packet.Packet) bool { return t.mark(pkt, subs) }
	t.pl.TraceFilter.Store(&f)
}

func (t *tracer) subscribe(s *traceSub) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs = append(t.subs, s)
	t.publish()
}

func (t *tracer) unsubscribe(s *traceSub) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.subs {
		if x == s {
			t.subs = append(t.subs[:i:i], t.subs[i+1:]...)
			break
		}
	}
	for p, pt := range t.live {
		for i, x := range pt.subs {
			if x == s {
				pt.subs = append(pt.subs[:i:i], pt.subs[i+1:]...)
				break
			}
		}
		if len(pt.subs) == 0 {
			delete(t.live, p)
		}
	}
	t.publish()
}

// mark is the TraceFilter: it runs on a datapath goroutine for every
// packet while someone traces, and allocates only for packets it marks.
func (t *tracer) mark(pkt *packet.Packet, subs []*traceSub) bool {
	var hit []*traceSub
	for _, s := range subs {
		if s.full() || !s.match(pkt) {
			continue
		}
		if s.limit > 0 && s.marked.Add(1) > s.limit {
			continue
		}
		if s.limit == 0 {
			s.marked.Add(1)
		}
		hit = append(hit, s)
	}
	if len(hit) == 0 {
		return false
	}
	pt := &pktTrace{id: t.nextID.Add(1), subs: hit}
	pt.start = readTuple(pkt.Data)
	pt.last = pt.start
	t.mu.Lock()
	if len(t.live) >= maxLive {
		t.mu.Unlock()
		for _, s := range hit {
			s.lost.Add(1)
		}
		t.lost.Add(1)
		return false
	}
	t.live[pkt] = pt
	t.mu.Unlock()
	t.marked.Add(1)
	ev := traceEvent{ID: pt.id, Kind: "packet", Iif: t.ifName(pkt.InIf), Packet: nftPacket(pkt.Data)}
	for _, s := range hit {
		s.pending.Add(1)
		s.send(ev, t)
	}
	return true
}

// stage is the Pipeline.Trace function: it runs on the datapath goroutine
// that runs the packet.
func (t *tracer) stage(pkt *packet.Packet, stage string, v pipeline.Verdict, note string) {
	t.mu.Lock()
	pt := t.live[pkt]
	t.mu.Unlock()
	if pt == nil {
		return
	}
	evs, end := pt.step(pkt, stage, v, note, t.ends, t.ifName)
	if end {
		t.mu.Lock()
		if t.live[pkt] == pt {
			delete(t.live, pkt)
		}
		subs := pt.subs
		t.mu.Unlock()
		for _, ev := range evs {
			for _, s := range subs {
				s.send(ev, t)
			}
		}
		for _, s := range subs {
			if evs[len(evs)-1].Verdict == "accept" {
				s.followAnswers(pt.last)
			}
			s.pending.Add(-1)
		}
		return
	}
	t.mu.Lock()
	subs := pt.subs
	t.mu.Unlock()
	for _, ev := range evs {
		for _, s := range subs {
			s.send(ev, t)
		}
	}
}

// tracers finds a daemon's tracer (for metrics).
var tracers sync.Map // *daemon -> *tracer

func traceHandlers(d *daemon) {
	t := newTracer(d.pl, d.interfaceNames())
	d.pl.Trace = t.stage
	tracers.Store(d, t)
	d.srv.Handle("trace", func(req *ctl.Request, st *ctl.Stream) error {
		var a traceRequest
		if err := req.Decode(&a); err != nil {
			return err
		}
		f, err := a.compile(func(name string) (int16, bool) {
			for i, n := range d.interfaceNames() {
				if n == name {
					return int16(i), true
				}
			}
			return 0, false
		})
		if err != nil {
			return err
		}
		s := &traceSub{f: f, limit: int64(a.Count), ch: make(chan traceEvent, traceBuffer)}
		t.subscribe(s)
		defer t.unsubscribe(s)
		return serveTrace(st, s)
	})
}

// traceLinger is how long a trace that has marked its --count packets
// waits for their last events when it cannot tell they ended.
const traceLinger = 2 * time.Second

func serveTrace(st *ctl.Stream, s *traceSub) error {
	var reported uint64
	reportLost := func() error {
		if n := s.lost.Load(); n > reported {
			if err := st.Send(traceEvent{Kind: "lost", Lost: n - reported}); err != nil {
				return err
			}
			reported = n
		}
		return nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastEvent := time.Now()
	for {
		select {
		case <-st.Ctx.Done():
			return nil
		case ev := <-s.ch:
			lastEvent = time.Now()
			if err := st.Send(ev); err != nil {
				return err
			}
			if err := reportLost(); err != nil {
				return err
			}
		case <-tick.C:
			if err := reportLost(); err != nil {
				return err
			}
			if s.full() && len(s.ch) == 0 && (s.pending.Load() <= 0 || time.Since(lastEvent) > traceLinger) {
				return nil
			}
		}
	}
}

func runTrace(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("trace", stderr)
	var a traceRequest
	proto := fs.String("p", "", "protocol (tcp, udp, icmp or a number)")
	fs.StringVar(&a.Src, "s", "", "source address[/len]")
	fs.StringVar(&a.Dst, "d", "", "destination address[/len]")
	fs.IntVar(&a.Sport, "sport", 0, "source port")
	fs.IntVar(&a.Dport, "dport", 0, "destination port")
	fs.StringVar(&a.In, "i", "", "ingress interface")
	fs.BoolVar(&a.Reply, "reply", false, "also trace the reverse direction")
	fs.IntVar(&a.Count, "count", 0, "stop after this many packets (0: no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long (0: no limit)")
	out := fs.String("o", "", "output: json")
	socket := fs.String("socket", defaultSocket, "control socket")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *proto != "" {
		p, ok := parseProto(*proto)
		if !ok {
			return &usageError{fmt.Sprintf("-p %q: unknown protocol", *proto)}
		}
		a.Proto = p
	}
	if *out != "" && *out != "json" {
		return &usageError{fmt.Sprintf("-o %q: want json", *out)}
	}
	if _, err := a.compile(func(string) (int16, bool) { return 0, true }); err != nil {
		return &usageError{err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	packets := 0
	err := ctl.CallContext(ctx, *socket, "trace", &a, func(data json.RawMessage) error {
		var ev traceEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		if ev.Kind == "packet" {
			packets++
		}
		if *out == "json" {
			_, err := fmt.Fprintf(stdout, "%s\n", data)
			return err
		}
		if ev.Kind == "lost" {
			fmt.Fprintln(stderr, ev.String())
			return nil
		}
		_, err := fmt.Fprintln(stdout, ev.String())
		return err
	})
	fmt.Fprintf(stderr, "fwd trace: %d packets traced.\n", packets)
	return ctlExit(err)
}
