package tap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"

	"golang.org/x/sys/unix"
)

// needRoot skips a test that needs root (CI runs as root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for TAP devices and network namespaces (CI runs as root)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Fatalf("running as root but /dev/net/tun is missing: %v", err)
	}
}

func uniq(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns makes a namespace removed at cleanup, also when the test fails.
func newNetns(t *testing.T) string {
	t.Helper()
	ns := "fwdt-" + uniq(t)
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", ns, err, out)
		}
	})
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

func nsExists(ns string) bool {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == ns {
			return true
		}
	}
	return false
}

func linkExists(ns, name string) bool {
	args := []string{"link", "show", "dev", name}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return exec.Command("ip", args...).Run() == nil
}

// routerLoop answers ARP and ICMP echo on dev with the router package, as
// fwd's TAP dataplane does, until dev is closed.
type routerLoop struct {
	dev   *Device
	ifc   router.Iface
	arp   *router.ARP
	local *router.LocalStage
	clock pipeline.Clock

	mu      sync.Mutex // serialises writes (ARP transmits come from Resolve on the loop and Tick)
	echoes  int
	readErr error
	done    chan struct{}
}

const testOff = packet.Headroom - header.EthernetMinSize

func newRouterLoop(t *testing.T, dev *Device, addr string) *routerLoop {
	t.Helper()
	l := &routerLoop{dev: dev, clock: pipeline.WallClock{}, done: make(chan struct{})}
	l.ifc = router.NewIface(0, "lan0", [6]byte{0x02, 0xf0, 0xd0, 0, 0, 1}, netip.MustParsePrefix(addr), 1500)
	l.arp = router.NewARP([]router.Iface{l.ifc}, router.ARPConfig{Transmit: func(_ int, frame []byte) { l.writeFrame(frame) }})
	l.local = routerLocalStage(t, addr)
	return l
}

func (l *routerLoop) writeFrame(frame []byte) {
	b := make([]byte, testOff+len(frame))
	copy(b[testOff:], frame)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dev.Write([][]byte{b}, testOff)
}

func (l *routerLoop) start() {
	go func() {
		defer close(l.done)
		bufs := make([][]byte, l.dev.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, packet.Headroom+packet.MaxSize)
		}
		sizes := make([]int, len(bufs))
		for {
			n, err := l.dev.Read(bufs, sizes, testOff)
			if err != nil {
				l.readErr = err
				return
			}
			for i := 0; i < n; i++ {
				l.handle(bufs[i][testOff : testOff+sizes[i]])
			}
			l.arp.Tick(l.clock.Now())
		}
	}()
}

func (l *routerLoop) handle(frame []byte) {
	eth := header.Ethernet(frame)
	if eth.Validate() != header.ReasonNone {
		return
	}
	now := l.clock.Now()
	switch eth.EtherType() {
	case header.EtherTypeARP:
		if r := l.arp.Input(0, frame, now); r != nil {
			l.writeFrame(r)
		}
	case header.EtherTypeIPv4:
		p := packet.New(eth.Payload())
		if p.Parsed.Decode(p.Data) == 0 || p.Parsed.Dst != l.ifc.IP() {
			return
		}
		p.Data = p.Data[:p.Parsed.Length]
		p.InIf, p.Hook = 0, packet.Input
		if l.local.Process(p) != pipeline.Accept {
			return
		}
		mac, ok := l.arp.Resolve(0, p.Parsed.Dst, now)
		if !ok {
			return // the kernel retries; the test needs no hold queue
		}
		out := make([]byte, testOff+header.EthernetMinSize+len(p.Data))
		router.Encap(out[testOff:], l.ifc.MAC, mac, header.EtherTypeIPv4)
		copy(out[testOff+header.EthernetMinSize:], p.Data)
		l.mu.Lock()
		l.echoes++
		l.dev.Write([][]byte{out}, testOff)
		l.mu.Unlock()
	}
}

func routerLocalStage(t *testing.T, addr string) *router.LocalStage {
	t.Helper()
	m, err := pipeline.New("stage.local")
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*router.LocalStage)
	cfg := testConfig(addr)
	if err := s.Provision(&pipeline.Context{Env: &pipeline.Env{Config: cfg}, Hook: packet.Input}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTAPPingFromNamespace moves a TAP into a namespace, gives the kernel
// there an address, and pings the router code on the other end of the TAP:
// ARP both ways and three echoes must succeed, with and without
// IFF_VNET_HDR. Afterwards the device and the namespace are gone.
func TestTAPPingFromNamespace(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatal("ping is missing: install iputils-ping (scripts/packages.txt)")
	}
	for _, vnet := range []bool{false, true} {
		name := "plain"
		if vnet {
			name = "vnet"
		}
		var ns, dev string
		t.Run(name, func(t *testing.T) {
			ns = newNetns(t)
			dev = "fwdt" + uniq(t)
			d, err := Open(Config{Name: dev, MTU: 1500, VnetHdr: vnet, Netns: ns})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			if !d.Created() {
				t.Fatal("Open attached to an existing device")
			}
			if linkExists("", dev) || !linkExists(ns, dev) {
				t.Fatal("device not moved into the namespace")
			}
			mtu, _, err := d.Link()
			if err != nil || mtu != 1500 {
				t.Fatalf("Link() = %d, %v", mtu, err)
			}
			run(t, "ip", "-n", ns, "addr", "add", "192.168.77.10/24", "dev", dev)
			if out := run(t, "ip", "-n", ns, "link", "show", "dev", dev); !strings.Contains(out, "UP") {
				t.Fatalf("device not up in the namespace: %s", out)
			}
			l := newRouterLoop(t, d, "192.168.77.1/24")
			l.start()
			l.arp.Announce(l.clock.Now())
			out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.77.1").CombinedOutput()
			if err != nil {
				t.Fatalf("ping from the namespace failed: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "3 received") {
				t.Fatalf("ping output: %s", out)
			}
			// The kernel learned fwd's MAC.
			neigh := run(t, "ip", "-n", ns, "neigh", "show", "192.168.77.1")
			if !strings.Contains(neigh, "02:f0:d0:00:00:01") {
				t.Fatalf("namespace neighbour table: %q", neigh)
			}
			// And fwd learned the host's.
			found := false
			for _, e := range l.arp.Entries() {
				found = found || e.IP == [4]byte{192, 168, 77, 10}
			}
			if !found {
				t.Fatalf("router did not learn the host: %+v", l.arp.Entries())
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-l.done:
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock Read")
			}
			if !errors.Is(l.readErr, os.ErrClosed) {
				t.Errorf("Read after Close: %v", l.readErr)
			}
			if linkExists(ns, dev) {
				t.Fatal("device still there after Close")
			}
		})
		if nsExists(ns) {
			t.Fatalf("namespace %s left behind", ns)
		}
	}
}

// TestTAPBridgeMultiQueueAttach adds a multi-queue TAP to a bridge, checks
// both queues carry frames, and that attaching to a persistent device
// leaves it in place at Close.
func TestTAPBridgeMultiQueueAttach(t *testing.T) {
	needRoot(t)
	ns := newNetns(t)
	fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Build everything inside the namespace: a bridge there, and the TAP
	// created in the root namespace, moved by fd, then bridged.
	br := "fwdbr" + uniq(t)
	run(t, "ip", "-n", ns, "link", "add", br, "type", "bridge")
	dev := "fwdt" + uniq(t)
	d, err := Open(Config{Name: dev, Queues: 2, MAC: [6]byte{0x02, 1, 2, 3, 4, 5}, MTU: 1400})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if len(d.Queues()) != 2 {
		t.Fatalf("%d queues", len(d.Queues()))
	}
	if err := d.MoveToNetns(fd); err != nil {
		t.Fatal(err)
	}
	if err := d.AddToBridge(br); err != nil {
		t.Fatal(err)
	}
	out := run(t, "ip", "-n", ns, "-d", "link", "show", "dev", dev)
	for _, want := range []string{"master " + br, "02:01:02:03:04:05", "mtu 1400", "multi_queue"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip link show lacks %q:\n%s", want, out)
		}
	}
	// Both queues write: the frames arrive (the bridge counts them).
	frame := make([]byte, testOff+60)
	header.EncodeEthernet(frame[testOff:], header.BroadcastMAC, [6]byte{0x02, 9, 9, 9, 9, 9}, 0x88b5)
	for _, q := range d.Queues() {
		if n, err := q.Write([][]byte{frame, frame}, testOff); n != 2 || err != nil {
			t.Fatalf("queue write: %d %v", n, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if linkExists(ns, dev) {
		t.Fatal("created device survived Close")
	}

	// Attach to a persistent device: it stays after Close.
	pdev := "fwdp" + uniq(t)
	run(t, "ip", "tuntap", "add", "dev", pdev, "mode", "tap")
	t.Cleanup(func() { exec.Command("ip", "link", "del", pdev).Run() })
	p, err := Open(Config{Name: pdev})
	if err != nil {
		t.Fatal(err)
	}
	if p.Created() {
		t.Fatal("attached device reported as created")
	}
	p.Close()
	if !linkExists("", pdev) {
		t.Fatal("Close removed a device fwd did not create")
	}
}

// TestTAPUDPSegmentationOffload has a UDP socket in the namespace send one
// 4000-byte write with UDP_SEGMENT 1000 through a TAP that accepts USO:
// the kernel hands over one GSO super-frame and Read returns the four
// datagrams, checksummed.
func TestTAPUDPSegmentationOffload(t *testing.T) {
	needRoot(t)
	ns := newNetns(t)
	dev := "fwdt" + uniq(t)
	d, err := Open(Config{Name: dev, VnetHdr: true, Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	run(t, "ip", "-n", ns, "addr", "add", "192.168.78.10/24", "dev", dev)
	// A permanent neighbour so the kernel sends without ARP.
	run(t, "ip", "-n", ns, "neigh", "add", "192.168.78.1", "lladdr", "02:00:00:00:00:01", "dev", dev, "nud", "permanent")
	if err := sendUDPGSO(ns, [4]byte{192, 168, 78, 1}, 4000, 1000); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := makeBufs(16, packet.Headroom+packet.MaxSize)
	deadline := time.Now().Add(5 * time.Second)
	var got [][]byte
	for len(got) < 4 && time.Now().Before(deadline) {
		n, err := d.Read(bufs, sizes, testOff)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][testOff : testOff+sizes[i]]
			eth := header.Ethernet(f)
			if eth.EtherType() != header.EtherTypeIPv4 || header.IPv4(eth.Payload()).Protocol() != header.ProtoUDP {
				continue // IPv6 router solicitations and the like
			}
			got = append(got, append([]byte(nil), f...))
		}
	}
	if len(got) != 4 {
		t.Fatalf("got %d UDP frames, want 4", len(got))
	}
	st := &d.Queues()[0].Stats
	t.Logf("gso frames %d, segments %d, csum completed %d", st.GSOFrames.Load(), st.Segments.Load(), st.CsumDone.Load())
	if st.GSOFrames.Load() != 1 || st.Segments.Load() != 4 {
		t.Fatalf("the kernel did not hand over one USO super-frame (Linux >= 6.2 with TUN_F_USO4|TUN_F_USO6): %d frames, %d segments",
			st.GSOFrames.Load(), st.Segments.Load())
	}
	for i, f := range got {
		ip := header.IPv4(f[14:])
		u := header.UDP(ip[20:])
		if u.Length() != 1008 || !u.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress()) ||
			header.Checksum(ip[:20], 0) != 0xffff || f[14+28] != byte(i) {
			t.Fatalf("datagram %d malformed: len %d", i, u.Length())
		}
	}
}

// sendUDPGSO sends one write of size bytes with UDP_SEGMENT seg from a
// socket in namespace ns (payload byte k*seg is k).
func sendUDPGSO(ns string, dst [4]byte, size, seg int) error {
	errc := make(chan error, 1)
	go func() {
		// This thread enters the namespace and is thrown away afterwards.
		runtimeLockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(s)
		if err := unix.SetsockoptInt(s, unix.SOL_UDP, unix.UDP_SEGMENT, seg); err != nil {
			errc <- err
			return
		}
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i / seg)
		}
		errc <- unix.Sendto(s, buf, 0, &unix.SockaddrInet4{Port: 9000, Addr: dst})
	}()
	return <-errc
}

// runtimeLockOSThread pins the goroutine to its thread and never unlocks:
// the thread changed namespace, so the runtime must discard it on exit.
func runtimeLockOSThread() { runtime.LockOSThread() }

func testConfig(addr string) *config.Config {
	cfg := config.Default()
	cfg.Interfaces = []config.Interface{{Index: 0, Name: "lan0", Addr: netip.MustParsePrefix(addr), MTU: 1500}}
	return cfg
}

// inNetns runs fn on a thread that entered namespace ns; sockets fn makes
// live in ns and can be used from any goroutine afterwards.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtimeLockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// relay copies frames from one TAP to another in batches until either is
// closed: a userspace wire.
func relay(from, to *Device) {
	bufs, sizes := makeBufs(from.BatchSize(), packet.Headroom+packet.MaxSize)
	out := make([][]byte, 0, len(bufs))
	for {
		n, err := from.Read(bufs, sizes, testOff)
		if err != nil {
			return
		}
		out = out[:0]
		for i := 0; i < n; i++ {
			out = append(out, bufs[i][:testOff+sizes[i]])
		}
		if _, err := to.Write(out, testOff); err != nil {
			return
		}
	}
}

// TestTAPTCPSegmentationOffload joins two namespaces with two TAPs and a
// userspace wire between them, and moves a TCP stream from one kernel to
// the other. With offloads on the sending side the kernel hands over TSO
// super-frames; Read cuts them into MSS segments, and Write merges runs of
// them again into super-frames for the receiving kernel, which checks
// every checksum — the bytes must arrive intact.
func TestTAPTCPSegmentationOffload(t *testing.T) {
	needRoot(t)
	const size = 32 << 20
	nsA, nsB := newNetns(t), newNetns(t)
	devA, devB := "fwdt"+uniq(t), "fwdt"+uniq(t)
	a, err := Open(Config{Name: devA, VnetHdr: true, Netns: nsA, MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := Open(Config{Name: devB, VnetHdr: true, Netns: nsB, MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	run(t, "ip", "-n", nsA, "addr", "add", "192.168.79.1/24", "dev", devA)
	run(t, "ip", "-n", nsB, "addr", "add", "192.168.79.2/24", "dev", devB)
	go relay(a, b)
	go relay(b, a)

	var ln net.Listener
	if err := inNetns(nsB, func() (err error) { ln, err = net.Listen("tcp4", "192.168.79.2:5001"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sum := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sum <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		sum <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	if err := inNetns(nsA, func() (err error) { c, err = net.DialTimeout("tcp4", "192.168.79.2:5001", 5*time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var got [32]byte
	select {
	case got = <-sum:
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish")
	}
	el := time.Since(start)
	if got != sha256.Sum256(data) {
		t.Fatal("stream corrupted through the wire")
	}
	st := &a.Queues()[0].Stats
	t.Logf("%d MiB in %v (%.2f Gbit/s); side A read %d frames: %d GSO super-frames -> %d segments, %d checksums completed, %d bad",
		size>>20, el, float64(size)*8/el.Seconds()/1e9, st.ReadFrames.Load(), st.GSOFrames.Load(), st.Segments.Load(), st.CsumDone.Load(), st.BadFrames.Load())
	if st.GSOFrames.Load() == 0 {
		t.Fatal("the sending kernel used no TSO super-frames")
	}
	if st.BadFrames.Load() != 0 {
		t.Fatalf("%d frames dropped as bad", st.BadFrames.Load())
	}
	wb := &b.Queues()[0].Stats
	t.Logf("side B wrote %d frames in %d super-frames (%d merged)", wb.WriteFrames.Load(), wb.SuperFrames.Load(), wb.Coalesced.Load())
	if wb.SuperFrames.Load() == 0 {
		t.Fatal("the wire merged no segments on write")
	}
}

// udpSocketIn opens a UDP socket bound to addr:port inside namespace ns
// (the descriptor works from any thread afterwards).
func udpSocketIn(ns string, addr [4]byte, port int) (int, error) {
	type res struct {
		fd  int
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtimeLockOSThread()
		nfd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			c <- res{-1, err}
			return
		}
		defer unix.Close(nfd)
		if err := unix.Setns(nfd, unix.CLONE_NEWNET); err != nil {
			c <- res{-1, err}
			return
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			c <- res{-1, err}
			return
		}
		if err := unix.Bind(s, &unix.SockaddrInet4{Port: port, Addr: addr}); err != nil {
			unix.Close(s)
			c <- res{-1, err}
			return
		}
		c <- res{s, nil}
	}()
	r := <-c
	return r.fd, r.err
}

// TestTAPPassUSOWhole: with SetPassGSO the kernel's USO super-frame comes
// out of Read whole (virtio header before it, HdrLen the header bytes),
// and WriteVnet hands it back to the kernel whole: turned around to a
// socket in the namespace, it arrives as the four datagrams. Written as
// four datagrams, Write merges them into one super-frame again.
func TestTAPPassUSOWhole(t *testing.T) {
	needRoot(t)
	ns := newNetns(t)
	dev := "fwdt" + uniq(t)
	d, err := Open(Config{Name: dev, VnetHdr: true, Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if got := d.SetPassGSO(PassUDP | PassTCP); got != PassUDP|PassTCP {
		t.Fatalf("SetPassGSO = %b, want TCP and UDP (Linux >= 6.2 for USO)", got)
	}
	run(t, "ip", "-n", ns, "addr", "add", "192.168.78.10/24", "dev", dev)
	run(t, "ip", "-n", ns, "neigh", "add", "192.168.78.1", "lladdr", "02:00:00:00:00:01", "dev", dev, "nud", "permanent")
	rx, err := udpSocketIn(ns, [4]byte{192, 168, 78, 10}, 9001)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rx)
	if err := sendUDPGSO(ns, [4]byte{192, 168, 78, 1}, 4000, 1000); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := makeBufs(16, packet.Headroom+packet.MaxSize)
	deadline := time.Now().Add(5 * time.Second)
	var super []byte
	var h VirtioNetHdr
	for super == nil && time.Now().Before(deadline) {
		n, err := d.Read(bufs, sizes, testOff)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][testOff : testOff+sizes[i]]
			eth := header.Ethernet(f)
			if eth.EtherType() == header.EtherTypeIPv4 && header.IPv4(eth.Payload()).Protocol() == header.ProtoUDP {
				super = bufs[i][:testOff+sizes[i]]
				h.Decode(bufs[i][testOff-VirtioNetHdrLen:])
			}
		}
	}
	want := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: 1000, CsumStart: 34, CsumOffset: 6}
	if super == nil || len(super)-testOff != 42+4000 || h != want {
		t.Fatalf("super-frame of %d bytes with header %+v, want 4042 bytes with %+v", len(super)-testOff, h, want)
	}
	// Turn it around: MACs, addresses (the pseudo-header sum stays), ports.
	f := super[testOff:]
	var mac [6]byte
	copy(mac[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], mac[:])
	var a [4]byte
	copy(a[:], f[26:30])
	copy(f[26:30], f[30:34])
	copy(f[30:34], a[:])
	binary.BigEndian.PutUint16(f[36:], 9001)
	if n, err := d.Queues()[0].WriteVnet([][]byte{super}, testOff); n != 1 || err != nil {
		t.Fatalf("WriteVnet: %d, %v", n, err)
	}
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 2000)
	recv4 := func(how string) {
		t.Helper()
		for k := 0; k < 4; k++ {
			n, _, err := unix.Recvfrom(rx, buf, 0)
			if err != nil {
				t.Fatalf("%s: datagram %d: %v", how, k, err)
			}
			if n != 1000 || buf[0] != byte(k) || buf[999] != byte(k) {
				t.Fatalf("%s: datagram %d: %d bytes starting %d", how, k, n, buf[0])
			}
		}
	}
	recv4("written whole")

	// The four datagrams written one by one are merged into one USO
	// super-frame by Write, and arrive the same.
	segs, segSizes := makeBufs(4, testOff+2000)
	n, err := Segment(f, h, segs, segSizes, testOff)
	if err != nil || n != 4 {
		t.Fatalf("Segment: %d, %v", n, err)
	}
	for i := range segs {
		segs[i] = segs[i][:testOff+segSizes[i]]
	}
	st := &d.Queues()[0].Stats
	before := st.SuperFrames.Load()
	if n, err := d.Write(segs, testOff); n != 4 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if got := st.SuperFrames.Load() - before; got != 1 {
		t.Fatalf("%d super-frames written for 4 datagrams of one flow, want 1", got)
	}
	recv4("merged by Write")
}
