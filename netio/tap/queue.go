package tap

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"fwd/header"

	"golang.org/x/sys/unix"
)

// Queue is one file descriptor of a TAP device. Reads and writes move
// batches of Ethernet frames; a Queue takes one reader and one writer
// goroutine at a time (they may be different goroutines).
//
// Reads are batched without extra system calls wasted: the first read
// waits in Go's poller, then the queue keeps reading until the kernel has
// nothing more (EAGAIN) or the buffers are full. With IFF_VNET_HDR one read
// can return a 64 KiB GSO super-frame, which Read cuts into MSS-sized
// frames (Segment) across several buffers; a super-frame whose segments do
// not all fit is kept and finished by the next Read.
type Queue struct {
	dev    *Device
	f      *os.File
	closed atomic.Bool
	rc     syscall.RawConn
	vnet   bool
	uso    bool // the kernel took the USO offloads

	// Read state, used by readFn (made once so Read allocates nothing).
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	// A GSO super-frame not yet wholly returned: its bytes (virtio header
	// stripped), parse, and the next segment to produce.
	stash     []byte
	stashLen  int
	stashG    gsoFrame
	stashNext int

	// pass holds the GSO types (PassTCP, PassUDP) whose super-frames Read
	// returns whole instead of segmenting them (SetPassGSO).
	pass atomic.Uint32

	// Write state, used by writeFn. With coalesce, runs of one TCP or UDP
	// flow are merged into super-frames built in groBuf (gro.go). With
	// wvnet (WriteVnet) a frame whose virtio header slot names a GSO type
	// is written with that header as it stands.
	coalesce bool
	wvnet    bool
	groBuf   []byte
	wbufs    [][]byte
	woff     int
	wn       int
	werr     error
	writeFn  func(fd uintptr) bool

	// Counters, readable from any goroutine.
	Stats QueueStats
}

// QueueStats counts what a queue saw besides plain frames.
type QueueStats struct {
	GSOFrames   atomic.Uint64 // super-frames read
	Segments    atomic.Uint64 // frames Segment made of them
	CsumDone    atomic.Uint64 // partial checksums completed
	BadFrames   atomic.Uint64 // frames dropped as malformed (bad GSO or checksum offsets)
	ReadFrames  atomic.Uint64 // frames returned by Read
	WriteFrames atomic.Uint64 // frames written (counting each merged segment)
	Coalesced   atomic.Uint64 // frames Write merged into super-frames
	SuperFrames atomic.Uint64 // super-frames Write sent
	Passed      atomic.Uint64 // super-frames Read returned whole (SetPassGSO)
}

// GSO types for SetPassGSO and WriteVnet.
const (
	PassTCP = 1 << iota // TCPv4 (VIRTIO_NET_HDR_GSO_TCPV4)
	PassUDP             // UDP (VIRTIO_NET_HDR_GSO_UDP_L4)
)

func (q *Queue) passes(proto uint8) bool {
	switch proto {
	case header.ProtoTCP:
		return q.pass.Load()&PassTCP != 0
	case header.ProtoUDP:
		return q.pass.Load()&PassUDP != 0
	}
	return false
}

func newQueue(f *os.File, vnet bool) (*Queue, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	q := &Queue{f: f, rc: rc, vnet: vnet, coalesce: vnet}
	if vnet {
		q.groBuf = make([]byte, 0, VirtioNetHdrLen+header.EthernetMinSize+maxCoalesced)
	}
	q.readFn = q.readLoop
	q.writeFn = q.writeLoop
	return q, nil
}

func (q *Queue) close() error {
	q.closed.Store(true)
	return q.f.Close()
}

// closedErr maps the poller's "use of closed file" to os.ErrClosed, as
// os.File's own methods do.
func (q *Queue) closedErr(err error) error {
	if err != nil && q.closed.Load() {
		return os.ErrClosed
	}
	return err
}

// Errors of Read and Write.
var (
	ErrOffset = errors.New("tap: offset leaves no room for the virtio header")
)

// Read reads frames into bufs[i][offset:] and their lengths into sizes[i],
// and returns how many it read (at least one unless err != nil). It blocks
// until at least one frame is there. With IFF_VNET_HDR, offset must be at
// least VirtioNetHdrLen: the header is read into the bytes just before
// offset, so a plain frame lands in place without a copy, and each buffer
// should hold 64 KiB past offset (a super-frame is read whole before it is
// cut up); frames are returned with their checksums complete.
func (q *Queue) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if q.vnet && offset < VirtioNetHdrLen {
		return 0, ErrOffset
	}
	n := 0
	if q.stashLen > 0 {
		n = q.drainStash(bufs, sizes, offset)
		if q.stashLen > 0 || n == len(bufs) {
			q.Stats.ReadFrames.Add(uint64(n))
			return n, nil
		}
	}
	q.rbufs, q.rsizes, q.roff, q.rn, q.rerr = bufs, sizes, offset, n, nil
	err := q.rc.Read(q.readFn)
	n, rerr := q.rn, q.rerr
	q.rbufs, q.rsizes = nil, nil
	q.Stats.ReadFrames.Add(uint64(n))
	if n > 0 {
		return n, nil
	}
	if rerr != nil {
		return 0, rerr
	}
	return 0, q.closedErr(err)
}

// readLoop runs inside RawConn.Read: false means "wait until readable".
func (q *Queue) readLoop(fd uintptr) bool {
	for q.rn < len(q.rbufs) && q.stashLen == 0 {
		b := q.rbufs[q.rn]
		if q.roff > len(b) {
			q.rerr = ErrShortBuffer
			return true
		}
		start := q.roff
		if q.vnet {
			start -= VirtioNetHdrLen
		}
		m, err := unix.Read(int(fd), b[start:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return q.rn > 0
		case err != nil:
			q.rerr = err
			return true
		case m == 0:
			q.rerr = os.ErrClosed
			return true
		}
		if !q.vnet {
			q.rsizes[q.rn] = m
			q.rn++
			continue
		}
		if m < VirtioNetHdrLen {
			q.Stats.BadFrames.Add(1)
			continue
		}
		q.rn += q.frame(b[q.roff:start+m], b[start:q.roff], q.rn)
	}
	return true
}

// frame handles one frame read with a virtio header at bufs[i] and
// returns how many buffers it filled.
func (q *Queue) frame(frame, hdrBytes []byte, i int) int {
	var h VirtioNetHdr
	h.Decode(hdrBytes)
	if h.GSOType == VirtioNetHdrGSONone {
		if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
			if CompleteChecksum(frame, int(h.CsumStart), int(h.CsumOffset)) != nil {
				q.Stats.BadFrames.Add(1)
				return 0
			}
			q.Stats.CsumDone.Add(1)
		}
		q.rsizes[i] = len(frame)
		return 1
	}
	g, err := parseGSO(frame, &h)
	if err != nil {
		q.Stats.BadFrames.Add(1)
		return 0
	}
	q.Stats.GSOFrames.Add(1)
	if q.passes(g.proto) {
		// Whole, with the header left before it and its HdrLen made the
		// header bytes (the kernel puts the linear length there), its
		// transport checksum still partial.
		h.HdrLen = uint16(g.hdrLen)
		h.Encode(hdrBytes)
		q.rsizes[i] = g.end
		q.Stats.Passed.Add(1)
		return 1
	}
	n := g.segments()
	if room := len(q.rbufs) - i; n > room {
		// Keep the super-frame and return what fits now.
		if cap(q.stash) < len(frame) {
			q.stash = make([]byte, 0, 65536)
		}
		q.stash = q.stash[:len(frame)]
		copy(q.stash, frame)
		q.stashLen, q.stashG, q.stashNext = len(frame), g, 0
		return q.drainStash(q.rbufs[i:], q.rsizes[i:], q.roff)
	}
	// Segment 0 is built in place in bufs[i], which holds the frame.
	c, err := g.segmentRange(frame, 0, n, q.rbufs[i:], q.rsizes[i:], q.roff)
	if err != nil {
		q.Stats.BadFrames.Add(1)
		return 0
	}
	q.Stats.Segments.Add(uint64(c))
	return c
}

// drainStash writes the stashed super-frame's next segments into bufs.
func (q *Queue) drainStash(bufs [][]byte, sizes []int, offset int) int {
	c, err := q.stashG.segmentRange(q.stash[:q.stashLen], q.stashNext, len(bufs), bufs, sizes, offset)
	if err != nil {
		q.Stats.BadFrames.Add(1)
		q.stashLen = 0
		return 0
	}
	q.Stats.Segments.Add(uint64(c))
	q.stashNext += c
	if q.stashNext >= q.stashG.segments() {
		q.stashLen = 0
	}
	return c
}

// Write writes the frames bufs[i][offset:] and returns how many it wrote;
// on an error it stops there. With IFF_VNET_HDR, offset must be at least
// VirtioNetHdrLen: a zero header (no offload; checksums complete) is
// written into the bytes before offset, and runs of adjacent segments of
// one TCP flow are merged into one GSO super-frame per write (gro.go);
// the frames' bytes are not changed.
func (q *Queue) Write(bufs [][]byte, offset int) (int, error) {
	if q.vnet && offset < VirtioNetHdrLen {
		return 0, ErrOffset
	}
	q.wbufs, q.woff, q.wn, q.werr = bufs, offset, 0, nil
	err := q.rc.Write(q.writeFn)
	n, werr := q.wn, q.werr
	q.wbufs = nil
	q.Stats.WriteFrames.Add(uint64(n))
	if werr != nil {
		return n, werr
	}
	return n, q.closedErr(err)
}

// WriteVnet is Write for frames that carry their own virtio header in the
// VirtioNetHdrLen bytes before offset: a frame whose header names a GSO
// type (a super-frame, e.g. one Read passed whole, with NEEDS_CSUM and the
// pseudo-header sum in its checksum field) is written with that header as
// it stands; a frame whose header slot is zero is written as Write writes
// it (and may be merged). The device must have been opened with VnetHdr.
func (q *Queue) WriteVnet(bufs [][]byte, offset int) (int, error) {
	if !q.vnet {
		return 0, ErrOffset
	}
	q.wvnet = true
	n, err := q.Write(bufs, offset)
	q.wvnet = false
	return n, err
}

func (q *Queue) writeLoop(fd uintptr) bool {
	for q.wn < len(q.wbufs) {
		b := q.wbufs[q.wn]
		if q.woff > len(b) {
			q.werr = ErrShortBuffer
			return true
		}
		start := q.woff
		w, k := b, 1
		if q.wvnet && b[start-VirtioNetHdrLen+1] != VirtioNetHdrGSONone {
			start -= VirtioNetHdrLen
			q.Stats.SuperFrames.Add(1)
		} else if q.vnet {
			if q.coalesce {
				// UDP only where the kernel takes USO super-frames.
				if isUDP(q.wbufs[q.wn][q.woff:]) && !q.uso {
					k = 1
				} else if k = coalesceRun(q.wbufs[q.wn:], q.woff); k > 1 {
					w, start = coalesce(q.groBuf, q.wbufs[q.wn:], q.woff, k), 0
				}
			}
			if k == 1 {
				start -= VirtioNetHdrLen
				clear(b[start:q.woff])
			}
		}
		_, err := unix.Write(int(fd), w[start:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			q.werr = err
			return true
		}
		q.wn += k
		if k > 1 {
			q.Stats.Coalesced.Add(uint64(k))
			q.Stats.SuperFrames.Add(1)
		}
	}
	return true
}

// WriteGSO writes one super-frame frame[offset:] with the virtio header h
// (e.g. GSOTCPv4 with GSOSize = MSS and a NEEDS_CSUM partial checksum), so
// the receiving kernel takes it whole as if GRO had merged it. The device
// must have been opened with VnetHdr.
func (q *Queue) WriteGSO(frame []byte, offset int, h VirtioNetHdr) error {
	if !q.vnet || offset < VirtioNetHdrLen || offset > len(frame) {
		return ErrOffset
	}
	h.Encode(frame[offset-VirtioNetHdrLen:])
	for {
		var werr error
		err := q.rc.Write(func(fd uintptr) bool {
			_, werr = unix.Write(int(fd), frame[offset-VirtioNetHdrLen:])
			return werr != unix.EAGAIN
		})
		if werr == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if werr == nil {
			q.Stats.WriteFrames.Add(1)
		}
		return werr
	}
}
