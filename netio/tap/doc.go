// Package tap is fwd's TAP device: the Ethernet link between fwd, acting
// as a router, and the Linux kernels (namespaces, VMs on a bridge) on the
// other side. In TAP mode every frame fwd routes enters and leaves here.
//
// Open creates a TAP device by name (IFF_TAP|IFF_NO_PI), or attaches to an
// existing persistent one, optionally with IFF_VNET_HDR and offloads
// (TUNSETVNETHDRSZ, TUNSETOFFLOAD: checksum, TCPv4 and UDP segmentation)
// and IFF_MULTI_QUEUE; it sets MTU, MAC and up state by rtnetlink, adds the
// device to a Linux bridge (IFLA_MASTER), and moves it into a network
// namespace (IFLA_NET_NS_FD, `ip link set dev X netns NS`); the file
// descriptors keep working after the move. Close removes a device Open
// created.
//
// I/O is batched in wireguard-go's style (tun.Device): Read(bufs, sizes,
// offset) and Write(bufs, offset) move many frames per call, each at
// bufs[i][offset:], the space before offset left for headers (the virtio
// header with IFF_VNET_HDR, and any link header the caller prepends). With
// offloads the kernel hands over GSO super-frames (up to 64 KiB of TCP or
// UDP with a partial checksum); Read cuts them into the segments the
// kernel would have sent without offload (Segment, after Linux's
// tcp_gso_segment and __udp_gso_segment) and completes partial checksums
// (CompleteChecksum, VIRTIO_NET_HDR_F_NEEDS_CSUM, as skb_checksum_help).
// Write merges runs of one TCP or UDP flow into GSO super-frames (gro.go),
// so the kernel behind the TAP handles a run as one packet. WriteGSO hands
// a super-frame to the kernel whole.
//
// Buffers: the caller owns bufs; Read and Write keep no reference after
// returning, except that a super-frame whose segments did not fit is
// copied into a per-queue 64 KiB stash (allocated once) and finished by
// the next Read. Allocation: Read and Write allocate nothing in steady
// state. Goroutines: none; each Queue is driven by one reader and one
// writer goroutine of the caller. Blocking reads wait in Go's poller, so
// Close unblocks them (os.ErrClosed).
//
// References: Linux drivers/net/tun.c, include/uapi/linux/virtio_net.h,
// include/uapi/linux/if_tun.h; the virtio 1.1 spec §5.1.6 (device
// operation: packet transmission); wireguard-go tun/offload_linux.go.
package tap
