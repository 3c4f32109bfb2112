package conntrack

import (
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// fakeFT is a FlowTable that records what conntrack asks of it. Pending
// returns pend, Evict returns evict.
type fakeFT struct {
	tab          *Table
	pend, evict  [2][2]uint64 // packets, bytes by direction
	evicted      []evictCall
	pendingCalls map[*Conn]int
	unlocked     int // calls made without the connection's home lock
}

type evictCall struct {
	c   *Conn
	gen uint32 // c's generation when Evict ran: the flow table matches it
}

func newFakeFT(tab *Table) *fakeFT {
	ft := &fakeFT{tab: tab, pendingCalls: map[*Conn]int{}}
	tab.SetFlowTable(ft)
	return ft
}

// homeLocked reports whether c's home shard lock is held (by the test's
// only goroutine, so by the caller).
func homeLocked(tab *Table, c *Conn) bool {
	s := &tab.shards[c.home]
	if s.mu.TryLock() {
		s.mu.Unlock()
		return false
	}
	return true
}

func (f *fakeFT) Evict(c *Conn) (packets, bytes [2]uint64) {
	if !homeLocked(f.tab, c) {
		f.unlocked++
	}
	f.evicted = append(f.evicted, evictCall{c, c.Gen()})
	return f.evict[0], f.evict[1]
}

func (f *fakeFT) Pending(c *Conn) (packets, bytes [2]uint64) {
	if !homeLocked(f.tab, c) {
		f.unlocked++
	}
	f.pendingCalls[c]++
	return f.pend[0], f.pend[1]
}

// establish opens a TCP connection from client port cp (SYN seq 100,
// SYN-ACK seq 500, windows 1000, no options) and returns it ESTABLISHED.
func establish(t *testing.T, tab *Table, clk *pipeline.Virtual, cp uint16) (*tflow, *Conn) {
	t.Helper()
	f := newFlow(t, tab, clk)
	f.cp = cp
	f.send(Original, fSYN, 100, 0, 1000, 0, nil)
	f.send(Reply, fSYN|fACK, 500, 101, 1000, 0, nil)
	p := f.send(Original, fACK, 101, 501, 1000, 0, nil)
	c, ok := p.CT.(*Conn)
	if !ok || !c.Confirmed() || tab.Snapshot(c).State != TCPEstablished {
		t.Fatalf("handshake on port %d did not establish", cp)
	}
	return f, c
}

// answeredUDP runs a UDP request and its reply from client port sp and
// returns the connection.
func answeredUDP(t *testing.T, tab *Table, sp uint16) *Conn {
	t.Helper()
	p := decode(t, buildUDP(cliAddr, srvAddr, sp, 53, 8))
	run(tab, p)
	run(tab, decode(t, buildUDP(srvAddr, cliAddr, 53, sp, 8)))
	c, ok := p.CT.(*Conn)
	if !ok || !c.Confirmed() {
		t.Fatalf("udp from port %d not confirmed", sp)
	}
	return c
}

// yes is an add that puts the connection in the (fake) flow table.
func yes(*Conn) bool { return true }

func offloaded(tab *Table, c *Conn) bool {
	return tab.Snapshot(c).Status&packet.CTStatusOffload != 0
}

// TestOffloadCallsAdd: Offload asks the flow table to add a connection
// only when it may be offloaded, under the connection's lock, with its
// tuples; a refusal (a full table) leaves it on the slow path.
func TestOffloadCallsAdd(t *testing.T) {
	tests := []struct {
		name  string
		conn  func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn
		added bool // what add returns
		calls int  // add calls expected
		want  bool
	}{
		{"tcp syn sent", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			return newFlow(t, tab, clk).send(Original, fSYN, 100, 0, 1000, 0, nil).CT.(*Conn)
		}, true, 0, false},
		{"tcp syn recv", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			f := newFlow(t, tab, clk)
			c := f.send(Original, fSYN, 100, 0, 1000, 0, nil).CT.(*Conn)
			f.send(Reply, fSYN|fACK, 500, 101, 1000, 0, nil)
			return c
		}, true, 0, false},
		{"tcp established", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			_, c := establish(t, tab, clk, 40000)
			return c
		}, true, 1, true},
		{"tcp established, flow table full", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			_, c := establish(t, tab, clk, 40000)
			return c
		}, false, 1, false},
		{"tcp fin wait", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			f, c := establish(t, tab, clk, 40000)
			f.send(Original, fFIN|fACK, 101, 501, 1000, 0, nil)
			return c
		}, true, 0, false},
		{"udp unanswered", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			p := decode(t, buildUDP(cliAddr, srvAddr, 5000, 53, 8))
			run(tab, p)
			return p.CT.(*Conn)
		}, true, 0, false},
		{"udp answered", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			return answeredUDP(t, tab, 5000)
		}, true, 1, true},
		{"udp answered, flow table full", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			return answeredUDP(t, tab, 5000)
		}, false, 1, false},
		{"icmp", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			i := decode(t, buildICMP(cliAddr, srvAddr, header.ICMPEcho, 0, 7<<16|1, nil))
			run(tab, i)
			run(tab, decode(t, buildICMP(srvAddr, cliAddr, header.ICMPEchoReply, 0, 7<<16|1, nil)))
			return i.CT.(*Conn)
		}, true, 0, false},
		{"killed", func(t *testing.T, tab *Table, clk *pipeline.Virtual) *Conn {
			c := answeredUDP(t, tab, 5000)
			if !tab.Kill(c, c.Gen()) {
				t.Fatal("Kill failed")
			}
			return c
		}, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, clk := newTestTable(t, nil)
			ft := newFakeFT(tab)
			c := tt.conn(t, tab, clk)
			want := *c.Tuples()
			calls, unlocked := 0, 0
			add := func(got *Conn) bool {
				calls++
				if got != c || *got.Tuples() != want {
					t.Errorf("add got %p %v, want %p %v", got, *got.Tuples(), c, want)
				}
				if !homeLocked(tab, got) {
					unlocked++
				}
				return tt.added
			}
			if got := tab.Offload(c, add); got != tt.want {
				t.Fatalf("Offload = %v, want %v", got, tt.want)
			}
			if calls != tt.calls || unlocked != 0 {
				t.Fatalf("add called %d times (%d without the lock), want %d", calls, unlocked, tt.calls)
			}
			if tt.name != "killed" && offloaded(tab, c) != tt.want {
				t.Fatalf("status %v after Offload = %v", tab.Snapshot(c).Status, tt.want)
			}
			// Offloading again: an offloaded connection is not added
			// twice; a refused one is asked again.
			again := tab.Offload(c, add)
			if again != tt.want {
				t.Fatalf("second Offload = %v, want %v", again, tt.want)
			}
			if wantCalls := 2 * tt.calls; tt.want && calls != tt.calls || !tt.want && calls != wantCalls {
				t.Fatalf("add called %d times after a second Offload", calls)
			}
			if len(ft.evicted) != 0 {
				t.Fatalf("Evict called %d times", len(ft.evicted))
			}
		})
	}
}

// TestRefreshTCP: the fast path's Refresh adds a direction's counts and
// restarts the established timeout; a stale reference, a wrong
// generation or a connection no longer offloaded does nothing.
func TestRefreshTCP(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	newFakeFT(tab)
	_, c := establish(t, tab, clk, 40000)
	if !tab.Offload(c, yes) {
		t.Fatal("not offloaded")
	}
	base := tab.Snapshot(c)
	clk.Advance(time.Hour)
	now := clk.Now()
	ref, gen := c.Ref(), c.Gen()
	tab.Refresh(ref, gen, Original, 5, 500, now)
	e := tab.Snapshot(c)
	if e.Packets != [2]uint64{base.Packets[0] + 5, base.Packets[1]} || e.Bytes != [2]uint64{base.Bytes[0] + 500, base.Bytes[1]} {
		t.Fatalf("after Refresh of the original direction: packets %v bytes %v, from %v %v", e.Packets, e.Bytes, base.Packets, base.Bytes)
	}
	if want := now + int64(tab.cfg.Timeouts.TCPEstablished); e.Expires != want {
		t.Fatalf("expires %d, want now + established timeout %d", e.Expires, want)
	}
	tab.Refresh(ref, gen, Reply, 2, 200, now)
	e = tab.Snapshot(c)
	if e.Packets != [2]uint64{base.Packets[0] + 5, base.Packets[1] + 2} || e.Bytes != [2]uint64{base.Bytes[0] + 500, base.Bytes[1] + 200} {
		t.Fatalf("after Refresh of the reply direction: packets %v bytes %v", e.Packets, e.Bytes)
	}

	later := now + int64(time.Minute)
	for _, tt := range []struct {
		name string
		ref  uint64
		gen  uint32
	}{
		{"older generation", ref, gen - 1},
		{"newer generation", ref, gen + 1},
		{"another slot", ref + 1, gen},
		{"another shard", ref ^ 1<<32, gen},
		{"no such shard", ref | 0xff<<32, gen},
	} {
		tab.Refresh(tt.ref, tt.gen, Original, 7, 700, later)
		if x := tab.Snapshot(c); x != e {
			t.Fatalf("%s: Refresh changed the entry:\n%+v\n%+v", tt.name, x, e)
		}
	}
	if tab.ClearOffload() != 1 {
		t.Fatal("ClearOffload")
	}
	e = tab.Snapshot(c)
	tab.Refresh(ref, gen, Original, 7, 700, later)
	if x := tab.Snapshot(c); x != e {
		t.Fatalf("Refresh changed a connection no longer offloaded:\n%+v\n%+v", x, e)
	}
}

// TestRefreshUDP: Refresh keeps an offloaded UDP flow as the slow path
// would its packets: the udp timeout for the first two seconds, then
// ASSURED (off the early-drop list, with an event) and the stream
// timeout.
func TestRefreshUDP(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	newFakeFT(tab)
	start := clk.Now()
	c := answeredUDP(t, tab, 5000)
	if !tab.Offload(c, yes) {
		t.Fatal("not offloaded")
	}
	sub := tab.Subscribe(8, EventUpdate)
	defer sub.Close()

	clk.Advance(time.Second)
	now := clk.Now()
	tab.Refresh(c.Ref(), c.Gen(), Reply, 1, 30, now)
	e := tab.Snapshot(c)
	if e.Status&packet.CTStatusAssured != 0 {
		t.Fatal("ASSURED after one second")
	}
	if want := now + int64(tab.cfg.Timeouts.UDP); e.Expires != want {
		t.Fatalf("expires %d, want now + udp timeout %d", e.Expires, want)
	}
	if e.Packets[Reply] != 2 || e.Bytes[Reply] != 36+30 {
		t.Fatalf("reply counts %d %d, want 2 66", e.Packets[Reply], e.Bytes[Reply])
	}

	clk.Set(start + int64(3*time.Second))
	now = clk.Now()
	tab.Refresh(c.Ref(), c.Gen(), Original, 4, 120, now)
	e = tab.Snapshot(c)
	if e.Status&packet.CTStatusAssured == 0 {
		t.Fatal("not ASSURED after three seconds with replies")
	}
	if want := now + int64(tab.cfg.Timeouts.UDPStream); e.Expires != want {
		t.Fatalf("expires %d, want now + udp stream timeout %d", e.Expires, want)
	}
	if e.Packets[Original] != 5 {
		t.Fatalf("original packets %d, want 5", e.Packets[Original])
	}
	s := &tab.shards[c.home]
	s.mu.Lock()
	unassured := c.flags&cfUnassured != 0
	s.mu.Unlock()
	if unassured {
		t.Fatal("an ASSURED connection is still on the early-drop list")
	}
	select {
	case ev := <-sub.C:
		if ev.Entry.Status&packet.CTStatusAssured == 0 {
			t.Fatalf("update event without ASSURED: %+v", ev)
		}
	default:
		t.Fatal("no update event for ASSURED")
	}
}

// TestTeardown: Teardown takes a connection off the fast path: the flow
// table evicts it once, under its lock, its counts join the entry's, and
// both windows are forgotten, so that the next segments, however far the
// fast path moved the sequence numbers, are picked up as they come
// (Linux's flow_offload_fixup_tcp).
func TestTeardown(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	ft := newFakeFT(tab)
	ft.evict = [2][2]uint64{{3, 4}, {300, 400}}
	f, c := establish(t, tab, clk, 40000)

	// 100 000 bytes on, as after a while on the fast path: out of the
	// window conntrack knows.
	const far = 101 + 100000
	if p := f.send(Original, fACK, far, 501, 1000, 10, nil); p.CTState != packet.CTInvalid {
		t.Fatalf("a segment far out of the window is %v before any offload", p.CTState)
	}
	if !tab.Offload(c, yes) {
		t.Fatal("not offloaded")
	}
	base := tab.Snapshot(c)
	ref, gen := c.Ref(), c.Gen()
	tab.Teardown(ref, gen+1)
	tab.Teardown(ref+1, gen)
	if !offloaded(tab, c) || len(ft.evicted) != 0 {
		t.Fatalf("a stale Teardown took the connection off (evictions %d)", len(ft.evicted))
	}
	tab.Teardown(ref, gen)
	e := tab.Snapshot(c)
	if e.Status&packet.CTStatusOffload != 0 {
		t.Fatal("still offloaded after Teardown")
	}
	if len(ft.evicted) != 1 || ft.evicted[0] != (evictCall{c, gen}) || ft.unlocked != 0 {
		t.Fatalf("evictions %v (%d unlocked), want one of %p gen %d under the lock", ft.evicted, ft.unlocked, c, gen)
	}
	if e.Packets != [2]uint64{base.Packets[0] + 3, base.Packets[1] + 4} || e.Bytes != [2]uint64{base.Bytes[0] + 300, base.Bytes[1] + 400} {
		t.Fatalf("counts %v %v, want %v %v plus the evicted [3 4] [300 400]", e.Packets, e.Bytes, base.Packets, base.Bytes)
	}
	if e.State != TCPEstablished {
		t.Fatalf("state %v after Teardown", e.State)
	}
	tab.Teardown(ref, gen)
	if len(ft.evicted) != 1 {
		t.Fatalf("a second Teardown evicted again (%d)", len(ft.evicted))
	}

	// The windows are picked up from the next segments.
	steps := []struct {
		name     string
		dir      int
		seq, ack uint32
		n        int
	}{
		{"client data far on", Original, far, 501, 10},
		{"server ack of it", Reply, 501, far + 10, 0},
		{"client data after it", Original, far + 10, 501, 20},
		{"server data", Reply, 501, far + 30, 5},
	}
	for _, s := range steps {
		p := f.send(s.dir, fACK|fPSH, s.seq, s.ack, 1000, s.n, nil)
		if p.CTState != packet.CTEstablished || p.CT != c || p.CTReply != (s.dir == Reply) {
			t.Fatalf("%s after Teardown: state %v reply %v (%s)", s.name, p.CTState, p.CTReply, p.Note)
		}
	}
	if e := tab.Snapshot(c); e.State != TCPEstablished || e.Packets[0] != base.Packets[0]+3+2 {
		t.Fatalf("after the segments: state %v packets %v", e.State, e.Packets)
	}
}

// TestOffloadPending: what the fast path counted and has not handed over
// yet shows in every copy of an offloaded connection (Snapshot, Lookup by
// either tuple, Entries), and only in an offloaded one's.
func TestOffloadPending(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	ft := newFakeFT(tab)
	ft.pend = [2][2]uint64{{2, 3}, {200, 300}}
	ft.evict = ft.pend // what Evict hands over is what was pending
	_, c := establish(t, tab, clk, 40000)
	u := answeredUDP(t, tab, 5000)
	base, ubase := tab.Snapshot(c), tab.Snapshot(u)
	if !tab.Offload(c, yes) {
		t.Fatal("not offloaded")
	}
	wantP := [2]uint64{base.Packets[0] + 2, base.Packets[1] + 3}
	wantB := [2]uint64{base.Bytes[0] + 200, base.Bytes[1] + 300}
	check := func(what string, e Entry) {
		t.Helper()
		if e.Packets != wantP || e.Bytes != wantB {
			t.Fatalf("%s: packets %v bytes %v, want %v %v", what, e.Packets, e.Bytes, wantP, wantB)
		}
	}
	check("Snapshot", tab.Snapshot(c))
	for d, tu := range c.Tuples() {
		e, dir, ok := tab.Lookup(tu)
		if !ok || dir != d {
			t.Fatalf("Lookup of direction %d: %v %d", d, ok, dir)
		}
		check("Lookup", e)
	}
	found := 0
	for _, e := range tab.Entries() {
		switch e.Orig {
		case c.Original():
			check("Entries", e)
			found++
		case u.Original():
			if e.Packets != ubase.Packets || e.Bytes != ubase.Bytes {
				t.Fatalf("a connection not offloaded has %v %v, want %v %v", e.Packets, e.Bytes, ubase.Packets, ubase.Bytes)
			}
			found++
		}
	}
	if found != 2 {
		t.Fatalf("Entries listed %d of the 2 connections", found)
	}
	if ft.pendingCalls[u] != 0 || ft.unlocked != 0 {
		t.Fatalf("Pending asked about a connection not offloaded %d times, %d calls unlocked", ft.pendingCalls[u], ft.unlocked)
	}

	// Off the fast path, the counts were handed over by Evict and
	// Pending is not asked any more.
	if n := tab.ClearOffload(); n != 1 {
		t.Fatalf("ClearOffload took %d off", n)
	}
	asked := ft.pendingCalls[c]
	check("Snapshot after ClearOffload", tab.Snapshot(c))
	e, _, _ := tab.Lookup(c.Original())
	check("Lookup after ClearOffload", e)
	if ft.pendingCalls[c] != asked {
		t.Fatal("Pending asked about a connection no longer offloaded")
	}
}

// TestFreeEvicts: however an offloaded connection goes (killed, reaped
// when it expires, met expired by a packet, flushed, deleted), its
// entries leave the flow table first, under its lock and with the
// generation they were made with, and the DESTROY event counts what they
// had; a connection not offloaded is not evicted.
func TestFreeEvicts(t *testing.T) {
	tests := []struct {
		name string
		free func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn)
	}{
		{"kill", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) { tab.Kill(c, c.Gen()) }},
		{"reap", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) {
			clk.Advance(time.Hour)
			tab.Reap(numShards * 64)
		}},
		{"reap tick", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) {
			clk.Advance(time.Hour)
			tab.ReapTick(64)
		}},
		{"expired, met by a packet", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) {
			clk.Advance(time.Hour)
			run(tab, decode(t, buildUDP(cliAddr, srvAddr, 5000, 53, 8)))
		}},
		{"flush", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) { tab.Flush() }},
		{"delete", func(t *testing.T, tab *Table, clk *pipeline.Virtual, c *Conn) {
			tab.Delete(func(e *Entry) bool { return e.Orig.SrcPort == 5000 })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, clk := newTestTable(t, nil)
			ft := newFakeFT(tab)
			ft.evict = [2][2]uint64{{6, 7}, {600, 700}}
			c := answeredUDP(t, tab, 5000)
			other := answeredUDP(t, tab, 5001) // not offloaded
			if !tab.Offload(c, yes) {
				t.Fatal("not offloaded")
			}
			base, gen := tab.Snapshot(c), c.Gen()
			sub := tab.Subscribe(8, EventDestroy)
			defer sub.Close()
			tt.free(t, tab, clk, c)
			if c.Gen() == gen {
				t.Fatal("the connection was not freed")
			}
			if len(ft.evicted) != 1 || ft.evicted[0] != (evictCall{c, gen}) || ft.unlocked != 0 {
				t.Fatalf("evictions %v (%d unlocked), want one of %p gen %d", ft.evicted, ft.unlocked, c, gen)
			}
			for {
				select {
				case ev := <-sub.C:
					if ev.Entry.Orig != base.Orig {
						if ev.Entry.Orig == other.Original() {
							continue // expired with it
						}
						t.Fatalf("DESTROY of %v", ev.Entry.Orig)
					}
					want := [2]uint64{base.Packets[0] + 6, base.Packets[1] + 7}
					if ev.Entry.Packets != want || ev.Entry.Status&packet.CTStatusOffload != 0 {
						t.Fatalf("DESTROY event: packets %v status %v, want %v without OFFLOAD", ev.Entry.Packets, ev.Entry.Status, want)
					}
					return
				default:
					t.Fatal("no DESTROY event")
				}
			}
		})
	}
}

// TestClearOffloadEvictsAll: ClearOffload takes every offloaded
// connection off the fast path, evicting each once, and forgets the TCP
// windows; the others are left alone.
func TestClearOffloadEvictsAll(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	ft := newFakeFT(tab)
	var conns []*Conn
	for i := range 3 {
		_, c := establish(t, tab, clk, uint16(40000+i))
		conns = append(conns, c)
	}
	for i := range 3 {
		conns = append(conns, answeredUDP(t, tab, uint16(5000+i)))
	}
	_, keep := establish(t, tab, clk, 41000) // not offloaded
	for _, c := range conns {
		if !tab.Offload(c, yes) {
			t.Fatal("not offloaded")
		}
	}
	if n := tab.ClearOffload(); n != len(conns) {
		t.Fatalf("ClearOffload = %d, want %d", n, len(conns))
	}
	seen := map[*Conn]int{}
	for _, ev := range ft.evicted {
		seen[ev.c]++
		if ev.gen != ev.c.Gen() {
			t.Fatalf("evicted with generation %d, the connection has %d", ev.gen, ev.c.Gen())
		}
	}
	if len(ft.evicted) != len(conns) || len(seen) != len(conns) || seen[keep] != 0 || ft.unlocked != 0 {
		t.Fatalf("evictions %v (%d unlocked): want each of the %d offloaded once", ft.evicted, ft.unlocked, len(conns))
	}
	for i, c := range conns {
		if offloaded(tab, c) {
			t.Fatalf("connection %d still offloaded", i)
		}
		if c.Proto() == header.ProtoTCP {
			s := &tab.shards[c.home]
			s.mu.Lock()
			w := [2]uint32{c.tcp.seen[0].maxwin, c.tcp.seen[1].maxwin}
			s.mu.Unlock()
			if w != [2]uint32{} {
				t.Fatalf("connection %d keeps its windows %v", i, w)
			}
		}
	}
	s := &tab.shards[keep.home]
	s.mu.Lock()
	kw := keep.tcp.seen[0].maxwin
	s.mu.Unlock()
	if kw == 0 {
		t.Fatal("ClearOffload forgot the window of a connection it did not offload")
	}
	if n := tab.ClearOffload(); n != 0 || len(ft.evicted) != len(conns) {
		t.Fatalf("a second ClearOffload = %d, evictions %d", n, len(ft.evicted))
	}
}

// TestOffloadedMissIsNotInvalid: a segment of an offloaded TCP
// connection that reaches conntrack anyway (on another interface, or
// racing a teardown) meets windows conntrack stopped keeping; like
// nft_flow_offload_eval's liberal flags, they are not checked any more.
func TestOffloadedMissIsNotInvalid(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	newFakeFT(tab)
	f, c := establish(t, tab, clk, 40000)
	far := func() *packet.Packet { return f.send(Original, fACK|fPSH, 101+100000, 501, 1000, 10, nil) }
	if p := far(); p.CTState != packet.CTInvalid {
		t.Fatalf("before the offload, a segment far ahead is %v, want INVALID", p.CTState)
	}
	if !tab.Offload(c, yes) {
		t.Fatal("not offloaded")
	}
	if p := far(); p.CTState != packet.CTEstablished {
		t.Fatalf("offloaded, a segment far ahead is %v (%s), want ESTABLISHED", p.CTState, p.Note)
	}
}
