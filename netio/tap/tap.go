package tap

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Config says which TAP device to open and how to set it up.
type Config struct {
	// Name is the device name (at most 15 bytes). An existing persistent
	// TAP of that name is attached to; otherwise a new one is created and
	// removed again by Close.
	Name string
	// MTU, when not zero, is set on the device.
	MTU int
	// MAC, when not zero, is the device's (the kernel side's) hardware
	// address. It is not the address fwd uses on the link (router.Iface.MAC):
	// the TAP is the far end of fwd's wire.
	MAC [6]byte
	// VnetHdr opens the device with IFF_VNET_HDR and enables checksum and
	// TCPv4 segmentation offload (plus UDP segmentation where the kernel
	// has it): the kernel then hands fwd GSO super-frames of up to 64 KiB
	// with partial checksums, which Read segments and completes.
	VnetHdr bool
	// Queues is the number of queues (file descriptors) to open; more than
	// one sets IFF_MULTI_QUEUE and the kernel spreads flows over them.
	Queues int
	// Bridge names an existing Linux bridge (in the namespace the device is
	// created in) to add the device to as a port.
	Bridge string
	// Netns, when set, is a network namespace to move the device into after
	// creation: a name under /run/netns (as `ip netns add` makes) or a path.
	// The device's file descriptors keep working after the move.
	Netns string
	// Down leaves the device down (by default Open brings it up).
	Down bool
}

// Device is an open TAP device with one or more queues.
//
// Locking: mu protects the link state (index, namespace); each Queue is
// used by one goroutine for reads and one for writes at a time.
type Device struct {
	name    string
	vnet    bool
	created bool // Open created the device: Close removes it
	queues  []*Queue

	mu     sync.Mutex
	index  int // ifindex in the device's current namespace
	nsFD   int // namespace the device is in; -1: the one it was opened in
	up     bool
	closed bool
}

// tunFlags returns the TUNSETIFF flags for cfg.
func tunFlags(cfg *Config) uint16 {
	f := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if cfg.VnetHdr {
		f |= unix.IFF_VNET_HDR
	}
	if cfg.Queues > 1 {
		f |= unix.IFF_MULTI_QUEUE
	}
	return f
}

// Offloads fwd asks for with VnetHdr: checksum, TCPv4 segmentation, and
// UDP segmentation (Linux 6.2+; dropped when refused). TSO6 is not
// requested, so the kernel segments IPv6 TCP itself; USO can only be had
// for both families at once (tun.c set_offload refuses USO4 alone), and
// IPv6 super-frames are counted as bad frames and dropped, as fwd drops
// IPv6 anyway.
const (
	offloadsBase = unix.TUN_F_CSUM | unix.TUN_F_TSO4
	offloadsUSO  = offloadsBase | unix.TUN_F_USO4 | unix.TUN_F_USO6
)

// Open creates or attaches to the TAP device cfg names, opens its queues,
// sets it up (MTU, MAC, bridge, namespace, up) and returns it. On error
// nothing is left behind.
func Open(cfg Config) (d *Device, err error) {
	if cfg.Name == "" || len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tap: bad device name %q", cfg.Name)
	}
	nq := max(cfg.Queues, 1)
	_, exists := ifIndexByName(cfg.Name)
	d = &Device{name: cfg.Name, vnet: cfg.VnetHdr, created: !exists, nsFD: -1}
	defer func() {
		if err != nil {
			d.Close()
			d = nil
		}
	}()
	for i := 0; i < nq; i++ {
		q, err := openQueue(cfg.Name, tunFlags(&cfg), cfg.VnetHdr)
		if err != nil {
			return nil, fmt.Errorf("tap: %s: queue %d: %w", cfg.Name, i, err)
		}
		q.dev = d
		d.queues = append(d.queues, q)
	}
	idx, ok := ifIndexByName(cfg.Name)
	if !ok {
		return nil, fmt.Errorf("tap: %s: device vanished after TUNSETIFF", cfg.Name)
	}
	d.index = idx
	r, err := dialRTNL(-1)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if cfg.MTU != 0 {
		if err := r.setMTU(d.index, cfg.MTU); err != nil {
			return nil, fmt.Errorf("tap: %s: set mtu %d: %w", cfg.Name, cfg.MTU, err)
		}
	}
	if cfg.MAC != ([6]byte{}) {
		if err := r.setMAC(d.index, cfg.MAC); err != nil {
			return nil, fmt.Errorf("tap: %s: set address: %w", cfg.Name, err)
		}
	}
	if cfg.Bridge != "" {
		if err := d.AddToBridge(cfg.Bridge); err != nil {
			return nil, err
		}
	}
	if !cfg.Down {
		if err := d.SetUp(true); err != nil {
			return nil, err
		}
	}
	if cfg.Netns != "" {
		if err := d.MoveToNetnsNamed(cfg.Netns); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func openQueue(name string, flags uint16, vnet bool) (*Queue, error) {
	uso := false
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	if vnet {
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, VirtioNetHdrLen); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloadsUSO); err != nil {
			if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloadsBase); err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
			}
		} else {
			uso = true
		}
	}
	q, err := newQueue(os.NewFile(uintptr(fd), "/dev/net/tun:"+name), vnet)
	if q != nil {
		q.uso = uso
	}
	return q, err
}

// Name returns the device name.
func (d *Device) Name() string { return d.name }

// Index returns the device's ifindex in the namespace it is in now.
func (d *Device) Index() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.index
}

// VnetHdr reports whether frames carry a virtio_net_hdr on the file
// descriptor (Read and Write handle it; callers leave VirtioNetHdrLen bytes
// of headroom, see Queue.Read).
func (d *Device) VnetHdr() bool { return d.vnet }

// Created reports whether Open created the device (so Close removes it).
func (d *Device) Created() bool { return d.created }

// Queues returns the device's queues; a worker goroutine owns each.
func (d *Device) Queues() []*Queue { return d.queues }

// Read reads from the first queue; see Queue.Read.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return d.queues[0].Read(bufs, sizes, offset)
}

// Write writes to the first queue; see Queue.Write.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	return d.queues[0].Write(bufs, offset)
}

// SetPassGSO makes Read return the super-frames of the GSO types in mask
// (PassTCP, PassUDP) whole, as one frame of up to 64 KiB, instead of
// cutting them into segments: the virtio header is left in the
// VirtioNetHdrLen bytes before offset (its HdrLen set to the Ethernet, IP
// and transport header bytes), and the transport checksum stays partial
// (the field holds the pseudo-header sum; VIRTIO_NET_HDR_F_NEEDS_CSUM). A
// router that forwards them whole (WriteVnet) moves 64 KiB per system
// call and per pipeline run. It returns the types it will pass: none
// without VnetHdr, UDP only when the kernel took the USO offloads.
func (d *Device) SetPassGSO(mask uint8) uint8 {
	mask &= d.GSOTypes()
	for _, q := range d.queues {
		q.pass.Store(uint32(mask))
	}
	return mask
}

// GSOTypes returns the GSO types (PassTCP, PassUDP) the device's kernel
// side takes as super-frames, on writes and reads: TCPv4 with VnetHdr,
// UDP when the kernel also took the USO offloads (Linux 6.2+).
func (d *Device) GSOTypes() uint8 {
	if !d.vnet {
		return 0
	}
	t := uint8(PassTCP)
	if d.queues[0].uso {
		t |= PassUDP
	}
	return t
}

// WriteVnet writes to the first queue; see Queue.WriteVnet.
func (d *Device) WriteVnet(bufs [][]byte, offset int) (int, error) {
	return d.queues[0].WriteVnet(bufs, offset)
}

// NumQueues returns how many queues the device has.
func (d *Device) NumQueues() int { return len(d.queues) }

// QueueIO returns queue i (router.QueueIO's shape): a worker per queue
// reads and writes it.
func (d *Device) QueueIO(i int) interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	WriteVnet(bufs [][]byte, offset int) (int, error)
} {
	return d.queues[i]
}

// SegmentGSO is Segment with the virtio header given as its 10 bytes
// (hdr), for callers that hold frames as a TAP reads them.
func (d *Device) SegmentGSO(frame, hdr []byte, bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(hdr) < VirtioNetHdrLen {
		return 0, ErrBadGSOFrame
	}
	var h VirtioNetHdr
	h.Decode(hdr)
	return Segment(frame, h, bufs, sizes, offset)
}

// BatchSize is the number of buffers Read can fill in one call that fwd's
// device loops pass (wireguard-go's tun.Device.BatchSize): enough for one
// 64 KiB TSO super-frame cut into 1448-byte segments, twice over.
func (d *Device) BatchSize() int { return 128 }

// withRTNLLocked runs fn with a route netlink connection in the device's
// current namespace. d.mu is held.
func (d *Device) withRTNLLocked(fn func(r *rtnl) error) error {
	r, err := dialRTNL(d.nsFD)
	if err != nil {
		return err
	}
	defer r.close()
	return fn(r)
}

// SetUp brings the device up or down (`ip link set dev X up|down`).
func (d *Device) SetUp(up bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.withRTNLLocked(func(r *rtnl) error {
		if err := r.setUp(d.index, up); err != nil {
			return fmt.Errorf("tap: %s: set up=%v: %w", d.name, up, err)
		}
		d.up = up
		return nil
	})
}

// SetMTU sets the device's MTU.
func (d *Device) SetMTU(mtu int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.withRTNLLocked(func(r *rtnl) error { return r.setMTU(d.index, mtu) })
}

// Link returns the device's MTU and hardware address as the kernel has
// them now.
func (d *Device) Link() (mtu int, mac [6]byte, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	err = d.withRTNLLocked(func(r *rtnl) error {
		li, err := r.getLink(d.index, "")
		mtu, mac = li.MTU, li.MAC
		return err
	})
	return mtu, mac, err
}

// AddToBridge adds the device as a port of the Linux bridge named br, in
// the device's current namespace (`ip link set dev X master BR`).
func (d *Device) AddToBridge(br string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.withRTNLLocked(func(r *rtnl) error {
		li, err := r.getLink(0, br)
		if err != nil {
			return fmt.Errorf("tap: %s: bridge %q: %w", d.name, br, err)
		}
		if err := r.setMaster(d.index, li.Index); err != nil {
			return fmt.Errorf("tap: %s: add to bridge %q: %w", d.name, br, err)
		}
		return nil
	})
}

// MoveToNetns moves the device into the network namespace nsFD refers to
// (an open /run/netns/NAME or /proc/PID/ns/net), as `ip link set dev X
// netns NS` does, and brings it up there again if it was up (the kernel
// takes a device down when it changes namespace). The queues' file
// descriptors keep working: they belong to the device, not the namespace.
// The device keeps its own duplicate of nsFD.
func (d *Device) MoveToNetns(nsFD int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	own, err := unix.FcntlInt(uintptr(nsFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tap: %s: netns fd: %w", d.name, err)
	}
	err = d.withRTNLLocked(func(r *rtnl) error { return r.setNetns(d.index, own) })
	if err != nil {
		unix.Close(own)
		return fmt.Errorf("tap: %s: move to netns: %w", d.name, err)
	}
	if d.nsFD >= 0 {
		unix.Close(d.nsFD)
	}
	d.nsFD = own
	return d.withRTNLLocked(func(r *rtnl) error {
		li, err := r.getLink(0, d.name)
		if err != nil {
			return fmt.Errorf("tap: %s: after move to netns: %w", d.name, err)
		}
		d.index = li.Index
		if d.up {
			if err := r.setUp(d.index, true); err != nil {
				return fmt.Errorf("tap: %s: up in netns: %w", d.name, err)
			}
		}
		return nil
	})
}

// MoveToNetnsNamed is MoveToNetns for a namespace named as `ip netns`
// names it (a file under /run/netns), or given by path.
func (d *Device) MoveToNetnsNamed(ns string) error {
	path := ns
	if !strings.ContainsRune(ns, '/') {
		path = "/run/netns/" + ns
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tap: %s: netns %q: %w", d.name, ns, err)
	}
	defer unix.Close(fd)
	return d.MoveToNetns(fd)
}

// Close closes every queue. A device Open created is removed: closing the
// last queue of a non-persistent TAP unregisters it in whatever namespace
// it is in, and Close deletes it by netlink too in case something made it
// persistent meanwhile. Close is idempotent.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, q := range d.queues {
		if err := q.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.created && d.index != 0 {
		// Normally gone already; a persistent one is deleted here.
		if r, err := dialRTNL(d.nsFD); err == nil {
			if li, err := r.getLink(d.index, ""); err == nil && li.Name == d.name {
				if err := r.delLink(d.index); err != nil {
					errs = append(errs, fmt.Errorf("tap: %s: delete: %w", d.name, err))
				}
			}
			r.close()
		}
	}
	if d.nsFD >= 0 {
		unix.Close(d.nsFD)
		d.nsFD = -1
	}
	return errors.Join(errs...)
}
