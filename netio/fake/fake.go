// Package fake is an in-memory frame device for tests: what a test Puts
// comes out of Read, and what the dataplane Writes can be taken with Get.
// It has the batched Read/Write shape of netio/tap.
package fake

import (
	"bytes"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by Read and Write after Close.
var ErrClosed = errors.New("fake: device closed")

// Device is an in-memory frame device. It is safe for concurrent use.
type Device struct {
	mu     sync.Mutex
	cond   *sync.Cond
	in     [][]byte // frames waiting to be read
	out    [][]byte // frames written
	closed bool
}

// New returns an open device.
func New() *Device {
	d := &Device{}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// Put queues frames for the reader (copies them).
func (d *Device) Put(frames ...[]byte) {
	d.mu.Lock()
	for _, f := range frames {
		d.in = append(d.in, bytes.Clone(f))
	}
	d.mu.Unlock()
	d.cond.Broadcast()
}

// Read implements the device read: it blocks until a frame is queued or the
// device is closed, then returns up to len(bufs) frames.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.in) == 0 && !d.closed {
		d.cond.Wait()
	}
	if d.closed {
		return 0, ErrClosed
	}
	n := 0
	for n < len(bufs) && len(d.in) > 0 {
		sizes[n] = copy(bufs[n][offset:], d.in[0])
		d.in = d.in[1:]
		n++
	}
	return n, nil
}

// Write records bufs[i][offset:] as written frames.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, ErrClosed
	}
	for _, b := range bufs {
		d.out = append(d.out, bytes.Clone(b[offset:]))
	}
	d.mu.Unlock()
	d.cond.Broadcast()
	d.mu.Lock()
	return len(bufs), nil
}

// Get waits up to timeout for a written frame and returns it, or nil.
func (d *Device) Get(timeout time.Duration) []byte {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() { d.cond.Broadcast() })
	defer t.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.out) == 0 && !d.closed && time.Now().Before(deadline) {
		d.cond.Wait()
	}
	if len(d.out) == 0 {
		return nil
	}
	f := d.out[0]
	d.out = d.out[1:]
	return f
}

// Close ends blocked reads.
func (d *Device) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cond.Broadcast()
	return nil
}
