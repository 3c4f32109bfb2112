// Command labgen is the load generator of scripts/bench-lab.sh: cheap
// senders and receivers for the namespace lab (run with `ip netns exec`),
// so that the router in the middle, not the test programs, is what the
// numbers measure. iperf3 3.12 sends one datagram per system call and has
// no UDP GSO; on this VM a system call costs 1-1.7 µs, so iperf3 alone
// tops out near 90 000 datagrams/s.
//
//	labgen udp-recv  -bind ADDR [-gro] [-t SECONDS]
//	labgen udp-send  -dst ADDR [-size BYTES] [-gso SEGMENT] [-batch N] [-pps RATE] [-t SECONDS]
//	labgen tcp-serve -bind ADDR [-ports N]
//	labgen tcp-conns -dst ADDR [-ports N] [-workers N] [-linger0] [-t SECONDS]
//
// udp-send sends datagrams on a connected socket with sendmmsg(2), batch
// datagrams a call; with -gso it sets UDP_SEGMENT and sends 64 KiB writes
// the kernel (or the device after it) cuts into datagrams of -gso bytes of
// payload. udp-recv reads with recvmmsg(2) (with -gro it sets UDP_GRO and
// reads coalesced datagrams of up to 64 KiB) and prints, over the time
// from the first datagram it received to the last, one line:
//
//	datagrams N bytes B seconds S pps P gbps G
//
// where datagrams counts wire datagrams (with -gro: bytes divided by the
// segment size the kernel reports) and gbps counts UDP payload. It stops
// after -t seconds of receiving or after one idle second (or, when
// nothing comes at all, -t plus 5 seconds after it started).
//
// tcp-serve answers each connection's 64-byte request with 64 bytes, on
// -ports consecutive ports from ADDR's. tcp-conns runs -workers loops of
// socket, connect, 64 bytes out, 64 bytes back, close (spread over the
// ports, so NAT has -ports times the port space) for -t seconds and prints
//
//	conns N failed F seconds S cps C
//
// With -linger0 the client closes with SO_LINGER 0 (a RST, no TIME_WAIT),
// so a long run does not run out of local ports.
//
// Everything is plain blocking system calls on locked threads: no poller,
// no allocation per datagram or connection.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	bind := fs.String("bind", "", "local address:port")
	dst := fs.String("dst", "", "destination address:port")
	secs := fs.Float64("t", 5, "seconds")
	size := fs.Int("size", 64, "UDP payload bytes per datagram")
	gso := fs.Int("gso", 0, "UDP_SEGMENT size (0: no GSO)")
	gro := fs.Bool("gro", false, "receive with UDP_GRO")
	batch := fs.Int("batch", 64, "messages per sendmmsg/recvmmsg")
	ports := fs.Int("ports", 8, "consecutive TCP ports")
	workers := fs.Int("workers", 16, "connection loops")
	linger0 := fs.Bool("linger0", false, "close with SO_LINGER 0")
	pps := fs.Float64("pps", 0, "send at most this many datagrams/s (0: as fast as possible)")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "udp-recv":
		err = udpRecv(mustAddr(*bind), *gro, *batch, *secs)
	case "udp-send":
		err = udpSend(mustAddr(*dst), *size, *gso, *batch, *secs, *pps)
	case "tcp-serve":
		err = tcpServe(mustAddr(*bind), *ports)
	case "tcp-conns":
		err = tcpConns(mustAddr(*dst), *ports, *workers, *linger0, *secs)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labgen udp-recv|udp-send|tcp-serve|tcp-conns [flags] (see the source)")
	os.Exit(2)
}

func mustAddr(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		fmt.Fprintf(os.Stderr, "labgen: %q is not an IPv4 address:port\n", s)
		os.Exit(2)
	}
	return ap
}

func sockaddr(ap netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// mmsgs makes n message headers, each with one iovec over its own buffer
// of size bytes (or all over buf when shared), and room for a control
// message.
func mmsgs(n, size int, shared []byte, oob bool) ([]mmsghdr, [][]byte, [][]byte) {
	hs := make([]mmsghdr, n)
	iovs := make([]unix.Iovec, n)
	bufs := make([][]byte, n)
	oobs := make([][]byte, n)
	for i := range hs {
		b := shared
		if b == nil {
			b = make([]byte, size)
		}
		bufs[i] = b
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
		hs[i].hdr.Iov = &iovs[i]
		hs[i].hdr.SetIovlen(1)
		if oob {
			oobs[i] = make([]byte, unix.CmsgSpace(4))
			hs[i].hdr.Control = &oobs[i][0]
			hs[i].hdr.SetControllen(len(oobs[i]))
		}
	}
	return hs, bufs, oobs
}

func mmsg(trap uintptr, fd int, hs []mmsghdr, flags int) (int, error) {
	for {
		n, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), uintptr(flags), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

func udpSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	return fd, nil
}

func udpSend(dst netip.AddrPort, size, gso, batch int, secs, pps float64) error {
	runtime.LockOSThread()
	fd, err := udpSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sockaddr(dst)); err != nil {
		return err
	}
	if gso > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, gso); err != nil {
			return fmt.Errorf("UDP_SEGMENT: %w", err)
		}
		// As many whole segments as fit in one 64 KiB datagram.
		size = (65507 / gso) * gso
		batch = min(batch, 8)
	}
	payload := make([]byte, size)
	hs, _, _ := mmsgs(batch, size, payload, false)
	start := time.Now()
	end := start.Add(time.Duration(secs * float64(time.Second)))
	var calls, sent uint64
	// With -pps, each call's datagrams are due at sent/pps after start.
	perDgram := 1.0
	if gso > 0 {
		perDgram = float64(size / gso)
	}
	for {
		if pps > 0 {
			due := start.Add(time.Duration(float64(sent) * perDgram / pps * float64(time.Second)))
			if now := time.Now(); now.After(end) {
				break
			} else if d := due.Sub(now); d > 0 {
				time.Sleep(d)
			}
		} else if calls%16 == 0 && time.Now().After(end) {
			// One clock read per 16 calls.
			break
		}
		calls++
		n, err := mmsg(unix.SYS_SENDMMSG, fd, hs, 0)
		switch err {
		case nil:
			sent += uint64(n)
		case unix.ENOBUFS, unix.EAGAIN, unix.ECONNREFUSED, unix.EHOSTUNREACH:
			// A full queue, or an ICMP error answering an earlier
			// datagram: go on.
		default:
			return err
		}
	}
	segs := sent
	if gso > 0 {
		segs *= uint64(size / gso)
	}
	fmt.Printf("sent %d datagrams\n", segs)
	return nil
}

func udpRecv(bind netip.AddrPort, gro bool, batch int, secs float64) error {
	runtime.LockOSThread()
	fd, err := udpSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, sockaddr(bind)); err != nil {
		return err
	}
	size := 2048
	if gro {
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			return fmt.Errorf("UDP_GRO: %w", err)
		}
		size = 65536
		batch = min(batch, 16)
	}
	// Wake up now and then to notice the sender has stopped.
	tv := unix.Timeval{Usec: 200000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	hs, _, oobs := mmsgs(batch, size, nil, gro)
	fmt.Fprintln(os.Stderr, "labgen: receiving on", bind)
	var dgrams, bytes uint64
	var first, last time.Time
	limit := time.Duration(secs * float64(time.Second))
	// Give up when nothing arrives at all for the length of a run and more.
	giveUp := time.Now().Add(limit + 5*time.Second)
	for {
		for i := range hs {
			hs[i].hdr.SetControllen(len(oobs[i]))
		}
		n, err := mmsg(unix.SYS_RECVMMSG, fd, hs, unix.MSG_WAITFORONE)
		now := time.Now()
		if err == unix.EAGAIN {
			if !first.IsZero() && now.Sub(last) > time.Second || first.IsZero() && now.After(giveUp) {
				break
			}
			continue
		}
		if err != nil {
			return err
		}
		if first.IsZero() {
			first = now
		}
		last = now
		for i := 0; i < n; i++ {
			m := uint64(hs[i].n)
			bytes += m
			if !gro {
				dgrams++
				continue
			}
			seg := groSegment(oobs[i][:hs[i].hdr.Controllen])
			if seg == 0 || m <= seg {
				dgrams++
			} else {
				dgrams += (m + seg - 1) / seg
			}
		}
		if now.Sub(first) >= limit {
			break
		}
	}
	s := last.Sub(first).Seconds()
	if s <= 0 {
		s = 1
	}
	fmt.Printf("datagrams %d bytes %d seconds %.3f pps %.0f gbps %.3f\n", dgrams, bytes, s, float64(dgrams)/s, float64(bytes)*8/s/1e9)
	return nil
}

// groSegment returns the segment size of a UDP_GRO control message in
// oob (0 when there is none). The kernel wrote oob; a short or foreign
// message gives 0.
func groSegment(oob []byte) uint64 {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			d := oob[unix.CmsgLen(0):]
			if l >= unix.CmsgLen(4) {
				return uint64(binary.NativeEndian.Uint32(d))
			}
			return uint64(binary.NativeEndian.Uint16(d))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}

func tcpServe(bind netip.AddrPort, ports int) error {
	var wg sync.WaitGroup
	errc := make(chan error, ports)
	for p := 0; p < ports; p++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		sa := sockaddr(bind)
		sa.Port += p
		if err := unix.Bind(fd, sa); err != nil {
			return err
		}
		if err := unix.Listen(fd, 4096); err != nil {
			return err
		}
		// Two accepting threads a port: each answers its connection
		// itself (the request is one small segment, already there).
		for a := 0; a < 2; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				buf := make([]byte, 64)
				for {
					c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
					if err == unix.EINTR || err == unix.ECONNABORTED {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					serveConn(c, buf)
				}
			}()
		}
	}
	fmt.Fprintln(os.Stderr, "labgen: serving on", bind, "and", ports-1, "more ports")
	wg.Wait()
	return <-errc
}

// serveConn reads the 64-byte request, answers it, and waits for the
// client's close (so TIME_WAIT, if any, is the client's).
func serveConn(c int, buf []byte) {
	defer unix.Close(c)
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if !readFull(c, buf) {
		return
	}
	if _, err := unix.Write(c, buf); err != nil {
		return
	}
	unix.Read(c, buf) // 0 at the client's FIN, an error at its RST
}

func readFull(fd int, b []byte) bool {
	for got := 0; got < len(b); {
		n, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		got += n
	}
	return true
}

func tcpConns(dst netip.AddrPort, ports, workers int, linger0 bool, secs float64) error {
	var ok, fail atomic.Uint64
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			sa := sockaddr(dst)
			sa.Port += w % ports
			buf := make([]byte, 64)
			for i := 0; ; i++ {
				if i%8 == 0 && time.Now().After(end) {
					return
				}
				if conn(sa, buf, linger0) {
					ok.Add(1)
				} else {
					fail.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	fmt.Printf("conns %d failed %d seconds %.3f cps %.0f\n", ok.Load(), fail.Load(), s, float64(ok.Load())/s)
	return nil
}

// conn makes one short connection: connect, 64 bytes each way, close.
func conn(sa *unix.SockaddrInet4, buf []byte, linger0 bool) bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		time.Sleep(time.Millisecond)
		return false
	}
	defer unix.Close(fd)
	if linger0 {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return false
	}
	if _, err := unix.Write(fd, buf); err != nil {
		return false
	}
	return readFull(fd, buf)
}
