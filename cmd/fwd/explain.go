package main

// fwd explain: what the ruleset would do with the first packet of a flow,
// without traffic. The packet is built with the header encoders and run,
// traced, through a private pipeline made from the configuration (the file
// given with -c, or the running daemon's, with its live set contents):
// its own connection table and NAT state, so nothing of the running
// firewall changes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"fwd/config"
	"fwd/ctl"
	"fwd/header"
	"fwd/netio/capture"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"
	"fwd/rules"
)

func init() {
	register(&command{
		name: "explain",
		summary: `show what the ruleset would do with a new flow's first packet, without traffic
The packet (a TCP SYN, a UDP datagram or an ICMP echo request) runs traced
through a private pipeline built from CONFIG (-c, no daemon needed) or from
the running daemon's configuration and live sets (--socket). It prints
every stage it passes as fwd trace does, then the rules that decided in each
chain (with file:line), the NAT translation, what fwd would send back
(reset, ICMP error) and the final verdict. The ingress interface is -i, else
the interface whose subnet holds the source, else the one of the route
back to it; a source that is fwd's own address starts at OUTPUT.
Exit status 0 when the packet would be forwarded or delivered, 1 when it
would be dropped or rejected, 2 on a usage error.`,
		usage: "fwd explain -c CONFIG|--socket PATH -p tcp|udp|icmp|N -s SRC -d DST [--sport N] [--dport N] [-i IFACE] [-o json]",
		run:   runExplain,
	})
	ctlSetups = append(ctlSetups, explainHandlers)
}

// explainRequest is the flow to explain.
type explainRequest struct {
	Proto uint8  `json:"proto"`
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Sport int    `json:"sport,omitempty"`
	Dport int    `json:"dport,omitempty"`
	In    string `json:"in,omitempty"`
}

// explainResult is what happened to the packet.
type explainResult struct {
	Config  string       `json:"config"`
	Flow    string       `json:"flow"`
	Events  []traceEvent `json:"events"`
	Verdict string       `json:"verdict"`
	Reason  string       `json:"reason,omitempty"`
	Oif     string       `json:"oif,omitempty"`
	NAT     string       `json:"nat,omitempty"`
	Note    string       `json:"note,omitempty"`    // "answered by fwd"
	Answers []string     `json:"answers,omitempty"` // packets fwd would send back
	Logs    []string     `json:"logs,omitempty"`    // LOG target lines
}

// buildFlowPacket encodes the first packet of the flow: a SYN, a UDP
// datagram with an empty payload, an echo request, or a bare IP header.
func buildFlowPacket(proto uint8, src, dst [4]byte, sport, dport uint16) []byte {
	var l4 []byte
	switch proto {
	case header.ProtoTCP:
		l4 = make([]byte, header.TCPMinSize)
		t := header.TCP(l4)
		t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Seq: 1, Flags: header.TCPFlagSYN, Window: 64240})
		t.SetChecksum(t.CalculateChecksum(src, dst))
	case header.ProtoUDP:
		l4 = make([]byte, header.UDPSize)
		u := header.UDP(l4)
		u.Encode(sport, dport, header.UDPSize)
		u.SetChecksum(u.CalculateChecksum(src, dst))
	case header.ProtoICMP:
		l4 = make([]byte, header.ICMPv4Size)
		ic := header.ICMPv4(l4)
		ic.Encode(header.ICMPEcho, 0, 1<<16|1) // id 1, sequence 1
		ic.SetChecksum(ic.CalculateChecksum())
	}
	b := make([]byte, header.IPv4MinSize+len(l4))
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), ID: 1, Flags: header.IPv4FlagDF,
		TTL: 64, Protocol: proto, Src: src, Dst: dst})
	copy(b[header.IPv4MinSize:], l4)
	return b
}

// check validates the request's values.
func (r *explainRequest) check() (src, dst [4]byte, err error) {
	a, err1 := netip.ParseAddr(r.Src)
	b, err2 := netip.ParseAddr(r.Dst)
	switch {
	case r.Proto == 0:
		return src, dst, fmt.Errorf("-p PROTO is required")
	case err1 != nil || !a.Is4():
		return src, dst, fmt.Errorf("-s %q: want an IPv4 address", r.Src)
	case err2 != nil || !b.Is4():
		return src, dst, fmt.Errorf("-d %q: want an IPv4 address", r.Dst)
	case hasPorts(r.Proto) && (r.Sport < 1 || r.Sport > 65535 || r.Dport < 1 || r.Dport > 65535):
		return src, dst, fmt.Errorf("tcp and udp need --sport and --dport (1..65535)")
	case !hasPorts(r.Proto) && (r.Sport != 0 || r.Dport != 0):
		return src, dst, fmt.Errorf("--sport and --dport need -p tcp or udp")
	}
	return a.As4(), b.As4(), nil
}

// explainSink keeps what the private pipeline sends: the explained packet
// and fwd's answers to it.
type explainSink struct {
	pool    *packet.Pool
	pkt     *packet.Packet
	names   []string
	answers []string
}

func (s *explainSink) Deliver(p *packet.Packet) {
	if p != s.pkt {
		oif := "-"
		if p.OutIf >= 0 && int(p.OutIf) < len(s.names) {
			oif = s.names[p.OutIf]
		}
		s.answers = append(s.answers, fmt.Sprintf("oif %q %s", oif, nftPacket(p.Data)))
	}
	s.pool.Put(p)
}

func (s *explainSink) Discard(p *packet.Packet, _ pipeline.Verdict) { s.pool.Put(p) }

// lineBuffer collects LOG target lines.
type lineBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// explainMaxEntries caps the private connection table: one flow needs
// one entry, not the running table's size.
const explainMaxEntries = 1024

// explain runs the flow through a private pipeline built from cfg. prep,
// when set, adjusts the pipeline before the packet runs (the daemon gives
// it its live sets).
func explain(cfg *config.Config, req explainRequest, prep func(env *pipeline.Env) error) (*explainResult, error) {
	src, dst, err := req.check()
	if err != nil {
		return nil, ctl.Errorf(ctl.CodeBadRequest, "%v", err)
	}
	c := *cfg
	if c.Conntrack.MaxEntries > explainMaxEntries {
		c.Conntrack.MaxEntries = explainMaxEntries
	}
	names := ifNames(&c)
	b := buildFlowPacket(req.Proto, src, dst, uint16(req.Sport), uint16(req.Dport))

	inIf := packet.NoIf
	local := false
	if req.In != "" {
		ifc := c.Interface(req.In)
		if ifc == nil {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "-i %q is not a configured interface (have %s)", req.In, strings.Join(names, ", "))
		}
		inIf = int16(ifc.Index)
	} else {
		for _, ifc := range c.Interfaces {
			if ifc.Addr.Addr() == netip.AddrFrom4(src) {
				local = true
			}
		}
		if !local {
			table, err := router.NewTable(&c)
			if err != nil {
				return nil, err
			}
			inIf = ingressIf(&c, table, capture.Record{IPv4: true, Data: b}, packet.NoIf)
			if inIf == packet.NoIf {
				return nil, ctl.Errorf(ctl.CodeBadRequest, "no interface leads to %s: give -i IFACE", netip.AddrFrom4(src))
			}
		}
	}

	clock := &pipeline.Virtual{}
	clock.Set(time.Now().UnixNano())
	env, err := newEnv(&c, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	logs := &lineBuffer{}
	env.Shared(rules.LogWriterKey, func() (any, error) { return io.Writer(logs), nil })
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		return nil, err
	}
	defer pl.Cleanup()
	if prep != nil {
		if err := prep(env); err != nil {
			return nil, err
		}
	}

	res := &explainResult{Config: c.File, Flow: flowText(req, names, inIf, local)}
	pt := &pktTrace{id: 1, start: readTuple(b)}
	pt.last = pt.start
	ends := newStageEnds(pl)
	ifName := func(i int16) string {
		if i < 0 || int(i) >= len(names) {
			return ""
		}
		return names[i]
	}
	done := false
	pl.Trace = func(p *packet.Packet, stage string, v pipeline.Verdict, note string) {
		if done {
			return
		}
		evs, end := pt.step(p, stage, v, note, ends, ifName)
		res.Events = append(res.Events, evs...)
		done = end
	}
	sink := &explainSink{pool: env.Pool, names: names}
	r := pl.NewRunner(sink)
	pkt := env.Pool.Get()
	pkt.Load(b)
	pkt.InIf = inIf
	pkt.Trace = true
	pkt.Timestamp = clock.Now()
	sink.pkt = pkt
	first := traceEvent{ID: pt.id, Kind: "packet", Iif: ifName(inIf), Packet: nftPacket(b)}
	res.Events = append(res.Events, first)
	if local {
		r.Inject(pkt)
		r.Tick() // runs what was injected
	} else {
		r.Run([]*packet.Packet{pkt})
	}
	res.Answers = sink.answers
	for _, l := range strings.Split(strings.TrimSpace(logs.b.String()), "\n") {
		if l != "" {
			res.Logs = append(res.Logs, l)
		}
	}
	if last := res.Events[len(res.Events)-1]; last.Kind == "end" {
		res.Verdict, res.Reason, res.Oif, res.NAT, res.Note = last.Verdict, last.Reason, last.Oif, last.NAT, last.Note
	} else {
		res.Verdict = "unknown"
	}
	return res, nil
}

func flowText(req explainRequest, names []string, inIf int16, local bool) string {
	var s string
	switch {
	case hasPorts(req.Proto):
		s = fmt.Sprintf("%s %s:%d > %s:%d", protoName(req.Proto), req.Src, req.Sport, req.Dst, req.Dport)
	default:
		s = fmt.Sprintf("%s %s > %s", protoName(req.Proto), req.Src, req.Dst)
	}
	switch req.Proto {
	case header.ProtoTCP:
		s += " syn"
	case header.ProtoICMP:
		s += " echo-request"
	}
	switch {
	case local:
		s += " from fwd itself"
	case inIf >= 0 && int(inIf) < len(names):
		s += " in " + names[inIf]
	}
	return s
}

// write prints the result as fwd explain does.
func (res *explainResult) write(w io.Writer) {
	fmt.Fprintf(w, "explain %s (%s)\n", res.Flow, res.Config)
	for i := range res.Events {
		fmt.Fprintln(w, res.Events[i].String())
	}
	fmt.Fprintln(w)
	var hooks []string
	var decided []string
	for _, e := range res.Events {
		if e.Kind != "stage" {
			continue
		}
		if len(hooks) == 0 || hooks[len(hooks)-1] != e.Hook {
			hooks = append(hooks, e.Hook)
		}
		if strings.HasPrefix(e.Stage, "rules.") && e.Note != "" {
			decided = append(decided, e.Note)
		}
	}
	fmt.Fprintf(w, "path:    %s\n", strings.Join(hooks, " -> "))
	for i, d := range decided {
		label := "rules:  "
		if i > 0 {
			label = "        "
		}
		fmt.Fprintf(w, "%s %s\n", label, d)
	}
	if res.NAT != "" {
		fmt.Fprintf(w, "nat:     %s\n", res.NAT)
	}
	for _, l := range res.Logs {
		fmt.Fprintf(w, "log:     %s\n", l)
	}
	for _, a := range res.Answers {
		fmt.Fprintf(w, "answer:  %s\n", a)
	}
	v := res.Verdict
	if res.Reason != "" {
		v += " (" + res.Reason + ")"
	}
	if res.Note != "" {
		v += " (" + res.Note + ")"
	}
	if res.Oif != "" {
		v += ", out " + res.Oif
	}
	fmt.Fprintf(w, "verdict: %s\n", v)
}

func explainHandlers(d *daemon) {
	d.srv.Handle("explain", func(req *ctl.Request, st *ctl.Stream) error {
		var a explainRequest
		if err := req.Decode(&a); err != nil {
			return err
		}
		d.mu.Lock()
		cfg := d.cfg
		d.mu.Unlock()
		res, err := explain(cfg, a, func(env *pipeline.Env) error {
			// The running sets, with what was added or deleted at run time.
			live, ok := d.env.Lookup(rules.SharedKey).(*rules.Holder)
			h, ok2 := env.Lookup(rules.SharedKey).(*rules.Holder)
			if !ok || !ok2 {
				return nil
			}
			rs, err := rules.CompileWith(env.Config, live.Load(), rules.Options{Env: env})
			if err != nil {
				return err
			}
			h.Store(rs)
			return nil
		})
		if err != nil {
			return err
		}
		return st.Send(res)
	})
}

func runExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	var a explainRequest
	cfgPath := fs.String("c", "", "configuration file (offline; no daemon needed)")
	socket := fs.String("socket", "", "ask the running daemon at this control socket")
	proto := fs.String("p", "", "protocol: tcp, udp, icmp or a number")
	fs.StringVar(&a.Src, "s", "", "source address")
	fs.StringVar(&a.Dst, "d", "", "destination address")
	fs.IntVar(&a.Sport, "sport", 0, "source port")
	fs.IntVar(&a.Dport, "dport", 0, "destination port")
	fs.StringVar(&a.In, "i", "", "ingress interface")
	out := fs.String("o", "", "output: json")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (*cfgPath == "") == (*socket == "") {
		return &usageError{"give one of -c CONFIG (offline) or --socket PATH (the running daemon)"}
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
	if _, _, err := a.check(); err != nil {
		return &usageError{err.Error()}
	}
	var res *explainResult
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		r, err := explain(cfg, a, nil)
		if err != nil {
			return ctlExit(err)
		}
		res = r
	} else {
		err := ctl.Call(*socket, "explain", &a, func(data json.RawMessage) error {
			res = new(explainResult)
			return json.Unmarshal(data, res)
		})
		if err != nil {
			return ctlExit(err)
		}
		if res == nil {
			return &exitError{code: 2, err: fmt.Errorf("fwd explain: the daemon sent no answer")}
		}
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		res.write(stdout)
	}
	if res.Verdict != "accept" {
		return &exitError{code: 1}
	}
	return nil
}
