package nfqueue_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/netio/nfqueue"
	"fwd/netio/steer"
	"fwd/netio/steer/nstest"
	"fwd/packet"
)

// lab is a namespace with 192.168.250.1/24 on lo, steering of
// its OUTPUT hook to queue 0, a UDP listener on 192.168.250.1:9999 and a
// sender. Traffic stays inside the namespace.
type lab struct {
	ns   *nstest.NS
	st   *steer.Steering
	ln   *net.UDPConn
	tx   *net.UDPConn
	port int
}

const labAddr = "192.168.250.1"

func newLab(t testing.TB, spec steer.Spec) *lab {
	t.Helper()
	ns := nstest.New(t)
	ns.MustExec(t, "ip", "addr", "add", labAddr+"/24", "dev", "lo")
	l := &lab{ns: ns}
	err := ns.Do(func() error {
		var err error
		if l.ln, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(labAddr), Port: 9999}); err != nil {
			return err
		}
		l.tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(labAddr), Port: 9999})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.ln.Close(); l.tx.Close() })
	spec.NetNS = ns.FD()
	if spec.Hooks == 0 {
		spec.Hooks = packet.Output.Mask()
	}
	if l.st, err = steer.Install(spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.st.Remove(); err != nil {
			t.Errorf("steer remove: %v", err)
		}
	})
	return l
}

func (l *lab) open(t testing.TB, opts nfqueue.Options) *nfqueue.Queue {
	t.Helper()
	opts.NetNS = l.ns.FD()
	q, err := nfqueue.Open(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func (l *lab) send(t testing.TB, msg string) {
	t.Helper()
	if _, err := l.tx.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// recv returns the datagrams the listener gets within d.
func (l *lab) recv(d time.Duration, max int) []string {
	var got []string
	buf := make([]byte, 2048)
	deadline := time.Now().Add(d)
	for len(got) < max {
		l.ln.SetReadDeadline(deadline)
		n, _, err := l.ln.ReadFromUDP(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

// read reads until want packets arrived or a few seconds passed.
func read(t testing.TB, q *nfqueue.Queue, want int) []nfqueue.Msg {
	t.Helper()
	msgs := make([]nfqueue.Msg, 64)
	var out []nfqueue.Msg
	q.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer q.SetReadDeadline(time.Time{})
	for len(out) < want {
		n, err := q.ReadBatch(msgs)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d: %v", len(out), want, err)
		}
		for _, m := range msgs[:n] {
			m.Payload = append([]byte(nil), m.Payload...)
			out = append(out, m)
		}
	}
	return out
}

func udpPayload(t testing.TB, b []byte) (*layers.IPv4, *layers.UDP) {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip == nil || udp == nil {
		t.Fatalf("not IPv4/UDP: %v", p)
	}
	return ip, udp
}

// rewrite returns the datagram with the UDP payload replaced (same
// length: recent kernels refuse a total length that differs from the
// packet's... only when it is inconsistent; any consistent one is fine).
func rewrite(t testing.TB, b []byte, payload []byte) []byte {
	ip, udp := udpPayload(t, b)
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(payload))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAcceptRewritten(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{MaxLen: 128})
	l.send(t, "hello, world")
	m := read(t, q, 1)[0]
	if m.Hook != nfqueue.HookOutput || m.PacketHook() != packet.Output {
		t.Errorf("hook %d (%s), want output", m.Hook, m.PacketHook())
	}
	if m.ID == 0 || m.HWProtocol != 0x0800 || m.Family != 2 {
		t.Errorf("id %d hwproto %#x family %d", m.ID, m.HWProtocol, m.Family)
	}
	if m.OutDev == 0 || m.InDev != 0 {
		t.Errorf("indev %d outdev %d; want output device only", m.InDev, m.OutDev)
	}
	ip, udp := udpPayload(t, m.Payload)
	if string(udp.Payload) != "hello, world" || ip.DstIP.String() != labAddr || udp.DstPort != 9999 {
		t.Fatalf("payload %q to %v:%d", udp.Payload, ip.DstIP, udp.DstPort)
	}
	mark := uint32(0x2a)
	if err := q.Verdict(m.ID, nfqueue.Accept, &mark, rewrite(t, m.Payload, []byte("HELLO, WORLD, longer"))); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	got := l.recv(2*time.Second, 1)
	if len(got) != 1 || got[0] != "HELLO, WORLD, longer" {
		t.Fatalf("listener got %q, want the rewritten datagram", got)
	}
	st := q.Stats()
	if st.Received != 1 || st.Verdicts != 1 || st.VerdictMsgs != 1 || st.Errors != 0 || q.Outstanding() != 0 {
		t.Errorf("stats %+v outstanding %d", st, q.Outstanding())
	}
}

func TestDrop(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	l.send(t, "drop me")
	l.send(t, "keep me")
	ms := read(t, q, 2)
	q.Verdict(ms[0].ID, nfqueue.Drop, nil, nil)
	q.Verdict(ms[1].ID, nfqueue.Accept, nil, nil)
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(500*time.Millisecond, 2); len(got) != 1 || got[0] != "keep me" {
		t.Fatalf("listener got %q, want only the accepted datagram", got)
	}
}

func TestBatchVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		order     func(n int) []int // order of verdicts, as indexes into the read packets
		wantBatch bool
	}{
		{name: "in order", order: func(n int) []int { return seq(n) }, wantBatch: true},
		{name: "reversed", order: func(n int) []int { s := seq(n); reverse(s); return s }, wantBatch: true},
		{name: "first last", order: func(n int) []int { s := seq(n); s[0], s[n-1] = s[n-1], s[0]; return s }, wantBatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, steer.Spec{})
			q := l.open(t, nfqueue.Options{})
			const n = 40
			for i := range n {
				l.send(t, fmt.Sprintf("m%02d", i))
			}
			ms := read(t, q, n)
			for i := 1; i < n; i++ {
				if ms[i].ID != ms[i-1].ID+1 {
					t.Fatalf("ids not consecutive: %d then %d", ms[i-1].ID, ms[i].ID)
				}
			}
			for _, i := range tc.order(n) {
				if err := q.Verdict(ms[i].ID, nfqueue.Accept, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Flush(); err != nil {
				t.Fatal(err)
			}
			got := l.recv(2*time.Second, n)
			if len(got) != n {
				t.Fatalf("listener got %d of %d", len(got), n)
			}
			// Error replies (a batch that swept an id later named again)
			// would show up here.
			q.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			q.ReadBatch(make([]nfqueue.Msg, 4))
			st := q.Stats()
			t.Logf("%+v", st)
			if st.Verdicts != n || st.Errors != 0 || q.Outstanding() != 0 {
				t.Errorf("verdicts %d errors %d (errno %d) outstanding %d", st.Verdicts, st.Errors, st.LastErrno, q.Outstanding())
			}
			if tc.wantBatch != (st.BatchMsgs > 0) {
				t.Errorf("batch messages %d, want batching %v", st.BatchMsgs, tc.wantBatch)
			}
			if st.VerdictMsgs != 1 {
				t.Errorf("verdicts took %d messages, want 1 batch", st.VerdictMsgs)
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func reverse(s []int) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func TestRepeatQueuesAgain(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	l.send(t, "again")
	m := read(t, q, 1)[0]
	q.Verdict(m.ID, nfqueue.Repeat, nil, nil)
	q.Flush()
	m2 := read(t, q, 1)[0]
	if m2.ID == m.ID || !bytes.Equal(m2.Payload, m.Payload) {
		t.Fatalf("repeat: id %d -> %d, same payload %v", m.ID, m2.ID, bytes.Equal(m2.Payload, m.Payload))
	}
	q.Verdict(m2.ID, nfqueue.Accept, nil, nil)
	q.Flush()
	if got := l.recv(2*time.Second, 1); len(got) != 1 {
		t.Fatalf("listener got %q", got)
	}
}

func TestUnknownIDCounted(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	q.Verdict(12345, nfqueue.Accept, nil, nil)
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	q.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := q.ReadBatch(make([]nfqueue.Msg, 4))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadBatch: %v, want a deadline error (error replies are counted, not returned)", err)
	}
	if st := q.Stats(); st.Errors != 1 || st.LastErrno != 2 /* ENOENT */ {
		t.Errorf("stats %+v, want one ENOENT", st)
	}
}

func TestFailOpenAndClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bypass bool
		want   int
	}{
		{name: "bypass passes", bypass: true, want: 1},
		{name: "no bypass drops", bypass: false, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, steer.Spec{Bypass: tc.bypass})
			// Nobody is bound to the queue.
			l.send(t, "anyone?")
			if got := l.recv(500*time.Millisecond, 1); len(got) != tc.want {
				t.Fatalf("listener got %q, want %d datagrams", got, tc.want)
			}
		})
	}
}

func TestQueueFullFailOpen(t *testing.T) {
	// MaxLen 2 and NFQA_CFG_F_FAIL_OPEN: packets beyond the queue length
	// pass without us.
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{MaxLen: 2, FailOpen: true})
	for i := range 5 {
		l.send(t, fmt.Sprint(i))
	}
	if got := l.recv(time.Second, 5); len(got) != 3 {
		t.Fatalf("listener got %q, want the 3 datagrams beyond the queue length", got)
	}
	ms := read(t, q, 2)
	for _, m := range ms {
		q.Verdict(m.ID, nfqueue.Accept, nil, nil)
	}
	q.Flush()
	if got := l.recv(time.Second, 2); len(got) != 2 {
		t.Fatalf("listener got %q after the verdicts", got)
	}
}

func TestBusyQueue(t *testing.T) {
	l := newLab(t, steer.Spec{})
	l.open(t, nfqueue.Options{})
	_, err := nfqueue.Open(0, nfqueue.Options{NetNS: l.ns.FD()})
	if err == nil || !strings.Contains(err.Error(), "busy") && !strings.Contains(err.Error(), "not permitted") {
		t.Fatalf("second Open of a bound queue: %v, want EBUSY/EPERM", err)
	}
}

func TestCloseUnblocks(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := q.ReadBatch(make([]nfqueue.Msg, 4))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, nfqueue.ErrClosed) {
			t.Errorf("ReadBatch after Close: %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ReadBatch still blocked after Close")
	}
	// The queue is unbound: a new Open succeeds.
	q2, err := nfqueue.Open(0, nfqueue.Options{NetNS: l.ns.FD()})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	q2.Close()
}

// TestBatchNeverSweepsOthers gives verdicts to all packets but one, with
// mixed verdicts and a payload among them, then the held one: a batch
// verdict must not have covered the held packet or a dropped one.
func TestBatchNeverSweepsOthers(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	const n = 30
	for i := range n {
		l.send(t, fmt.Sprintf("m%02d", i))
	}
	ms := read(t, q, n)
	verdict := func(i int) nfqueue.Verdict {
		if i == 12 || i == 13 || i == 25 {
			return nfqueue.Drop
		}
		return nfqueue.Accept
	}
	const held = 5
	for i := range n {
		if i == held {
			continue
		}
		var pay []byte
		if i == 20 {
			pay = rewrite(t, ms[i].Payload, []byte("R20"))
		}
		q.Verdict(ms[i].ID, verdict(i), nil, pay)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	got := l.recv(time.Second, n)
	want := []string{}
	for i := range n {
		switch {
		case i == held || verdict(i) == nfqueue.Drop:
		case i == 20:
			want = append(want, "R20")
		default:
			want = append(want, fmt.Sprintf("m%02d", i))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("delivered\n%q\nwant\n%q", got, want)
	}
	if q.Outstanding() != 1 {
		t.Errorf("outstanding %d, want the held packet", q.Outstanding())
	}
	q.Verdict(ms[held].ID, nfqueue.Accept, nil, nil)
	q.Flush()
	if got := l.recv(time.Second, 1); len(got) != 1 || got[0] != fmt.Sprintf("m%02d", held) {
		t.Fatalf("held packet: got %q", got)
	}
	q.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	q.ReadBatch(make([]nfqueue.Msg, 4))
	st := q.Stats()
	t.Logf("%+v", st)
	if st.Errors != 0 || st.Verdicts != n || st.BatchMsgs == 0 {
		t.Errorf("stats %+v: want no errors, %d verdicts, some batching", st, n)
	}
}

// TestMarkVerdict sets a mark with the verdict and sees it in a rule of
// the test's own table (postrouting counter on meta mark).
func TestMarkVerdict(t *testing.T) {
	l := newLab(t, steer.Spec{})
	l.ns.MustExec(t, "nft", "add table ip marktest")
	l.ns.MustExec(t, "nft", "add chain ip marktest post { type filter hook postrouting priority 0; }")
	l.ns.MustExec(t, "nft", "add rule ip marktest post meta mark 0x2a udp dport 9999 counter")
	q := l.open(t, nfqueue.Options{})
	l.send(t, "mark me")
	l.send(t, "not me")
	ms := read(t, q, 2)
	mark := uint32(0x2a)
	q.Verdict(ms[0].ID, nfqueue.Accept, &mark, nil)
	q.Verdict(ms[1].ID, nfqueue.Accept, nil, nil)
	q.Flush()
	if got := l.recv(time.Second, 2); len(got) != 2 {
		t.Fatalf("listener got %q", got)
	}
	out := l.ns.MustExec(t, "nft", "list", "table", "ip", "marktest")
	if !strings.Contains(out, "counter packets 1 ") {
		t.Errorf("want exactly one packet with mark 0x2a:\n%s", out)
	}
}

// TestQueueBalanceSymmetric steers to two queues: both directions of a
// flow (addresses swapped) must reach the same queue.
func TestQueueBalanceSymmetric(t *testing.T) {
	l := newLab(t, steer.Spec{Queue: 0, Queues: 2})
	q0 := l.open(t, nfqueue.Options{})
	q1, err := nfqueue.Open(1, nfqueue.Options{NetNS: l.ns.FD()})
	if err != nil {
		t.Fatal(err)
	}
	defer q1.Close()
	// Pairs 192.168.250.1 <-> 192.168.250.N, both ways.
	type pair struct{ a, b string }
	var pairs []pair
	for i := 2; i < 10; i++ {
		b := fmt.Sprintf("192.168.250.%d", i)
		l.ns.MustExec(t, "ip", "addr", "add", b+"/32", "dev", "lo")
		pairs = append(pairs, pair{labAddr, b}, pair{b, labAddr})
	}
	for _, p := range pairs {
		err := l.ns.Do(func() error {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(p.a)}, &net.UDPAddr{IP: net.ParseIP(p.b), Port: 7})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte(p.a + ">" + p.b))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queueOf := map[string]int{} // "a>b" -> queue
	for qi, q := range []*nfqueue.Queue{q0, q1} {
		q.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		msgs := make([]nfqueue.Msg, 64)
		for {
			n, err := q.ReadBatch(msgs)
			if err != nil {
				break
			}
			for _, m := range msgs[:n] {
				ip, udp := udpPayload(t, m.Payload)
				_ = ip
				queueOf[string(udp.Payload)] = qi
				q.Verdict(m.ID, nfqueue.Drop, nil, nil)
			}
			q.Flush()
		}
	}
	if len(queueOf) != len(pairs) {
		t.Fatalf("saw %d of %d datagrams", len(queueOf), len(pairs))
	}
	used := map[int]bool{}
	for _, p := range pairs {
		f, r := queueOf[p.a+">"+p.b], queueOf[p.b+">"+p.a]
		if f != r {
			t.Errorf("%s<->%s: directions on queues %d and %d", p.a, p.b, f, r)
		}
		used[f] = true
	}
	if len(used) != 2 {
		t.Errorf("8 address pairs all hashed to one queue: %v", used)
	}
}

// TestENOBUFSRecovered overruns a tiny socket buffer: the overrun is
// counted and the queue keeps working.
func TestENOBUFSRecovered(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{ReadBuffer: 4096, MaxLen: 1000})
	l.tx.SetWriteBuffer(4 << 20)
	for i := range 100 {
		l.send(t, fmt.Sprintf("flood %d", i))
	}
	// Whatever arrived gets its verdict; the rest was lost to the overrun.
	q.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	msgs := make([]nfqueue.Msg, 64)
	got := 0
	for {
		n, err := q.ReadBatch(msgs)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
		for _, m := range msgs[:n] {
			q.Verdict(m.ID, nfqueue.Accept, nil, nil)
		}
		got += n
	}
	q.Flush()
	st := q.Stats()
	t.Logf("read %d of 100, %+v", got, st)
	if st.ENOBUFS == 0 || got == 100 {
		t.Fatalf("no overrun with a 4 KiB buffer: read %d, %+v", got, st)
	}
	l.recv(500*time.Millisecond, 100) // drain
	l.send(t, "after")
	m := read(t, q, 1)[0]
	_, udp := udpPayload(t, m.Payload)
	if string(udp.Payload) != "after" {
		t.Fatalf("after the overrun read %q", udp.Payload)
	}
	q.Verdict(m.ID, nfqueue.Accept, nil, nil)
	q.Flush()
	if got := l.recv(time.Second, 1); len(got) != 1 || got[0] != "after" {
		t.Fatalf("listener got %q after the overrun", got)
	}
}
