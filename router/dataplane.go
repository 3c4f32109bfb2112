package router

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"fwd/header"
	"fwd/ipfrag"
	"fwd/packet"
	"fwd/pipeline"
)

// FrameDevice is a device of Ethernet frames with batched I/O in
// wireguard-go's shape (a TAP device, or netio/fake in tests). Read fills
// bufs[i][offset:] and sizes[i]; Write sends bufs[i][offset:]. Bytes before
// offset are the device's own (a virtio-net header).
type FrameDevice interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
}

// GSODevice is a FrameDevice that can pass GSO super-frames (a
// tap.Device with IFF_VNET_HDR; see gso.go): Read returns the super-frames
// of the types SetPassGSO enabled (1 TCPv4, 2 UDP) whole, with their
// virtio header in the 10 bytes before offset; WriteVnet writes frames
// with the virtio header before offset (zero for a plain frame); GSOTypes
// says which types its writes take whole; SegmentGSO cuts a super-frame
// (hdr its virtio header) into wire-sized frames at bufs[i][offset:].
type GSODevice interface {
	FrameDevice
	SetPassGSO(mask uint8) uint8
	GSOTypes() uint8
	WriteVnet(bufs [][]byte, offset int) (int, error)
	SegmentGSO(frame, hdr []byte, bufs [][]byte, sizes []int, offset int) (int, error)
}

// frameOff is where a frame starts in a packet buffer: the Ethernet header
// sits just before the datagram, so a frame read lands with its datagram at
// packet.Headroom and an egress frame is built in place without a copy.
const frameOff = packet.Headroom - header.EthernetMinSize

// Dataplane is TAP mode: fwd as an L3 router between its devices.
//
// Flow: one worker goroutine per device reads a batch of frames into
// pooled packets. ARP frames go to the ARP cache (answers go straight back
// out); IPv4 datagrams run through the pipeline with the worker's own
// Runner; what the pipeline delivers is cut to the egress MTU if need be,
// given an Ethernet header for its next hop (or held while ARP resolves
// it), and written to the egress device in one batch per device. A ticker
// goroutine runs the timers: ARP retries and expiry, fragment and
// conntrack expiry through the stages' Tick, and sends packets that ARP
// has released.
//
// Locking: each device queue has a write mutex (wmu), because every
// worker may write to every device; reads of a queue happen on its worker
// alone. A MultiQueueDevice gets a worker per queue (multiqueue.go).
type Dataplane struct {
	Env      *pipeline.Env
	Pipeline *pipeline.Pipeline
	ARP      *ARP
	Ifaces   []Iface
	Devs     []FrameDevice // by interface index
	// TickEvery is how often the timers run (default 100 ms).
	TickEvery time.Duration

	wmu  [][]sync.Mutex  // by device, by queue
	ioq  [][]FrameDevice // by device: its queues (the device itself when it has one)
	tick *egress         // the ticker goroutine's output and runner

	// By device: the GSO types its Read passes whole (gso.go) and its
	// writes take; zero for devices that are not GSODevices.
	pass, gsoOut []uint8
}

// NewDataplane wires devices (indexed as the configuration's interfaces)
// to a built pipeline. The ARP cache transmits through the devices and
// answers packets it gives up on with host unreachable (RFC 1812
// §5.2.7.1) through the pipeline's Rejecter.
func NewDataplane(env *pipeline.Env, pl *pipeline.Pipeline, devs []FrameDevice) *Dataplane {
	d := &Dataplane{Env: env, Pipeline: pl, Ifaces: Ifaces(env.Config), Devs: devs, TickEvery: 100 * time.Millisecond}
	d.setupQueues()
	d.setupGSO()
	d.ARP = NewARP(d.Ifaces, ARPConfig{Transmit: d.transmitARP, Failed: d.arpFailed, Pool: env.Pool})
	d.tick = d.newEgress()
	return d
}

// arpFailed answers a packet whose next hop never answered ARP with ICMP
// host unreachable (RFC 1812 §5.2.7.1). It runs on the ticker goroutine
// (ARP.Tick), whose runner sends the answer at its next Tick.
func (d *Dataplane) arpFailed(pkt *packet.Packet) {
	d.tick.runner.CountDrop(packet.NoIf, packet.DropARPFailed)
	if rj := d.Env.Rejecter; rj != nil {
		pkt.RejectWith = packet.RejectHostUnreach
		rj(pkt, d.tick.runner)
	}
	d.Env.Pool.Put(pkt)
}

func (d *Dataplane) transmitARP(ifIndex int, frame []byte) {
	if ifIndex < 0 || ifIndex >= len(d.Devs) {
		return
	}
	// The frame is valid during the call only: copy it after room for the
	// device's header.
	var b [frameOff + header.ARPFrameSize]byte
	copy(b[frameOff:], frame)
	d.wmu[ifIndex][0].Lock()
	d.ioq[ifIndex][0].Write([][]byte{b[:frameOff+len(frame)]}, frameOff)
	d.wmu[ifIndex][0].Unlock()
}

// Run serves until ctx ends or a device fails; it returns the first
// device error (nil when ctx ended). It announces the router's addresses
// with gratuitous ARP first.
func (d *Dataplane) Run(ctx context.Context) error {
	d.ARP.Announce(d.Env.Clock.Now())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(d.Devs)*8+1)
	var wg sync.WaitGroup
	for i := range d.Devs {
		for q := range d.ioq[i] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.routineWorker(ctx, i, q); err != nil && ctx.Err() == nil {
					errc <- err
					cancel()
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.routineTick(ctx)
	}()
	<-ctx.Done()
	// Workers are blocked in Read; the caller closes the devices to end
	// them (Close makes Read fail). Do not wait for them here.
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// egress is one worker's output: the runner's sink and the frames it
// collects per device until flush.
type egress struct {
	d      *Dataplane
	q      int              // the queue this worker writes to (modulo each device's count)
	frames [][][]byte       // by device: frame buffers to write at frameOff
	owned  []*packet.Packet // packets whose buffers frames point into
	fbufs  [][]byte         // scratch for ipfrag.Fragment
	fpkts  []*packet.Packet // packets the fragments are written into
	held   []*packet.Packet // scratch for ARP.Release
	cache  *packet.Cache    // this worker's packets: reads, fragments and frees
	segs   []*packet.Packet // scratch for sendGSO's segments
	sizes  []int            // scratch for sendGSO's segment sizes
	runner *pipeline.Runner // this worker's runner (it counts drops too)
}

func (d *Dataplane) newEgress() *egress {
	e := &egress{d: d, frames: make([][][]byte, len(d.Devs)), cache: d.Env.Pool.NewCache()}
	e.runner = d.Pipeline.NewRunner(e)
	return e
}

// Deliver implements pipeline.Output.
func (e *egress) Deliver(pkt *packet.Packet) {
	d := e.d
	out := int(pkt.OutIf)
	if out < 0 || out >= len(d.Devs) {
		e.runner.CountDrop(packet.NoIf, packet.DropNoInterface)
		e.cache.Put(pkt)
		return
	}
	mac, ok := d.ARP.Resolve(out, pkt.NextHop, d.Env.Clock.Now())
	if !ok {
		if ev := d.ARP.Hold(pkt); ev != nil {
			e.runner.CountDrop(packet.NoIf, ev.Drop)
			e.cache.Put(ev)
		}
		return
	}
	e.send(pkt, out, mac)
}

// send writes pkt's datagram (cut to the egress size) to device out with
// an Ethernet header to mac.
func (e *egress) send(pkt *packet.Packet, out int, mac [6]byte) {
	d := e.d
	ifc := &d.Ifaces[out]
	buf := pkt.Buffer()
	n := len(pkt.Data)
	if n > 0 && &pkt.Data[0] != &buf[packet.Headroom] {
		copy(buf[packet.Headroom:], pkt.Data)
		pkt.Data = buf[packet.Headroom : packet.Headroom+n]
	}
	if pkt.Meta&metaGSO != 0 {
		e.sendGSO(pkt, out, mac)
		return
	}
	size := ipfrag.EgressSize(pkt, ifc.MTU)
	if n <= size {
		encap(buf[frameOff:], mac, ifc.MAC)
		clear(buf[vnetOff:frameOff])
		e.frames[out] = append(e.frames[out], buf[:packet.Headroom+n])
		e.owned = append(e.owned, pkt)
		return
	}
	cnt := ipfrag.Count(pkt.Data, size)
	if cnt == 0 {
		e.runner.CountDrop(packet.NoIf, packet.DropMTU)
		e.cache.Put(pkt)
		return
	}
	e.fbufs, e.fpkts = e.fbufs[:0], e.fpkts[:0]
	for i := 0; i < cnt; i++ {
		fp := e.cache.Get()
		e.fpkts = append(e.fpkts, fp)
		e.fbufs = append(e.fbufs, fp.Buffer()[packet.Headroom:packet.Headroom])
	}
	got := ipfrag.Fragment(e.fbufs, pkt.Data, size)
	for i, fp := range e.fpkts {
		if i >= got {
			e.cache.Put(fp)
			continue
		}
		fb := fp.Buffer()
		encap(fb[frameOff:], mac, ifc.MAC)
		clear(fb[vnetOff:frameOff])
		e.frames[out] = append(e.frames[out], fb[:packet.Headroom+len(e.fbufs[i])])
		e.owned = append(e.owned, fp)
	}
	e.cache.Put(pkt)
}

// Discard implements pipeline.Output.
func (e *egress) Discard(pkt *packet.Packet, v pipeline.Verdict) { e.cache.Put(pkt) }

// flush writes the collected frames and frees their packets, then sends
// whatever ARP has released meanwhile.
func (e *egress) flush() {
	d := e.d
	if d.ARP.Pending() {
		e.held = d.ARP.Release(e.held[:0])
		now := d.Env.Clock.Now()
		for _, p := range e.held {
			if mac, ok := d.ARP.Resolve(int(p.OutIf), p.NextHop, now); ok {
				e.send(p, int(p.OutIf), mac)
			} else if ev := d.ARP.Hold(p); ev != nil {
				e.cache.Put(ev)
			}
		}
		clear(e.held)
	}
	for i, fr := range e.frames {
		if len(fr) == 0 {
			continue
		}
		q := e.q % len(d.ioq[i])
		d.wmu[i][q].Lock()
		if w, ok := d.ioq[i][q].(vnetWriter); ok && d.gsoOut[i] != 0 {
			w.WriteVnet(fr, frameOff)
		} else {
			d.ioq[i][q].Write(fr, frameOff)
		}
		d.wmu[i][q].Unlock()
		clear(fr)
		e.frames[i] = fr[:0]
	}
	for _, p := range e.owned {
		e.cache.Put(p)
	}
	clear(e.owned)
	e.owned = e.owned[:0]
}

func encap(b []byte, dst, src [6]byte) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv4)
}

// batchSize is how many frames a worker reads at once.
const batchSize = 64

func (d *Dataplane) routineWorker(ctx context.Context, ifIndex, queue int) error {
	d.Env.Log.Debug("worker started", "interface", d.Ifaces[ifIndex].Name, "queue", queue)
	defer d.Env.Log.Debug("worker stopped", "interface", d.Ifaces[ifIndex].Name, "queue", queue)
	e := d.newEgress()
	e.q = queue
	dev := d.ioq[ifIndex][queue]
	wmu := &d.wmu[ifIndex][queue]
	pass := d.pass[ifIndex]
	pool := e.cache
	defer pool.Flush()
	pkts := make([]*packet.Packet, batchSize)
	bufs := make([][]byte, batchSize)
	sizes := make([]int, batchSize)
	batch := make([]*packet.Packet, 0, batchSize)
	defer func() {
		for _, p := range pkts {
			if p != nil {
				pool.Put(p)
			}
		}
	}()
	for ctx.Err() == nil {
		for i := range pkts {
			if pkts[i] == nil {
				pkts[i] = pool.Get()
			}
			bufs[i] = pkts[i].Buffer()
		}
		n, err := dev.Read(bufs, sizes, frameOff)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := d.Env.Clock.Now()
		batch = batch[:0]
		for i := 0; i < n; i++ {
			p := pkts[i]
			frame := bufs[i][frameOff : frameOff+sizes[i]]
			if len(frame) < header.EthernetMinSize {
				e.runner.CountDrop(int16(ifIndex), packet.DropTruncated)
				continue
			}
			switch binary.BigEndian.Uint16(frame[12:]) {
			case header.EtherTypeARP:
				if reply := d.ARP.Input(ifIndex, frame, now); reply != nil {
					wmu.Lock()
					dev.Write([][]byte{bufs[i][:frameOff+len(reply)]}, frameOff)
					wmu.Unlock()
				}
				continue
			case header.EtherTypeIPv4:
			default:
				e.runner.CountDrop(int16(ifIndex), packet.DropNotIPv4)
				continue
			}
			p.Reset()
			p.SetData(len(frame) - header.EthernetMinSize)
			if pass != 0 {
				markGSO(p, bufs[i][vnetOff:frameOff])
			}
			p.InIf = int16(ifIndex)
			copy(p.SrcMAC[:], frame[6:12])
			p.LinkBroadcast = frame[0]&1 != 0
			p.Timestamp = now
			batch = append(batch, p)
			pkts[i] = nil // the runner owns it now
		}
		if len(batch) > 0 {
			e.runner.Run(batch)
		}
		e.flush()
	}
	return nil
}

func (d *Dataplane) routineTick(ctx context.Context) {
	e := d.tick
	t := time.NewTicker(d.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.Env.Clock.Now()
		d.ARP.Tick(now)
		e.runner.Tick()
		e.flush()
	}
}
