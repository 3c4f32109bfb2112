package nfqueue

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Options configure a queue. The zero value is usable: kernel default
// queue length, full-packet copy, no GSO, fail-closed.
type Options struct {
	// MaxLen is the kernel's queue length (NFQA_CFG_QUEUE_MAXLEN): packets
	// waiting for a verdict, read or not. 0 keeps the kernel default (1024).
	MaxLen uint32
	// CopyRange is how many bytes of each packet are copied to us
	// (NFQA_CFG_PARAMS with NFQNL_COPY_PACKET). 0 means 0xffff, the whole
	// packet.
	CopyRange uint32
	// GSO sets NFQA_CFG_F_GSO: the kernel queues GSO/GRO super-packets
	// whole instead of segmenting them first (about 10x the TCP throughput
	// here). Such packets may exceed the MTU and may carry a partial
	// checksum (Msg.ChecksumNotReady).
	GSO bool
	// FailOpen sets NFQA_CFG_F_FAIL_OPEN: when the queue is full (MaxLen)
	// or our socket buffer overruns, the kernel accepts the packet instead
	// of dropping it. (Whether packets pass when nobody is bound at all is
	// the steering rule's bypass flag; see netio/steer.)
	FailOpen bool
	// ReadBuffer is the socket receive buffer in bytes (SO_RCVBUFFORCE,
	// falling back to SO_RCVBUF). 0 means 4 MiB; negative leaves the
	// system default.
	ReadBuffer int
	// NetNS is a file descriptor of the network namespace to open the
	// queue in (the queue and its packets belong to that namespace); 0
	// means the caller's.
	NetNS int
}

// Stats are a queue's counters since Open.
type Stats struct {
	Received    uint64 // packet messages read and parsed
	Verdicts    uint64 // packets given a verdict (a batch verdict counts each packet it covers)
	VerdictMsgs uint64 // verdict messages sent, single and batch
	BatchMsgs   uint64 // NFQNL_MSG_VERDICT_BATCH messages among VerdictMsgs
	Sends       uint64 // write calls carrying verdicts
	Repeated    uint64 // packets that arrived while Open configured the queue, sent back with NF_REPEAT
	ENOBUFS     uint64 // socket overruns: the kernel lost (or, fail-open, passed) packets we never saw
	Errors      uint64 // netlink error replies, malformed messages, failed sends
	LastErrno   int32  // errno of the last netlink error reply (e.g. ENOENT: verdict for an unknown id)
}

// Queue is one bound nfnetlink_queue. ReadBatch, Verdict and Flush belong to
// one goroutine (the worker); Stats and Close may be called from any.
type Queue struct {
	num       uint16
	opts      Options
	conn      *netlink.Conn
	rc        syscall.RawConn
	closed    atomic.Bool
	bufSize   int
	sendLimit int

	// Receive state (owner goroutine). rbuf/rn/rerr/rblock carry the
	// arguments and results of readFn, a method value made once so the
	// RawConn.Read call does not allocate a closure per packet.
	bufs   [][]byte
	rbuf   []byte
	rn     int
	rerr   error
	rblock bool
	readFn func(fd uintptr) bool

	// Verdict state (owner goroutine).
	pend    []pending
	payBuf  []byte // payloads of pend, back to back
	sendBuf []byte
	fifo    idFIFO
	wbuf    []byte
	werr    error
	writeFn func(fd uintptr) bool

	seq uint32

	received, verdicts, verdictMsgs, batchMsgs, sends, repeated, enobufs, errs atomic.Uint64
	lastErrno                                                                  atomic.Int32
}

// pending is one buffered verdict.
type pending struct {
	id         uint32
	v          Verdict
	hasMark    bool
	mark       uint32
	hasPayload bool
	payOff     int
	payLen     int
}

// Errors returned by the queue.
var (
	ErrClosed          = errors.New("nfqueue: queue closed")
	ErrPayloadTooLarge = errors.New("nfqueue: payload longer than 65535 bytes")
	errAgain           = errors.New("nfqueue: would block")
)

const (
	defaultReadBuffer = 4 << 20
	configTimeout     = 5 * time.Second
)

// Open binds queue number queue and configures it: full-packet copy mode,
// queue length, GSO and fail-open flags. It fails with EBUSY (wrapped) when
// another socket holds the queue, and with EPERM without CAP_NET_ADMIN.
func Open(queue uint16, opts Options) (*Queue, error) {
	if opts.CopyRange == 0 || opts.CopyRange > maxPayload {
		opts.CopyRange = maxPayload
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: opts.NetNS})
	if err != nil {
		return nil, fmt.Errorf("nfqueue: dial netlink: %w", err)
	}
	q := &Queue{num: queue, opts: opts, conn: conn}
	q.readFn = q.doRead
	q.writeFn = q.doWrite
	q.bufSize = align4(int(opts.CopyRange)) + 4096 // headers and attributes are < 512 bytes
	if err := q.setup(); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) setup() error {
	var err error
	if q.rc, err = q.conn.SyscallConn(); err != nil {
		return fmt.Errorf("nfqueue: %w", err)
	}
	// NETLINK_CAP_ACK: error replies carry only the header of the failed
	// request, not a copy of a 64 KiB payload.
	_ = q.conn.SetOption(netlink.CapAcknowledge, true)
	rb := q.opts.ReadBuffer
	if rb == 0 {
		rb = defaultReadBuffer
	}
	if rb > 0 {
		q.setBuf(unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, rb)
	}
	q.setBuf(unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, 1<<20)
	// netlink_sendmsg refuses a write longer than sk_sndbuf - 32;
	// getsockopt reports sk_sndbuf.
	q.sendLimit = 256 << 10
	if wb, err := q.conn.WriteBuffer(); err == nil && wb/2 < q.sendLimit {
		q.sendLimit = wb / 2
	}
	if q.sendLimit < maxPayload+512 {
		q.sendLimit = maxPayload + 512
	}
	q.sendBuf = make([]byte, 0, q.sendLimit)

	// Before Linux 3.8 a family had to be bound to nfnetlink_queue first;
	// since then PF_BIND is a no-op. Its error is ignored. (PF_UNBIND is
	// not sent: on old kernels it would unhook every other queue user.)
	_ = q.request(cmdMsg(cmdPFBind, afINET), false)

	// One message binds and configures, so no packet arrives in the
	// kernel's default copy mode (meta only).
	var flags uint32
	if q.opts.GSO {
		flags |= flagGSO
	}
	if q.opts.FailOpen {
		flags |= flagFailOpen
	}
	var params [5]byte
	params[0] = byte(q.opts.CopyRange >> 24)
	params[1] = byte(q.opts.CopyRange >> 16)
	params[2] = byte(q.opts.CopyRange >> 8)
	params[3] = byte(q.opts.CopyRange)
	params[4] = copyPacket
	attrs := cmdMsg(cmdBind, afINET)
	attrs = appendAttr(attrs, cfgParams, params[:])
	if q.opts.MaxLen > 0 {
		attrs = appendAttrU32(attrs, cfgMaxLen, q.opts.MaxLen)
	}
	attrs = appendAttrU32(attrs, cfgFlags, flags)
	attrs = appendAttrU32(attrs, cfgMask, flagGSO|flagFailOpen)
	if err := q.request(attrs, true); err != nil {
		_ = q.request(cmdMsg(cmdUnbind, afINET), false)
		return fmt.Errorf("nfqueue: bind queue %d: %w", q.num, err)
	}
	return nil
}

// cmdMsg returns the attributes of a config message holding one command.
func cmdMsg(cmd uint8, pf uint16) []byte {
	return appendAttr(nil, cfgCmd, []byte{cmd, 0, byte(pf >> 8), byte(pf)})
}

func (q *Queue) setBuf(force, plain, n int) {
	err := q.rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, force, n) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, plain, n)
		}
	})
	_ = err
}

// request sends a config message for this queue with attributes attrs.
// With wait it reads until the kernel's acknowledgement and returns the
// error it carries. Packets that arrive meanwhile (the queue is bound
// before the ack is sent) go back to the kernel with NF_REPEAT, which runs
// the hook again and so queues them again, behind the ack.
func (q *Queue) request(attrs []byte, wait bool) error {
	q.seq++
	seq := q.seq
	flags := uint16(nlmFRequest)
	if wait {
		flags |= nlmFAck
	}
	queue := q.num
	b, start := appendMsgHdr(nil, msgConfig, flags, seq, afUnspec, queue)
	b = append(b, attrs...)
	finishMsg(b, start)
	if err := q.write(b); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	_ = q.conn.SetReadDeadline(time.Now().Add(configTimeout))
	defer q.conn.SetReadDeadline(time.Time{})
	buf := make([]byte, q.bufSize)
	var m Msg
	for {
		n, err := q.recv(buf, true)
		if errors.Is(err, unix.ENOBUFS) {
			q.enobufs.Add(1)
			continue
		}
		if err != nil {
			return err
		}
		rest := buf[:n]
		for len(rest) > 0 {
			msg, r, err := nextMsg(rest)
			if err != nil {
				break
			}
			rest = r
			kind, errno, s, err := classify(msg, &m)
			switch {
			case err != nil:
				q.errs.Add(1)
			case kind == kindPacket:
				q.repeated.Add(1)
				if err := q.write(appendVerdict(nil, q.num, false, m.ID, Repeat, false, 0, nil)); err != nil {
					return err
				}
			case (kind == kindAck || kind == kindError) && s == seq:
				if kind == kindError {
					return syscall.Errno(errno)
				}
				return nil
			}
		}
	}
}

// ReadBatch reads up to len(msgs) packets. It blocks until at least one
// packet arrives, then takes what else the socket holds without blocking.
// Before it blocks it flushes buffered verdicts: the socket has nothing
// more to read, so holding them back would only stall the flows (a TCP
// sender waits for the ACKs the kernel keeps queued).
//
// msgs[i].Payload aliases the queue's buffers and stays valid until the
// next ReadBatch. Socket overruns (ENOBUFS) and netlink error replies are
// counted in Stats, never returned. The error is ErrClosed after Close.
// Steady state allocates nothing.
func (q *Queue) ReadBatch(msgs []Msg) (int, error) {
	if q.closed.Load() {
		return 0, ErrClosed
	}
	if len(msgs) > len(q.bufs) {
		for len(q.bufs) < len(msgs) {
			q.bufs = append(q.bufs, nil)
		}
	}
	n := 0
	block := false
	for n < len(msgs) {
		buf := q.bufs[n]
		if buf == nil {
			buf = make([]byte, q.bufSize)
			q.bufs[n] = buf
		}
		sz, err := q.recv(buf, block)
		switch {
		case err == errAgain:
			if n > 0 {
				return n, nil
			}
			if err := q.Flush(); err != nil && q.closed.Load() {
				return 0, ErrClosed
			}
			block = true
			continue
		case err == unix.ENOBUFS:
			q.enobufs.Add(1)
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			if q.closed.Load() || errors.Is(err, os.ErrClosed) {
				return n, ErrClosed
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return n, err
			}
			q.errs.Add(1)
			if n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("nfqueue: receive: %w", err)
		}
		block = false
		if sz > len(buf) {
			// Cannot happen with bufSize > CopyRange + headers; count it.
			q.errs.Add(1)
			continue
		}
		rest := buf[:sz]
		for len(rest) > 0 {
			msg, r, err := nextMsg(rest)
			if err != nil {
				q.errs.Add(1)
				break
			}
			rest = r
			if n == len(msgs) {
				// The kernel sends one packet per datagram, so this is
				// not reached; the id stays queued in the kernel.
				q.errs.Add(1)
				continue
			}
			kind, errno, _, err := classify(msg, &msgs[n])
			switch {
			case err != nil:
				q.errs.Add(1)
			case kind == kindPacket:
				q.fifo.push(msgs[n].ID)
				q.received.Add(1)
				n++
			case kind == kindError:
				q.errs.Add(1)
				q.lastErrno.Store(errno)
			}
		}
	}
	return n, nil
}

// recv reads one datagram into buf. Without block it returns errAgain when
// the socket is empty. It returns the datagram's full length (MSG_TRUNC),
// which exceeds len(buf) when it was cut.
func (q *Queue) recv(buf []byte, block bool) (int, error) {
	q.rbuf, q.rblock, q.rn, q.rerr = buf, block, 0, nil
	if err := q.rc.Read(q.readFn); err != nil {
		q.rbuf = nil
		return 0, err
	}
	q.rbuf = nil
	return q.rn, q.rerr
}

// doRead is readFn: one non-blocking recvfrom. Returning false asks the
// runtime poller to wait until the socket is readable and call again.
func (q *Queue) doRead(fd uintptr) bool {
	for {
		// recvfrom without an address: unix.Recvfrom would allocate the
		// sender's sockaddr on every call.
		var p unsafe.Pointer
		if len(q.rbuf) > 0 {
			p = unsafe.Pointer(&q.rbuf[0])
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(p), uintptr(len(q.rbuf)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		n := int(r)
		var err error
		if e != 0 {
			err = e
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if q.rblock {
				return false
			}
			q.rerr = errAgain
			return true
		}
		q.rn, q.rerr = n, err
		if err != nil {
			q.rerr = err
		}
		return true
	}
}

// write sends b as one datagram (several netlink messages are fine: the
// kernel handles each in order).
func (q *Queue) write(b []byte) error {
	q.wbuf, q.werr = b, nil
	err := q.rc.Write(q.writeFn)
	q.wbuf = nil
	if err != nil {
		return err
	}
	return q.werr
}

func (q *Queue) doWrite(fd uintptr) bool {
	for {
		_, err := unix.Write(int(fd), q.wbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return false
		}
		q.werr = err
		return true
	}
}

// Verdict buffers a verdict for packet id. mark, when not nil, sets the
// packet's skb->mark. payload, when not nil, replaces the packet (it is
// copied at once, so it may alias the Msg's Payload, rewritten in place).
// Nothing is sent until Flush (or ReadBatch finding the socket empty, or the
// buffer filling up). The error is ErrPayloadTooLarge, or a send error
// from an early flush.
//
// The kernel checks a new payload (nfqnl_mangle): when it fails, or the
// kernel is out of memory, the packet is dropped without an error reply.
// Recent kernels also refuse IPv4 payloads whose total length, fragment
// bits or options differ from the packet's.
func (q *Queue) Verdict(id uint32, v Verdict, mark *uint32, payload []byte) error {
	if len(payload) > maxPayload {
		return ErrPayloadTooLarge
	}
	p := pending{id: id, v: v}
	if mark != nil {
		p.hasMark, p.mark = true, *mark
	}
	if payload != nil {
		p.hasPayload = true
		p.payOff = len(q.payBuf)
		p.payLen = len(payload)
		q.payBuf = append(q.payBuf, payload...)
	}
	q.pend = append(q.pend, p)
	if len(q.payBuf)+len(q.pend)*32 >= q.sendLimit {
		return q.Flush()
	}
	return nil
}

// Flush sends the buffered verdicts, in id order. A run of verdicts for the oldest
// outstanding packets, in id order, with the same verdict and mark and no
// payload, goes as one NFQNL_MSG_VERDICT_BATCH naming the run's last id;
// everything else goes as single NFQNL_MSG_VERDICTs. All messages share as
// few writes as the socket's send buffer allows. See doc.go.
func (q *Queue) Flush() error {
	if len(q.pend) == 0 {
		return nil
	}
	q.sortPending()
	b := q.sendBuf[:0]
	var firstErr error
	emit := func(batch bool, p *pending, id uint32, covered int) {
		var pay []byte
		if p.hasPayload {
			pay = q.payBuf[p.payOff : p.payOff+p.payLen]
		}
		if len(b)+verdictSize(p.hasMark, p.payLen, p.hasPayload && !batch) > q.sendLimit && len(b) > 0 {
			if err := q.send(b); err != nil && firstErr == nil {
				firstErr = err
			}
			b = b[:0]
		}
		b = appendVerdict(b, q.num, batch, id, p.v, p.hasMark, p.mark, pay)
		q.verdictMsgs.Add(1)
		q.verdicts.Add(uint64(covered))
		if batch {
			q.batchMsgs.Add(1)
		}
	}
	for i := 0; i < len(q.pend); {
		p := &q.pend[i]
		pos := q.fifo.first()
		if p.hasPayload || pos < 0 || q.fifo.ids[pos] != p.id {
			// Out of order, or carrying a payload: a verdict of its own.
			q.fifo.markDone(p.id)
			emit(false, p, p.id, 1)
			i++
			continue
		}
		j := i
		for {
			q.fifo.setDone(pos)
			j++
			if j == len(q.pend) {
				break
			}
			n := &q.pend[j]
			if n.hasPayload || n.v != p.v || n.hasMark != p.hasMark || n.mark != p.mark {
				break
			}
			pos = q.fifo.next(pos)
			if pos < 0 || q.fifo.ids[pos] != n.id {
				break
			}
		}
		last := q.pend[j-1].id
		emit(j-i > 1, p, last, j-i)
		i = j
	}
	if len(b) > 0 {
		if err := q.send(b); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	q.sendBuf = b[:0]
	q.pend = q.pend[:0]
	q.payBuf = q.payBuf[:0]
	q.fifo.first() // drop tombstones from the front
	return firstErr
}

// sortPending puts the buffered verdicts in id order (wrap-safe: ids
// are compared by their distance from the oldest outstanding id), so
// verdicts given out of order still batch. Verdicts for distinct packets
// commute; the usual in-order case costs one pass.
func (q *Queue) sortPending() {
	pos := q.fifo.first()
	if pos < 0 {
		return
	}
	base := q.fifo.ids[pos]
	sorted := true
	for i := 1; i < len(q.pend); i++ {
		if q.pend[i].id-base < q.pend[i-1].id-base {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	slices.SortStableFunc(q.pend, func(a, b pending) int {
		return cmp.Compare(a.id-base, b.id-base)
	})
}

func (q *Queue) send(b []byte) error {
	q.sends.Add(1)
	if err := q.write(b); err != nil {
		q.errs.Add(1)
		if q.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("nfqueue: send verdicts: %w", err)
	}
	return nil
}

// Close unbinds the queue and closes the socket; a blocked ReadBatch
// returns ErrClosed. The kernel drops the packets it still holds for the
// queue (call Flush first from the worker to send buffered verdicts).
// With the steering rule's bypass flag, later packets pass unqueued.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	// A fresh buffer: the worker may be using the queue's own.
	b, start := appendMsgHdr(nil, msgConfig, nlmFRequest, 0, afUnspec, q.num)
	b = append(b, cmdMsg(cmdUnbind, afINET)...)
	finishMsg(b, start)
	_ = q.rc.Write(func(fd uintptr) bool {
		_, err := unix.Write(int(fd), b)
		return err != unix.EAGAIN
	})
	return q.conn.Close()
}

// SetReadDeadline makes a ReadBatch blocked past t return
// os.ErrDeadlineExceeded (wrapped); the zero time clears it.
func (q *Queue) SetReadDeadline(t time.Time) error { return q.conn.SetReadDeadline(t) }

// Num returns the queue number.
func (q *Queue) Num() uint16 { return q.num }

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Received:    q.received.Load(),
		Verdicts:    q.verdicts.Load(),
		VerdictMsgs: q.verdictMsgs.Load(),
		BatchMsgs:   q.batchMsgs.Load(),
		Sends:       q.sends.Load(),
		Repeated:    q.repeated.Load(),
		ENOBUFS:     q.enobufs.Load(),
		Errors:      q.errs.Load(),
		LastErrno:   q.lastErrno.Load(),
	}
}

// Outstanding returns how many packets were read and not yet given a
// verdict (buffered verdicts count as given). Owner goroutine only.
func (q *Queue) Outstanding() int { return q.fifo.live() }
