// Package flowtable is fwd's fast path for offloaded connections, the
// userspace counterpart of Linux's nftables flowtable (and OpenWrt's
// FLOWOFFLOAD target).
//
// A rule in the filter table's forward chain with action = "offload"
// marks an established connection offloaded (conntrack.Table.Offload;
// conntrack -L shows [OFFLOAD]). From then on the flowtable stage, which
// runs at PREROUTING right after conntrack, takes each of its packets
// through the rest of the router in one step: it routes the packet by
// its destination after NAT, checks the TTL and the egress MTU, applies
// the connection's NAT to both ends and decrements the TTL, and hands the
// packet to the device (packet.Done). No rule, mangle or nat chain runs on
// it, and the rule counters do not count it (as with Linux's flowtable).
//
// What stays as without offload:
//   - conntrack tracks every packet (window checks, counters, timeouts);
//     an out-of-window segment is INVALID and goes the slow path, where
//     the rules see it;
//   - a TCP connection leaving ESTABLISHED (FIN, RST) stops being
//     offloaded, so its teardown passes the rules;
//   - a packet the fast path cannot finish (TTL 1, larger than the egress
//     MTU, no route after a change) goes the slow path, which answers it
//     as usual (time exceeded, fragmentation needed, refragmentation);
//   - so does one that arrives on another interface than the one its
//     source is routed by (spoofed, or an asymmetric path): Linux's
//     flowtable matches the input interface too;
//   - a reload takes every connection off the fast path: the new rules
//     decide again on the next packet.
//
// In NFQUEUE mode the kernel forwards and the stage is idle.
package flowtable
