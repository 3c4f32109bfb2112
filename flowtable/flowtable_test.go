package flowtable_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fwd/bench"
	"fwd/config"
	"fwd/conntrack"
	"fwd/flowtable"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	_ "fwd/plugins"
)

func gatewayConfig(t testing.TB, offload bool) *config.Config {
	t.Helper()
	cfg, err := bench.GatewayConfig("../configs/gateway.toml", offload)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// out is one packet a pipeline delivered or dropped.
type out struct {
	data      []byte
	outIf     int16
	nextHop   [4]byte
	delivered bool
	drop      packet.DropReason
}

func (o out) String() string {
	d := o.data
	if len(d) > 64 {
		d = d[:64]
	}
	return fmt.Sprintf("delivered=%v out=%d via=%v drop=%v len=%d % x", o.delivered, o.outIf, o.nextHop, o.drop, len(o.data), d)
}

func (o out) same(x out) bool {
	return o.delivered == x.delivered && o.outIf == x.outIf && o.nextHop == x.nextHop && o.drop == x.drop && bytes.Equal(o.data, x.data)
}

type sink struct {
	pool *packet.Pool
	got  []out
	last *packet.Packet // the last packet of the batch, before it goes back
	ct   any
}

func (s *sink) keep(p *packet.Packet, delivered bool) {
	s.got = append(s.got, out{bytes.Clone(p.Data), p.OutIf, p.NextHop, delivered, p.Drop})
	if p.CT != nil {
		s.ct = p.CT
	}
	s.pool.Put(p)
}

func (s *sink) Deliver(p *packet.Packet)                     { s.keep(p, true) }
func (s *sink) Discard(p *packet.Packet, _ pipeline.Verdict) { s.keep(p, false) }

type router struct {
	pl    *pipeline.Pipeline
	r     *pipeline.Runner
	env   *pipeline.Env
	sink  *sink
	clock *pipeline.Virtual
}

func newRouter(t *testing.T, cfg *config.Config) *router {
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool()}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Cleanup)
	s := &sink{pool: env.Pool}
	return &router{pl: pl, r: pl.NewRunner(s), env: env, sink: s, clock: clock}
}

// send runs one datagram arriving on in and returns what came out.
func (r *router) send(in int16, dg []byte) []out {
	r.sink.got, r.sink.ct = nil, nil
	p := r.env.Pool.Get()
	p.Load(dg)
	p.InIf = in
	r.r.Run([]*packet.Packet{p})
	r.clock.Advance(time.Millisecond)
	return r.sink.got
}

func (r *router) table() *conntrack.Table {
	return r.env.Lookup("conntrack.table").(*conntrack.Table)
}

func (r *router) fast() *flowtable.Stage {
	return r.env.Lookup(flowtable.CountersKey).(*flowtable.Stage)
}

// pair runs the same traffic through the reference configuration with
// and without the offload rule: everything that comes out must be the
// same, byte for byte, interface and next hop included.
type pair struct {
	t          *testing.T
	slow, fast *router
}

func (p *pair) send(what string, in int16, dg []byte) []out {
	p.t.Helper()
	a := p.slow.send(in, dg)
	b := p.fast.send(in, dg)
	if len(a) != len(b) {
		p.t.Fatalf("%s: slow path gave %d packets, fast path %d:\n%v\n%v", what, len(a), len(b), a, b)
	}
	for i := range a {
		if !a[i].same(b[i]) {
			p.t.Fatalf("%s: packet %d differs:\nslow %v\nfast %v", what, i, a[i], b[i])
		}
	}
	return b
}

var (
	lanHost = [4]byte{192, 168, 1, 20}
	webHost = [4]byte{192, 168, 1, 10}
	server  = [4]byte{198, 18, 0, 7}
	client  = [4]byte{198, 18, 5, 9}
	wanAddr = [4]byte{203, 0, 113, 2}
)

func tcp(src, dst [4]byte, sport, dport uint16, flags uint8, seq, ack uint32, payload string) []byte {
	b := make([]byte, 60+len(payload))
	n := bench.TCP(b, src, dst, sport, dport, flags, seq, ack, len(payload))
	copy(b[40:], payload)
	t := header.TCP(b[20:n])
	t.SetChecksum(0)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b[:n]
}

func udp(src, dst [4]byte, sport, dport uint16, payload string) []byte {
	b := make([]byte, 28+len(payload))
	n := bench.UDP(b, src, dst, sport, dport, len(payload))
	copy(b[28:], payload)
	u := header.UDP(b[20:n])
	u.SetChecksum(0)
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return b[:n]
}

const (
	ack = header.TCPFlagACK
	syn = header.TCPFlagSYN
	fin = header.TCPFlagFIN
	psh = header.TCPFlagPSH
	rst = header.TCPFlagRST
)

// TestSameAsSlowPath: a masqueraded connection out, a DNATed one in and a
// UDP flow, through their whole lives (handshake, data both ways, a
// segment with TTL 1, one too big for the MTU, one out of the window,
// teardown), leave the router exactly as they do without offload, while
// most of their packets take the fast path.
func TestSameAsSlowPath(t *testing.T) {
	p := &pair{t: t, slow: newRouter(t, gatewayConfig(t, false)), fast: newRouter(t, gatewayConfig(t, true))}

	// Out through MASQUERADE.
	const cs, ss = 40000, 1000
	o := p.send("syn", bench.LAN, tcp(lanHost, server, 33000, 443, syn, cs, 0, ""))
	if len(o) != 1 || !o[0].delivered {
		t.Fatalf("syn: %v", o)
	}
	pub := header.TCP(o[0].data[20:]).SourcePort()
	p.send("syn-ack", bench.WAN, tcp(server, wanAddr, 443, pub, syn|ack, ss, cs+1, ""))
	p.send("ack", bench.LAN, tcp(lanHost, server, 33000, 443, ack, cs+1, ss+1, ""))
	if st := p.fast.fast(); st != nil {
		if n, _ := st.Counters(); n != 0 {
			t.Fatalf("%d packets took the fast path during the handshake", n)
		}
	}
	seq, sseq := uint32(cs+1), uint32(ss+1)
	for i := range 20 {
		d := fmt.Sprintf("request %d", i)
		p.send("data out", bench.LAN, tcp(lanHost, server, 33000, 443, ack|psh, seq, sseq, d))
		seq += uint32(len(d))
		r := fmt.Sprintf("response %d ...", i)
		p.send("data in", bench.WAN, tcp(server, wanAddr, 443, pub, ack|psh, sseq, seq, r))
		sseq += uint32(len(r))
	}
	n, _ := p.fast.fast().Counters()
	if n < 39 {
		t.Fatalf("only %d of 40 data segments took the fast path", n)
	}
	if line := listOne(t, p.fast, lanHost); !strings.Contains(line, "[OFFLOAD]") {
		t.Errorf("conntrack -L: %s", line)
	}
	if line := listOne(t, p.slow, lanHost); strings.Contains(line, "[OFFLOAD]") || !strings.Contains(line, "[ASSURED]") {
		t.Errorf("conntrack -L without offload: %s", line)
	}

	// TTL 1: time exceeded from the slow path, in both.
	dg := tcp(lanHost, server, 33000, 443, ack|psh, seq, sseq, "x")
	header.IPv4(dg).SetTTL(1)
	if o := p.send("ttl 1", bench.LAN, dg); len(o) != 2 || o[0].drop != packet.DropTTLExpired || !o[1].delivered {
		t.Fatalf("ttl 1: %v", o)
	}
	// Larger than the WAN's MTU, without DF: the device refragments it.
	big := tcp(lanHost, server, 33000, 443, ack|psh, seq, sseq, strings.Repeat("b", 2000))
	ip := header.IPv4(big)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(big)), TTL: 64, Protocol: header.ProtoTCP, Src: lanHost, Dst: server, ID: 77})
	if o := p.send("no DF, over the MTU", bench.LAN, big); len(o) != 1 || !o[0].delivered {
		t.Fatalf("refragmentation: %v", o)
	}
	seq += 2000
	// The same with DF: fragmentation needed.
	big = tcp(lanHost, server, 33000, 443, ack|psh, seq, sseq, strings.Repeat("c", 2000))
	if o := p.send("DF, over the MTU", bench.LAN, big); len(o) != 2 || o[0].drop != packet.DropMTU {
		t.Fatalf("frag needed: %v", o)
	}
	// Far out of the window: INVALID on the slow path, dropped by the
	// rules; the fast path keeps no window (nor does Linux's flowtable)
	// and forwards it, translated as any other.
	oow := tcp(server, wanAddr, 443, pub, ack, sseq+1<<30, seq, "zz")
	if o := p.slow.send(bench.WAN, oow); len(o) != 1 || o[0].delivered {
		t.Fatalf("out of window, slow path: %v", o)
	}
	if o := p.fast.send(bench.WAN, oow); len(o) != 1 || !o[0].delivered || header.IPv4(o[0].data).DestinationAddress() != lanHost {
		t.Fatalf("out of window, fast path: %v", o)
	}
	// Teardown: the FIN leaves the fast path; the rest passes the rules.
	before, _ := p.fast.fast().Counters()
	p.send("fin", bench.LAN, tcp(lanHost, server, 33000, 443, fin|ack, seq, sseq, ""))
	p.send("fin-ack", bench.WAN, tcp(server, wanAddr, 443, pub, fin|ack, sseq, seq+1, ""))
	p.send("last ack", bench.LAN, tcp(lanHost, server, 33000, 443, ack, seq+1, sseq+1, ""))
	if after, _ := p.fast.fast().Counters(); after != before {
		t.Errorf("%d teardown packets took the fast path", after-before)
	}
	if line := listOne(t, p.fast, lanHost); strings.Contains(line, "[OFFLOAD]") || !strings.Contains(line, "TIME_WAIT") {
		t.Errorf("after the teardown: %s", line)
	}

	// In through the DNAT rule to the web server, and its replies.
	p.send("dnat syn", bench.WAN, tcp(client, wanAddr, 5555, 8080, syn, 7, 0, ""))
	p.send("dnat syn-ack", bench.LAN, tcp(webHost, client, 80, 5555, syn|ack, 900, 8, ""))
	p.send("dnat ack", bench.WAN, tcp(client, wanAddr, 5555, 8080, ack, 8, 901, ""))
	cseq, wseq := uint32(8), uint32(901)
	for i := range 5 {
		d := fmt.Sprintf("GET /%d", i)
		p.send("dnat data in", bench.WAN, tcp(client, wanAddr, 5555, 8080, ack|psh, cseq, wseq, d))
		cseq += uint32(len(d))
		r := fmt.Sprintf("200 OK %d", i)
		o := p.send("dnat data out", bench.LAN, tcp(webHost, client, 80, 5555, ack|psh, wseq, cseq, r))
		if len(o) != 1 || !o[0].delivered || header.IPv4(o[0].data).SourceAddress() != wanAddr {
			t.Fatalf("dnat reply: %v", o)
		}
		wseq += uint32(len(r))
	}

	// UDP: offloaded once answered.
	o = p.send("udp out", bench.LAN, udp(lanHost, server, 5353, 53, "query"))
	upub := header.UDP(o[0].data[20:]).SourcePort()
	for i := range 5 {
		p.send("udp in", bench.WAN, udp(server, wanAddr, 53, upub, fmt.Sprint("answer ", i)))
		p.send("udp out", bench.LAN, udp(lanHost, server, 5353, 53, fmt.Sprint("query ", i)))
	}
	after, _ := p.fast.fast().Counters()
	if after < before+15 {
		t.Errorf("DNAT and UDP: %d packets took the fast path, want 15 or more", after-before)
	}
}

// listOne is the conntrack -L line of the TCP connection from src.
func listOne(t *testing.T, r *router, src [4]byte) string {
	t.Helper()
	var line string
	now := r.clock.Now()
	r.table().Range(func(e *conntrack.Entry) bool {
		if e.Orig.Src == src && e.Orig.Proto == header.ProtoTCP {
			line = string(conntrack.AppendEntry(nil, e, false, now, true))
			return false
		}
		return true
	})
	if line == "" {
		t.Fatal("no connection listed")
	}
	return line
}

// TestReloadTakesConnectionsOff: after a reload the rules decide again. A
// connection offloaded before it is not offloaded after; its next packet
// passes the rules, which offload it again, and the one after takes the
// fast path. With the rule gone, it stays off.
func TestReloadTakesConnectionsOff(t *testing.T) {
	r := newRouter(t, gatewayConfig(t, true))
	handshake(t, r, 33001)
	seq := uint32(101)
	data := func() uint64 {
		t.Helper()
		before, _ := r.fast().Counters()
		if o := r.send(bench.LAN, tcp(lanHost, server, 33001, 443, ack|psh, seq, 501, "data")); len(o) != 1 || !o[0].delivered {
			t.Fatalf("data: %v", o)
		}
		seq += 4
		after, _ := r.fast().Counters()
		return after - before
	}
	if data() != 1 || !strings.Contains(listOne(t, r, lanHost), "[OFFLOAD]") {
		t.Fatalf("not offloaded: %s", listOne(t, r, lanHost))
	}
	if err := r.pl.Reload(gatewayConfig(t, true)); err != nil {
		t.Fatal(err)
	}
	if line := listOne(t, r, lanHost); strings.Contains(line, "[OFFLOAD]") {
		t.Fatalf("after reload: %s", line)
	}
	if n := data(); n != 0 {
		t.Fatalf("the first packet after the reload took the fast path")
	}
	if n := data(); n != 1 {
		t.Fatalf("the rules did not offload the connection again")
	}
	if err := r.pl.Reload(gatewayConfig(t, false)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n := data(); n != 0 {
			t.Fatalf("offloaded by a ruleset without the rule")
		}
	}
	if line := listOne(t, r, lanHost); strings.Contains(line, "[OFFLOAD]") || !strings.Contains(line, "[ASSURED]") {
		t.Fatalf("without the rule: %s", line)
	}
}

// TestIdleWithoutTheRule: with no offload rule the stage is not run at
// all (traces do not show it).
func TestIdleWithoutTheRule(t *testing.T) {
	for _, offload := range []bool{false, true} {
		r := newRouter(t, gatewayConfig(t, offload))
		ran := false
		r.pl.Trace = func(_ *packet.Packet, stage string, _ pipeline.Verdict, _ string) {
			if strings.HasSuffix(stage, "/flowtable") {
				ran = true
			}
		}
		p := r.env.Pool.Get()
		p.Load(tcp(lanHost, server, 33002, 443, syn, 1, 0, ""))
		p.InIf, p.Trace = bench.LAN, true
		r.r.Run([]*packet.Packet{p})
		if ran != offload {
			t.Errorf("offload rule %v: stage ran %v", offload, ran)
		}
	}
}

// TestConcurrentWorkersAndReload runs offloaded connections' packets on
// two workers at once, both directions of each connection on different
// workers, while reloads take them off the fast path and listings read
// the table: every packet is delivered, and `go test -race` finds no
// race between the fast path, the rules that offload, and the reload.
func TestConcurrentWorkersAndReload(t *testing.T) {
	r := newRouter(t, gatewayConfig(t, true))
	fs := bench.NewFlows(64, 9)
	for i := range fs {
		f := &fs[i]
		b := make([]byte, 60)
		o := r.send(bench.LAN, b[:f.Syn(b)])
		if len(o) != 1 || !o[0].delivered {
			t.Fatalf("flow %d: syn %v", i, o)
		}
		f.Reply = f.Orig
		f.Reply.Src, f.Reply.Dst = f.Orig.Dst, wanAddr
		f.Reply.SrcPort, f.Reply.DstPort = f.Orig.DstPort, header.TCP(o[0].data[20:]).SourcePort()
		r.send(bench.WAN, b[:f.SynAck(b)])
		r.send(bench.LAN, b[:f.Ack(b)])
	}
	const rounds = 200
	var wg sync.WaitGroup
	var delivered, sent atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &countSink{pool: r.env.Pool, delivered: &delivered}
			run := r.pl.NewRunner(s)
			batch := make([]*packet.Packet, 0, len(fs))
			for range rounds {
				batch = batch[:0]
				for i := range fs {
					reply := (i+w)%2 == 1 // each worker takes one direction of each flow
					p := r.env.Pool.Get()
					n := fs[i].Data(p.Buffer()[packet.Headroom:], reply, 32)
					p.SetData(n)
					p.InIf = bench.LAN
					if reply {
						p.InIf = bench.WAN
					}
					batch = append(batch, p)
				}
				sent.Add(int64(len(batch)))
				run.Run(batch)
			}
		}()
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.pl.Reload(gatewayConfig(t, true)); err != nil {
				t.Error(err)
				return
			}
			r.table().Range(func(e *conntrack.Entry) bool { return true })
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	side.Wait()
	if d, s := delivered.Load(), sent.Load(); d != s {
		t.Fatalf("delivered %d of %d", d, s)
	}
	if n, _ := r.fast().Counters(); n == 0 {
		t.Fatal("nothing took the fast path")
	}
}

// countSink counts deliveries and returns packets to the pool.
type countSink struct {
	pool      *packet.Pool
	delivered *atomic.Int64
}

func (s *countSink) Deliver(p *packet.Packet) { s.delivered.Add(1); s.pool.Put(p) }
func (s *countSink) Discard(p *packet.Packet, _ pipeline.Verdict) {
	s.pool.Put(p)
}

// TestKernelRoutesIgnoresOffload: in NFQUEUE mode the kernel forwards, so
// there is no fast path: the stage is idle, the rule offloads nothing,
// and conntrack -L does not claim [OFFLOAD].
func TestKernelRoutesIgnoresOffload(t *testing.T) {
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: gatewayConfig(t, true), Clock: clock, Pool: packet.NewPool(), KernelRoutes: true}
	pl, err := pipeline.Build(env, pipeline.Order)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Cleanup)
	s := &sink{pool: env.Pool}
	r := &router{pl: pl, r: pl.NewRunner(s), env: env, sink: s, clock: clock}
	handshake(t, r, 33003)
	for i := range 5 {
		r.send(bench.LAN, tcp(lanHost, server, 33003, 443, ack|psh, 101+uint32(i)*4, 501, "data"))
	}
	if line := listOne(t, r, lanHost); strings.Contains(line, "[OFFLOAD]") {
		t.Fatalf("NFQUEUE mode: %s", line)
	}
	if n, _ := r.fast().Counters(); n != 0 {
		t.Fatalf("%d packets took a fast path NFQUEUE mode does not have", n)
	}
}

// TestWrongInterfaceTakesTheSlowPath: a packet with an offloaded
// connection's tuple that arrives on another interface than its source
// is routed by is left to the rules.
func TestWrongInterfaceTakesTheSlowPath(t *testing.T) {
	r := newRouter(t, gatewayConfig(t, true))
	handshake(t, r, 33004)
	fast := func(in int16, seq uint32) uint64 {
		t.Helper()
		before, _ := r.fast().Counters()
		r.send(in, tcp(lanHost, server, 33004, 443, ack|psh, seq, 501, "data"))
		after, _ := r.fast().Counters()
		return after - before
	}
	if n := fast(bench.LAN, 101); n != 1 {
		t.Fatal("the connection's own packet did not take the fast path")
	}
	if n := fast(bench.WAN, 105); n != 0 {
		t.Fatal("a LAN host's packet arriving on the WAN took the fast path")
	}
}

// handshake opens a TCP connection from lanHost's port sport to the
// server through r (MASQUERADE): client ISN 100, server ISN 500. It
// returns the public port.
func handshake(t *testing.T, r *router, sport uint16) uint16 {
	t.Helper()
	o := r.send(bench.LAN, tcp(lanHost, server, sport, 443, syn, 100, 0, ""))
	if len(o) != 1 || !o[0].delivered {
		t.Fatalf("syn: %v", o)
	}
	pub := header.TCP(o[0].data[20:]).SourcePort()
	r.send(bench.WAN, tcp(server, wanAddr, 443, pub, syn|ack, 500, 101, ""))
	r.send(bench.LAN, tcp(lanHost, server, sport, 443, ack, 101, 501, ""))
	return pub
}
