package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"fwd/conntrack"
	"fwd/ctl"
	"fwd/packet"
	"fwd/pipeline"
)

func init() {
	register(&command{
		name: "conntrack",
		summary: `inspect and change the connection table, like conntrack-tools
  -L            list (default)             -G   get one entry (needs -p -s -d --sport --dport)
  -D            delete matching entries    -F   flush the table
  -E            stream events (NEW, UPDATE, DESTROY) until interrupted; -e NEW,UPDATES,DESTROY
  -S            statistics (conntrack -S names)
  -C            count entries
filters: -p PROTO, -s/-d ADDR[/LEN] (original source/destination),
  -r/-q ADDR[/LEN] (reply source/destination), --sport/--dport PORT,
  --state STATE, -m/--mark MARK[/MASK], -u/--status ASSURED|SEEN_REPLY|...,
  -n/--src-nat, -g/--dst-nat
output: -o extended|json|timestamp (timestamp: events)
The "N flow entries have been shown." summary goes to stderr. Exit status
0 on success, 1 on failure (e.g. -G finds nothing), 2 on a usage error.`,
		usage: "fwd conntrack -L|-G|-D|-F|-E|-S|-C [filters] [-o extended|json|timestamp] [--socket PATH]",
		run:   runConntrack,
	})
	ctDumper = func(env *pipeline.Env, w io.Writer, format string) error {
		t, err := conntrack.FromEnv(env)
		if err != nil {
			return err
		}
		return t.WriteList(w, format, env.Clock.Now())
	}
	extraCounterSources = append(extraCounterSources, func(env *pipeline.Env) []pipeline.Counter {
		if env.Lookup("conntrack.table") == nil {
			return nil
		}
		t, err := conntrack.FromEnv(env)
		if err != nil {
			return nil
		}
		var out []pipeline.Counter
		for _, c := range t.Stats().Counters() {
			out = append(out, pipeline.Counter{Name: "conntrack." + c.Name, Value: c.Value})
		}
		return out
	})
	ctlSetups = append(ctlSetups, conntrackHandlers)
}

// ctFilter is a conntrack-tools filter, sent to the daemon as JSON.
type ctFilter struct {
	Proto    uint8  `json:"proto,omitempty"`
	Src      string `json:"src,omitempty"`
	Dst      string `json:"dst,omitempty"`
	ReplySrc string `json:"reply_src,omitempty"`
	ReplyDst string `json:"reply_dst,omitempty"`
	Sport    int    `json:"sport,omitempty"` // 0: any
	Dport    int    `json:"dport,omitempty"`
	State    string `json:"state,omitempty"`
	Mark     *uint32
	MarkMask uint32   `json:"mark_mask,omitempty"`
	Status   []string `json:"status,omitempty"`
	SrcNAT   bool     `json:"src_nat,omitempty"`
	DstNAT   bool     `json:"dst_nat,omitempty"`
}

// compile turns the filter into a conntrack.Filter, checking its values.
func (f *ctFilter) compile() (conntrack.Filter, error) {
	pfx := func(s string) (netip.Prefix, error) {
		if s == "" {
			return netip.Prefix{}, nil
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			return p.Masked(), err
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, 32), nil
	}
	var ps [4]netip.Prefix
	for i, s := range []string{f.Src, f.Dst, f.ReplySrc, f.ReplyDst} {
		p, err := pfx(s)
		if err != nil || (p.IsValid() && !p.Addr().Is4()) {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "bad address %q", s)
		}
		ps[i] = p
	}
	var state conntrack.TCPState
	if f.State != "" {
		st, ok := conntrack.ParseTCPState(strings.ToUpper(f.State))
		if !ok {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "unknown state %q", f.State)
		}
		state = st
	}
	var status packet.CTStatus
	for _, s := range f.Status {
		b, ok := ctStatusBit(s)
		if !ok {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "unknown status %q (ASSURED, SEEN_REPLY, CONFIRMED, SRC_NAT, DST_NAT, EXPECTED)", s)
		}
		status |= b
	}
	mask := f.MarkMask
	if mask == 0 {
		mask = ^uint32(0)
	}
	in := func(p netip.Prefix, a [4]byte) bool { return !p.IsValid() || p.Contains(netip.AddrFrom4(a)) }
	return func(e *conntrack.Entry) bool {
		o, r := &e.Orig, &e.Reply
		switch {
		case f.Proto != 0 && o.Proto != f.Proto,
			!in(ps[0], o.Src), !in(ps[1], o.Dst), !in(ps[2], r.Src), !in(ps[3], r.Dst),
			f.Sport != 0 && (!hasPorts(o.Proto) || int(o.SrcPort) != f.Sport),
			f.Dport != 0 && (!hasPorts(o.Proto) || int(o.DstPort) != f.Dport),
			f.State != "" && (o.Proto != 6 || e.State != state),
			f.Mark != nil && e.Mark&mask != *f.Mark&mask,
			e.Status&status != status,
			f.SrcNAT && e.Status&packet.CTStatusSNAT == 0,
			f.DstNAT && e.Status&packet.CTStatusDNAT == 0:
			return false
		}
		return true
	}, nil
}

func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 }

func ctStatusBit(s string) (packet.CTStatus, bool) {
	switch strings.ToUpper(s) {
	case "EXPECTED":
		return packet.CTStatusExpected, true
	case "SEEN_REPLY":
		return packet.CTStatusSeenReply, true
	case "ASSURED":
		return packet.CTStatusAssured, true
	case "CONFIRMED":
		return packet.CTStatusConfirmed, true
	case "SRC_NAT", "SNAT":
		return packet.CTStatusSNAT, true
	case "DST_NAT", "DNAT":
		return packet.CTStatusDNAT, true
	case "OFFLOAD":
		return packet.CTStatusOffload, true
	}
	return 0, false
}

// ctListReply is one listed entry with the daemon clock's reading, so the
// client prints the same timeouts the daemon would.
type ctListReply struct {
	Now   int64           `json:"now"`
	Entry conntrack.Entry `json:"entry"`
}

func conntrackHandlers(d *daemon) {
	table := func() (*conntrack.Table, error) {
		if d.env.Lookup("conntrack.table") == nil {
			return nil, ctl.Errorf(ctl.CodeNotFound, "connection tracking is not running")
		}
		return conntrack.FromEnv(d.env)
	}
	d.srv.Handle("conntrack.list", func(req *ctl.Request, st *ctl.Stream) error {
		var f ctFilter
		if err := req.Decode(&f); err != nil {
			return err
		}
		match, err := f.compile()
		if err != nil {
			return err
		}
		t, err := table()
		if err != nil {
			return err
		}
		now := d.env.Clock.Now()
		var sendErr error
		var es []conntrack.Entry
		t.Range(func(e *conntrack.Entry) bool {
			if match(e) {
				es = append(es, *e)
			}
			return true
		})
		conntrack.SortEntries(es)
		for i := range es {
			if sendErr = st.Send(ctListReply{Now: now, Entry: es[i]}); sendErr != nil {
				break
			}
		}
		return sendErr
	})
	d.srv.Handle("conntrack.delete", func(req *ctl.Request, st *ctl.Stream) error {
		var f ctFilter
		if err := req.Decode(&f); err != nil {
			return err
		}
		match, err := f.compile()
		if err != nil {
			return err
		}
		t, err := table()
		if err != nil {
			return err
		}
		return st.Send(t.Delete(match))
	})
	d.srv.Handle("conntrack.flush", func(req *ctl.Request, st *ctl.Stream) error {
		t, err := table()
		if err != nil {
			return err
		}
		return st.Send(t.Flush())
	})
	d.srv.Handle("conntrack.stats", func(req *ctl.Request, st *ctl.Stream) error {
		t, err := table()
		if err != nil {
			return err
		}
		return st.Send(t.Stats())
	})
	d.srv.Handle("conntrack.events", func(req *ctl.Request, st *ctl.Stream) error {
		var a struct {
			Mask   uint8    `json:"mask"`
			Filter ctFilter `json:"filter"`
		}
		if err := req.Decode(&a); err != nil {
			return err
		}
		match, err := a.Filter.compile()
		if err != nil {
			return err
		}
		t, err := table()
		if err != nil {
			return err
		}
		sub := t.Subscribe(4096, conntrack.EventType(a.Mask))
		defer sub.Close()
		for {
			select {
			case <-st.Ctx.Done():
				return nil
			case ev := <-sub.C:
				if !match(&ev.Entry) {
					continue
				}
				if err := st.Send(ev); err != nil {
					return err
				}
			}
		}
	})
}

func runConntrack(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("conntrack", stderr)
	var (
		list   = fs.Bool("L", false, "list entries")
		get    = fs.Bool("G", false, "get one entry")
		del    = fs.Bool("D", false, "delete matching entries")
		flush  = fs.Bool("F", false, "flush the table")
		events = fs.Bool("E", false, "stream events")
		stats  = fs.Bool("S", false, "statistics")
		count  = fs.Bool("C", false, "count entries")
		proto  = fs.String("p", "", "protocol (tcp, udp, icmp or a number)")
		out    = fs.String("o", "", "output: extended, json, timestamp")
		mask   = fs.String("e", "", "event mask: NEW,UPDATES,DESTROY")
		socket = fs.String("socket", defaultSocket, "control socket")
		f      ctFilter
		mark   string
		status string
	)
	for _, n := range []string{"s", "orig-src"} {
		fs.StringVar(&f.Src, n, "", "original source address[/len]")
	}
	for _, n := range []string{"d", "orig-dst"} {
		fs.StringVar(&f.Dst, n, "", "original destination address[/len]")
	}
	for _, n := range []string{"r", "reply-src"} {
		fs.StringVar(&f.ReplySrc, n, "", "reply source address[/len]")
	}
	for _, n := range []string{"q", "reply-dst"} {
		fs.StringVar(&f.ReplyDst, n, "", "reply destination address[/len]")
	}
	fs.IntVar(&f.Sport, "sport", 0, "original source port")
	fs.IntVar(&f.Dport, "dport", 0, "original destination port")
	fs.StringVar(&f.State, "state", "", "TCP state (ESTABLISHED, TIME_WAIT, ...)")
	for _, n := range []string{"m", "mark"} {
		fs.StringVar(&mark, n, "", "mark[/mask]")
	}
	for _, n := range []string{"u", "status"} {
		fs.StringVar(&status, n, "", "status bits, comma separated")
	}
	for _, n := range []string{"n", "src-nat"} {
		fs.BoolVar(&f.SrcNAT, n, false, "only source-NATed entries")
	}
	for _, n := range []string{"g", "dst-nat"} {
		fs.BoolVar(&f.DstNAT, n, false, "only destination-NATed entries")
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	verbs := 0
	for _, v := range []bool{*list, *get, *del, *flush, *events, *stats, *count} {
		if v {
			verbs++
		}
	}
	if verbs > 1 {
		return &usageError{"give one of -L, -G, -D, -F, -E, -S, -C"}
	}
	if verbs == 0 {
		*list = true
	}
	switch *out {
	case "", "extended", "json", "timestamp":
	default:
		return &usageError{fmt.Sprintf("-o %q: want extended, json or timestamp", *out)}
	}
	if *proto != "" {
		p, ok := parseProto(*proto)
		if !ok {
			return &usageError{fmt.Sprintf("-p %q: unknown protocol", *proto)}
		}
		f.Proto = p
	}
	if mark != "" {
		m, mm, err := parseMark(mark)
		if err != nil {
			return &usageError{err.Error()}
		}
		f.Mark, f.MarkMask = &m, mm
	}
	if status != "" {
		f.Status = strings.Split(status, ",")
	}
	if _, err := f.compile(); err != nil {
		return &usageError{err.Error()}
	}

	switch {
	case *list, *get:
		if *get && (f.Proto == 0 || f.Src == "" || f.Dst == "" || (hasPorts(f.Proto) && (f.Sport == 0 || f.Dport == 0))) {
			return &usageError{"-G needs a whole tuple: -p -s -d (and --sport --dport for tcp and udp)"}
		}
		var es []conntrack.Entry
		var now int64
		err := ctl.Call(*socket, "conntrack.list", &f, func(data json.RawMessage) error {
			var r ctListReply
			if err := json.Unmarshal(data, &r); err != nil {
				return err
			}
			now = r.Now
			es = append(es, r.Entry)
			return nil
		})
		if err != nil {
			return ctlExit(err)
		}
		format := *out
		if format == "timestamp" {
			format = ""
		}
		if err := conntrack.WriteEntries(stdout, es, format, now); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "fwd conntrack (conntrack-tools compatible): %d flow entries have been shown.\n", len(es))
		if *get && len(es) == 0 {
			return &exitError{code: 1, err: errors.New("fwd conntrack: operation failed: such conntrack doesn't exist")}
		}
		return nil
	case *del:
		var n int
		err := ctl.Call(*socket, "conntrack.delete", &f, func(data json.RawMessage) error { return json.Unmarshal(data, &n) })
		if err != nil {
			return ctlExit(err)
		}
		fmt.Fprintf(stderr, "fwd conntrack (conntrack-tools compatible): %d flow entries have been deleted.\n", n)
		if n == 0 {
			return &exitError{code: 1}
		}
		return nil
	case *flush:
		var n int
		if err := ctl.Call(*socket, "conntrack.flush", nil, func(data json.RawMessage) error { return json.Unmarshal(data, &n) }); err != nil {
			return ctlExit(err)
		}
		fmt.Fprintf(stderr, "fwd conntrack (conntrack-tools compatible): connection tracking table has been emptied (%d entries).\n", n)
		return nil
	case *stats, *count:
		var st conntrack.Stats
		if err := ctl.Call(*socket, "conntrack.stats", nil, func(data json.RawMessage) error { return json.Unmarshal(data, &st) }); err != nil {
			return ctlExit(err)
		}
		if *count {
			fmt.Fprintln(stdout, st.Entries)
			return nil
		}
		if *out == "json" {
			return json.NewEncoder(stdout).Encode(st)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "cpu=%-4s\t", "all")
		for i, c := range st.Counters() {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", c.Name, c.Value)
		}
		fmt.Fprintln(stdout, b.String())
		return nil
	case *events:
		m, err := parseEventMask(*mask)
		if err != nil {
			return &usageError{err.Error()}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		n := 0
		err = ctl.CallContext(ctx, *socket, "conntrack.events", map[string]any{"mask": m, "filter": &f}, func(data json.RawMessage) error {
			var ev conntrack.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				return err
			}
			n++
			if *out == "json" {
				return json.NewEncoder(stdout).Encode(ev)
			}
			line := string(conntrack.AppendEvent(nil, &ev, *out == "extended"))
			if *out == "timestamp" {
				t := time.Unix(0, ev.Time)
				line = fmt.Sprintf("[%d.%06d]\t%s", t.Unix(), t.Nanosecond()/1000, line)
			}
			_, err := fmt.Fprintln(stdout, line)
			return err
		})
		fmt.Fprintf(stderr, "fwd conntrack (conntrack-tools compatible): %d flow events have been shown.\n", n)
		return ctlExit(err)
	}
	return nil
}

func parseProto(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	}
	var n int
	if _, err := fmt.Sscan(s, &n); err == nil && n > 0 && n < 256 {
		return uint8(n), true
	}
	return 0, false
}

func parseMark(s string) (mark, mask uint32, err error) {
	m, mm, hasMask := strings.Cut(s, "/")
	var v, vm uint64
	if _, err := fmt.Sscan(m, &v); err != nil {
		if _, err := fmt.Sscanf(m, "0x%x", &v); err != nil {
			return 0, 0, fmt.Errorf("mark %q: want a number", s)
		}
	}
	vm = 0xffffffff
	if hasMask {
		if _, err := fmt.Sscanf(mm, "0x%x", &vm); err != nil {
			if _, err := fmt.Sscan(mm, &vm); err != nil {
				return 0, 0, fmt.Errorf("mark mask %q: want a number", mm)
			}
		}
	}
	if v > 0xffffffff || vm > 0xffffffff {
		return 0, 0, fmt.Errorf("mark %q out of range", s)
	}
	return uint32(v), uint32(vm), nil
}

func parseEventMask(s string) (conntrack.EventType, error) {
	if s == "" {
		return conntrack.EventAll, nil
	}
	var m conntrack.EventType
	for _, p := range strings.Split(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(p)) {
		case "NEW":
			m |= conntrack.EventNew
		case "UPDATE", "UPDATES":
			m |= conntrack.EventUpdate
		case "DESTROY":
			m |= conntrack.EventDestroy
		case "ALL":
			m |= conntrack.EventAll
		default:
			return 0, fmt.Errorf("-e %q: want NEW, UPDATES, DESTROY or ALL", p)
		}
	}
	return m, nil
}
