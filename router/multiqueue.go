package router

import "sync"

// QueueIO is one queue of a multi-queue device: frame I/O in
// FrameDevice's shape, and WriteVnet (GSODevice's). A tap.Device's queues
// are these.
type QueueIO = interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	WriteVnet(bufs [][]byte, offset int) (int, error)
}

// MultiQueueDevice is a device with several queues (a TAP opened with
// IFF_MULTI_QUEUE: the kernel spreads flows over them by hash). The
// dataplane runs one worker per queue; worker k writes to queue k of every
// egress device (k modulo its queue count), so a flow's packets leave in
// order and workers of different queues rarely wait for one another.
type MultiQueueDevice interface {
	FrameDevice
	NumQueues() int
	QueueIO(i int) QueueIO
}

type vnetWriter interface {
	WriteVnet(bufs [][]byte, offset int) (int, error)
}

// setupQueues lists each device's queues and makes their write locks.
func (d *Dataplane) setupQueues() {
	d.ioq = make([][]FrameDevice, len(d.Devs))
	d.wmu = make([][]sync.Mutex, len(d.Devs))
	for i, dev := range d.Devs {
		d.ioq[i] = []FrameDevice{dev}
		if m, ok := dev.(MultiQueueDevice); ok && m.NumQueues() > 1 {
			d.ioq[i] = make([]FrameDevice, m.NumQueues())
			for q := range d.ioq[i] {
				d.ioq[i][q] = m.QueueIO(q)
			}
		}
		d.wmu[i] = make([]sync.Mutex, len(d.ioq[i]))
	}
}
