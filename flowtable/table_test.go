package flowtable

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fwd/config"
	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// The connections of these tests: client n (10.n.n.n) behind the router
// on interface lanIf talks to server:80 on wanIf, masqueraded to
// pubAddr:20000+n.
const (
	lanIf = 1
	wanIf = 2
)

var (
	server  = [4]byte{198, 51, 100, 7}
	pubAddr = [4]byte{203, 0, 113, 2}
	gateway = [4]byte{203, 0, 113, 254}
)

func clientAddr(n int) [4]byte {
	return [4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}
}

// ends returns both flows of connection n: the packets' tuples, where they
// arrive and leave, what they become, and the connection's reference. n
// is in every field a lookup hands out, so a hit can be checked against
// the key looked up.
func ends(n int) [2]flow {
	cli := clientAddr(n)
	cport, pport := uint16(1000+n), uint16(20000+n)
	ref, gen := uint64(n)<<32|uint64(n)*7, uint32(n)*3+1
	return [2]flow{
		{
			key: conntrack.Tuple{Src: cli, Dst: server, SrcPort: cport, DstPort: 80, Proto: header.ProtoTCP},
			in:  lanIf, out: wanIf,
			to:      conntrack.Tuple{Src: pubAddr, Dst: server, SrcPort: pport, DstPort: 80, Proto: header.ProtoTCP},
			nextHop: gateway, mtu: 1500, ref: ref, gen: gen, dir: 0, now: int64(n),
		},
		{
			key: conntrack.Tuple{Src: server, Dst: pubAddr, SrcPort: 80, DstPort: pport, Proto: header.ProtoTCP},
			in:  wanIf, out: lanIf,
			to:      conntrack.Tuple{Src: server, Dst: cli, SrcPort: 80, DstPort: cport, Proto: header.ProtoTCP},
			nextHop: cli, mtu: 1400 + n%64, ref: ref, gen: gen, dir: 1, now: int64(n),
		},
	}
}

// find looks f's key up as a packet arriving on in would be.
func find(tab *Table, f *flow, in int16) (hit, bool) {
	k0, k1 := keys(&f.key, in)
	var h hit
	ok := tab.lookup(k0, k1, tab.hash(k0, k1), &h)
	return h, ok
}

// checkHit reports what differs between a hit and the flow it should be.
func checkHit(h *hit, f *flow) string {
	var to conntrack.Tuple
	binary.LittleEndian.PutUint32(to.Src[:], uint32(h.to0))
	binary.LittleEndian.PutUint32(to.Dst[:], uint32(h.to0>>32))
	to.SrcPort, to.DstPort, to.Proto = uint16(h.to1), uint16(h.to1>>16), f.to.Proto
	switch {
	case to != f.to:
		return fmt.Sprintf("to tuple %v, want %v", to, f.to)
	case h.outIf() != f.out:
		return "wrong output interface"
	case h.nat() != (f.to != f.key):
		return "wrong nat flag"
	case h.nextHop() != f.nextHop:
		return "wrong next hop"
	case h.mtu() != f.mtu:
		return "wrong mtu"
	case h.ref != f.ref || h.gen() != f.gen || h.dir() != f.dir:
		return "wrong connection"
	case h.ch == nil || h.entry().key0.Load() == 0:
		return "no entry"
	}
	return ""
}

// withBuckets makes a table for max connections with only nb buckets
// (a power of two), so that chains are long.
func withBuckets(max, nb int) *Table {
	t := newTable(max)
	t.buckets = make([]atomic.Uint32, nb)
	t.mask = uint64(nb - 1)
	return t
}

func addConn(t *testing.T, tab *Table, n int) [2]flow {
	t.Helper()
	fs := ends(n)
	if !tab.add(&fs) {
		t.Fatalf("add of connection %d failed (Len %d)", n, tab.Len())
	}
	return fs
}

func removeConn(tab *Table, fs *[2]flow) {
	tab.mu.Lock()
	tab.removeLocked(&fs[0])
	tab.removeLocked(&fs[1])
	tab.mu.Unlock()
}

// mustFind checks both directions of fs are found, each with its data.
func mustFind(t *testing.T, tab *Table, fs *[2]flow, what string) {
	t.Helper()
	for d := range fs {
		h, ok := find(tab, &fs[d], fs[d].in)
		if !ok {
			t.Fatalf("%s: direction %d of %v not found", what, d, fs[d].key)
		}
		if why := checkHit(&h, &fs[d]); why != "" {
			t.Fatalf("%s: direction %d of %v: %s", what, d, fs[d].key, why)
		}
	}
}

func mustMiss(t *testing.T, tab *Table, fs *[2]flow, what string) {
	t.Helper()
	for d := range fs {
		if h, ok := find(tab, &fs[d], fs[d].in); ok {
			t.Fatalf("%s: direction %d of %v found (ref %x)", what, d, fs[d].key, h.ref)
		}
	}
}

// segment returns a TCP segment with tu's addresses and ports.
func segment(tu conntrack.Tuple, flags uint8) []byte {
	b := make([]byte, header.IPv4MinSize+header.TCPMinSize+4)
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtoTCP, Src: tu.Src, Dst: tu.Dst})
	tcp := header.TCP(b[header.IPv4MinSize:])
	tcp.Encode(&header.TCPFields{SrcPort: tu.SrcPort, DstPort: tu.DstPort, Seq: 1, Ack: 1, DataOffset: header.TCPMinSize, Flags: flags, Window: 1000})
	tcp.SetChecksum(tcp.CalculateChecksum(tu.Src, tu.Dst))
	return b
}

func decoded(t testing.TB, b []byte, in int16) *packet.Packet {
	t.Helper()
	pkt := packet.New(b)
	if pkt.Parsed.Decode(pkt.Data) == 0 {
		t.Fatalf("test packet does not decode: %v", pkt.Parsed.Reason)
	}
	pkt.InIf = in
	return pkt
}

// TestAddLookup: both directions of a connection are found by their
// tuple and input interface, by the keys of a packet as by the tuple's,
// with what each becomes; another interface, another tuple, or a port
// of the other direction misses.
func TestAddLookup(t *testing.T) {
	tab := newTable(16)
	fs := addConn(t, tab, 5)
	other := addConn(t, tab, 6)
	if n := tab.Len(); n != 2 {
		t.Fatalf("Len %d, want 2", n)
	}
	mustFind(t, tab, &fs, "after add")
	mustFind(t, tab, &other, "after add")

	for d := range fs {
		f := &fs[d]
		pkt := decoded(t, segment(f.key, header.TCPFlagACK), f.in)
		k0, k1 := pktKeys(pkt)
		if w0, w1 := keys(&f.key, f.in); k0 != w0 || k1 != w1 {
			t.Fatalf("direction %d: packet keys %x %x, tuple keys %x %x", d, k0, k1, w0, w1)
		}
		var h hit
		if !tab.lookup(k0, k1, tab.hash(k0, k1), &h) {
			t.Fatalf("direction %d: the packet is not found", d)
		}
		if why := checkHit(&h, f); why != "" {
			t.Fatalf("direction %d by packet: %s", d, why)
		}
		// The same packet on the other interface: for the rules.
		wrong := decoded(t, segment(f.key, header.TCPFlagACK), fs[1-d].in)
		k0, k1 = pktKeys(wrong)
		if tab.lookup(k0, k1, tab.hash(k0, k1), &h) {
			t.Fatalf("direction %d found on interface %d", d, wrong.InIf)
		}
	}

	misses := []struct {
		name string
		tu   conntrack.Tuple
		in   int16
	}{
		{"other source port", conntrack.Tuple{Src: clientAddr(5), Dst: server, SrcPort: 1006, DstPort: 80, Proto: header.ProtoTCP}, lanIf},
		{"other destination", conntrack.Tuple{Src: clientAddr(5), Dst: pubAddr, SrcPort: 1005, DstPort: 80, Proto: header.ProtoTCP}, lanIf},
		{"udp", conntrack.Tuple{Src: clientAddr(5), Dst: server, SrcPort: 1005, DstPort: 80, Proto: header.ProtoUDP}, lanIf},
		{"reversed", conntrack.Tuple{Src: server, Dst: clientAddr(5), SrcPort: 80, DstPort: 1005, Proto: header.ProtoTCP}, wanIf},
		{"no interface", fs[0].key, packet.NoIf},
	}
	for _, tt := range misses {
		t.Run(tt.name, func(t *testing.T) {
			f := flow{key: tt.tu}
			if h, ok := find(tab, &f, tt.in); ok {
				t.Fatalf("found ref %x", h.ref)
			}
		})
	}

	removeConn(tab, &fs)
	mustMiss(t, tab, &fs, "after remove")
	mustFind(t, tab, &other, "the other after remove")
	if n := tab.Len(); n != 1 {
		t.Fatalf("Len %d after a remove, want 1", n)
	}
	// Removing it again, or with another generation, does nothing.
	removeConn(tab, &fs)
	stale := other
	stale[0].gen++
	stale[1].gen++
	removeConn(tab, &stale)
	mustFind(t, tab, &other, "after a stale remove")
	if n := tab.Len(); n != 1 {
		t.Fatalf("Len %d after stale removes, want 1", n)
	}
}

// TestFreeListFIFO: removed entries are reused oldest first.
func TestFreeListFIFO(t *testing.T) {
	tab := newTable(16)
	a, b, c := addConn(t, tab, 1), addConn(t, tab, 2), addConn(t, tab, 3)
	entries := func(fs *[2]flow) [2]*entry {
		var es [2]*entry
		for d := range fs {
			h, ok := find(tab, &fs[d], fs[d].in)
			if !ok {
				t.Fatalf("%v not found", fs[d].key)
			}
			es[d] = h.entry()
		}
		return es
	}
	ea, eb := entries(&a), entries(&b)
	removeConn(tab, &a)
	removeConn(tab, &b)
	made := tab.n
	d := addConn(t, tab, 4)
	if got := entries(&d); got != ea {
		t.Fatalf("the next connection took %p %p, want the first freed %p %p", got[0], got[1], ea[0], ea[1])
	}
	e := addConn(t, tab, 5)
	if got := entries(&e); got != eb {
		t.Fatalf("the one after took %p %p, want the next freed %p %p", got[0], got[1], eb[0], eb[1])
	}
	if tab.n != made {
		t.Fatalf("%d entries made, want %d: the freed ones were not reused", tab.n, made)
	}
	mustFind(t, tab, &c, "c")
	mustFind(t, tab, &d, "d")
	mustFind(t, tab, &e, "e")
	mustMiss(t, tab, &a, "a")
	mustMiss(t, tab, &b, "b")
}

// TestCollisions: in a table of two buckets, long chains; any connection
// removed from the middle of one leaves the others found, with their own
// data, and a new connection takes its entries.
func TestCollisions(t *testing.T) {
	const n = 12
	tab := withBuckets(n+1, 2)
	var conns [n][2]flow
	for i := range conns {
		conns[i] = addConn(t, tab, i)
	}
	for i := range conns {
		mustFind(t, tab, &conns[i], "added")
	}
	gone := map[int]bool{}
	for _, i := range []int{5, 0, 11, 6} { // middle, tail, head, middle
		removeConn(tab, &conns[i])
		gone[i] = true
		for j := range conns {
			if gone[j] {
				mustMiss(t, tab, &conns[j], "removed")
			} else {
				mustFind(t, tab, &conns[j], "kept")
			}
		}
	}
	if l := tab.Len(); l != n-len(gone) {
		t.Fatalf("Len %d, want %d", l, n-len(gone))
	}
	// Three new connections take six of the eight freed entries.
	for i := range 3 {
		f := addConn(t, tab, 100+i)
		mustFind(t, tab, &f, "new")
	}
	for j := range conns {
		if !gone[j] {
			mustFind(t, tab, &conns[j], "kept after adds")
		}
	}
	if tab.n != 2*n {
		t.Fatalf("%d entries made, want %d", tab.n, 2*n)
	}
}

// TestFull: a full table refuses a connection whole, and takes one again
// once one leaves.
func TestFull(t *testing.T) {
	tab := newTable(3)
	var conns [3][2]flow
	for i := range conns {
		conns[i] = addConn(t, tab, i)
	}
	extra := ends(9)
	if tab.add(&extra) {
		t.Fatal("add into a full table succeeded")
	}
	if n := tab.Len(); n != 3 {
		t.Fatalf("Len %d after a refused add, want 3", n)
	}
	if tab.live != 6 {
		t.Fatalf("%d live entries after a refused add, want 6", tab.live)
	}
	mustMiss(t, tab, &extra, "refused")
	for i := range conns {
		mustFind(t, tab, &conns[i], "after a refused add")
	}
	removeConn(tab, &conns[1])
	if !tab.add(&extra) {
		t.Fatal("add after a remove failed")
	}
	mustFind(t, tab, &extra, "added after a remove")
}

// connOf runs a UDP exchange through a conntrack table and returns its
// connection, answered and so fit for offload.
func connOf(t *testing.T, ct *conntrack.Table, n int) *conntrack.Conn {
	t.Helper()
	udp := func(src, dst [4]byte, sp, dp uint16) *packet.Packet {
		b := make([]byte, header.IPv4MinSize+header.UDPSize+4)
		header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
		u := header.UDP(b[header.IPv4MinSize:])
		u.Encode(sp, dp, uint16(header.UDPSize+4))
		u.SetChecksum(u.CalculateChecksum(src, dst))
		pkt := decoded(t, b, lanIf)
		pkt.Hook = packet.Prerouting
		if ct.Track(pkt) != pipeline.Continue || ct.Confirm(pkt) != pipeline.Continue {
			t.Fatalf("conntrack dropped %v", pkt.Drop)
		}
		return pkt
	}
	cli, port := clientAddr(n), uint16(2000+n)
	p := udp(cli, server, port, 53)
	udp(server, cli, 53, port)
	c, ok := p.CT.(*conntrack.Conn)
	if !ok || !c.Confirmed() {
		t.Fatal("no confirmed connection")
	}
	return c
}

// flowsOf is what Stage.Offload puts in the table for c, without NAT.
func flowsOf(c *conntrack.Conn) [2]flow {
	ts := c.Tuples()
	var fs [2]flow
	for d := range 2 {
		o := &ts[1-d]
		to := conntrack.Tuple{Src: o.Dst, Dst: o.Src, SrcPort: o.DstPort, DstPort: o.SrcPort, Proto: ts[d].Proto}
		fs[d] = flow{key: ts[d], in: int16(lanIf + d), out: int16(wanIf - d), to: to, nextHop: to.Dst, mtu: 1500,
			ref: c.Ref(), gen: c.Gen(), dir: d}
	}
	return fs
}

// TestEvictPending: a real connection's entries count what hits add,
// Pending reports it, Evict takes both entries out and returns it, and
// conntrack evicts when the connection goes.
func TestEvictPending(t *testing.T) {
	ct := conntrack.NewTable(conntrack.NewConfig(config.Default()), pipeline.NewVirtual(time.Unix(1_700_000_000, 0)))
	tab := newTable(8)
	ct.SetFlowTable(tab)
	c, keep := connOf(t, ct, 1), connOf(t, ct, 2)
	fs, fk := flowsOf(c), flowsOf(keep)
	for _, x := range []struct {
		c  *conntrack.Conn
		fs *[2]flow
	}{{c, &fs}, {keep, &fk}} {
		if !ct.Offload(x.c, func(*conntrack.Conn) bool { return tab.add(x.fs) }) {
			t.Fatal("not offloaded")
		}
	}
	mustFind(t, tab, &fs, "offloaded")
	for d, n := range [2]uint64{3, 5} {
		h, _ := find(tab, &fs[d], fs[d].in)
		// Two workers' stripes (one and the same with one stripe).
		h.stat(0, tab).packets.Add(n - 1)
		h.stat(0, tab).bytes.Add(100 * (n - 1))
		h.stat(1, tab).packets.Add(1)
		h.stat(1, tab).bytes.Add(100)
	}
	if p, b := tab.Pending(c); p != [2]uint64{3, 5} || b != [2]uint64{300, 500} {
		t.Fatalf("Pending %v %v, want [3 5] [300 500]", p, b)
	}
	if p, b := tab.Pending(keep); p != [2]uint64{} || b != [2]uint64{} {
		t.Fatalf("Pending of the other connection %v %v", p, b)
	}
	if p, b := tab.Evict(c); p != [2]uint64{3, 5} || b != [2]uint64{300, 500} {
		t.Fatalf("Evict %v %v, want [3 5] [300 500]", p, b)
	}
	mustMiss(t, tab, &fs, "evicted")
	mustFind(t, tab, &fk, "the other")
	if n := tab.Len(); n != 1 {
		t.Fatalf("Len %d after Evict, want 1", n)
	}
	if p, b := tab.Evict(c); p != [2]uint64{} || b != [2]uint64{} {
		t.Fatalf("a second Evict returned %v %v", p, b)
	}
	// conntrack's Kill evicts an offloaded connection.
	if !ct.Kill(keep, keep.Gen()) {
		t.Fatal("Kill failed")
	}
	mustMiss(t, tab, &fk, "killed")
	if n := tab.Len(); n != 0 {
		t.Fatalf("Len %d after Kill, want 0", n)
	}
}

// TestLookupNoAlloc: a lookup, hit or miss, allocates nothing.
func TestLookupNoAlloc(t *testing.T) {
	tab := newTable(64)
	for i := range 50 {
		addConn(t, tab, i)
	}
	f := ends(7)
	k0, k1 := keys(&f[1].key, f[1].in)
	h := tab.hash(k0, k1)
	m0, m1 := keys(&f[1].key, lanIf)
	mh := tab.hash(m0, m1)
	var out hit
	wrong := 0
	n := testing.AllocsPerRun(1000, func() {
		if !tab.lookup(k0, k1, h, &out) || tab.lookup(m0, m1, mh, &out) {
			wrong++
		}
	})
	if wrong != 0 {
		t.Fatalf("%d lookups missed the connection or found it on the wrong interface", wrong)
	}
	if n != 0 {
		t.Fatalf("lookup allocates %v times", n)
	}
}

// TestConcurrentLookup: while a writer removes and adds connections in a
// table of a few buckets (long chains, entries reused at once), readers
// look connections up without a lock. A hit must always carry the data of
// the key looked up, never another connection's or a half-written
// entry's. Run it under -race.
func TestConcurrentLookup(t *testing.T) {
	// Connection numbers wrap at numbers, under which ends gives each
	// its own ports.
	const live, numbers = 40, 40000
	tab := withBuckets(live+4, 8)
	var (
		conns = map[int]bool{} // the writer's
		top   atomic.Int64     // highest connection number made
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for i := range live + 2 {
		addConn(t, tab, i)
		conns[i] = true
	}
	top.Store(live + 1)
	// Two connections go first, so that from then on each removal
	// precedes the add that reuses its entries: the free list keeps four
	// or six entries.
	for _, i := range []int{0, 1} {
		fs := ends(i)
		removeConn(tab, &fs)
		delete(conns, i)
	}
	var hits, misses, writes atomic.Int64
	errs := make(chan string, 2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			var h hit
			for !stop.Load() {
				n := (int(top.Load()) - rng.IntN(live+8) + numbers) % numbers
				fs := ends(n)
				d := rng.IntN(2)
				k0, k1 := keys(&fs[d].key, fs[d].in)
				if !tab.lookup(k0, k1, tab.hash(k0, k1), &h) {
					misses.Add(1)
					continue
				}
				hits.Add(1)
				if why := checkHit(&h, &fs[d]); why != "" {
					errs <- fmt.Sprintf("connection %d direction %d: %s", n, d, why)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(700 * time.Millisecond)
		for time.Now().Before(deadline) {
			// Remove a live connection (the map's order is random),
			// then add a new one.
			victim := -1
			for k := range conns {
				victim = k
				break
			}
			delete(conns, victim)
			n := (int(top.Load()) + 1) % numbers
			for conns[n] {
				n = (n + 1) % numbers
			}
			conns[n] = true
			fs := ends(victim)
			removeConn(tab, &fs)
			nf := ends(n)
			if !tab.add(&nf) {
				errs <- "add failed"
				break
			}
			top.Store(int64(n))
			writes.Add(1)
		}
		stop.Store(true)
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if hits.Load() == 0 || writes.Load() < 100 {
		t.Fatalf("%d hits, %d misses, %d writes: the test did not run", hits.Load(), misses.Load(), writes.Load())
	}
	if n := tab.Len(); n != live {
		t.Fatalf("Len %d, want %d", n, live)
	}
	// At rest every live connection is found.
	for n := range conns {
		fs := ends(n)
		mustFind(t, tab, &fs, "at rest")
	}
	t.Logf("%d hits, %d misses, %d writes", hits.Load(), misses.Load(), writes.Load())
}

// TestFreeListLastEntry: the free list's last entry still links into its
// old chain (readers may be on it); taking it must not follow that link,
// or the next add overwrites a live entry and makes the chain a cycle.
func TestFreeListLastEntry(t *testing.T) {
	tab := withBuckets(4, 1) // one chain
	a := addConn(t, tab, 1)  // entries 0, 1
	b := addConn(t, tab, 2)  // entries 2, 3; chain 3 2 1 0
	removeConn(tab, &b)      // free list 2 3; entry 3 still links to entry 1
	c := addConn(t, tab, 3)  // takes 2 and 3
	mustFind(t, tab, &a, "a after c")
	d := addConn(t, tab, 4)
	mustFind(t, tab, &c, "c")
	mustFind(t, tab, &d, "d")
	mustFind(t, tab, &a, "a after d")
	if tab.n != 6 {
		t.Fatalf("%d entries made, want 6", tab.n)
	}
	removeConn(tab, &a)
	mustMiss(t, tab, &a, "a removed")
	mustFind(t, tab, &d, "d after a's removal")
}
