// Package flowtable is fwd's fast path for offloaded connections, the
// userspace counterpart of Linux's nftables flowtable at the ingress hook
// (and OpenWrt's FLOWOFFLOAD target).
//
// A rule in the filter table's forward chain with action = "offload"
// puts an established connection on the fast path (Stage.Offload, through
// conntrack.Table.Offload; conntrack -L shows [OFFLOAD]). That makes two
// entries in the flow table (Table), one per direction, keyed by the
// tuple the direction's packets carry and the interface they must arrive
// on (where their source is routed), each holding what its packets
// become: the addresses and ports after NAT at both ends, the output
// interface, the next hop and the MTU there.
//
// The flowtable stage runs at PREROUTING right after reassembly, before
// conntrack and every table. A TCP or UDP packet found in the flow table
// is rewritten (NAT of both ends and the TTL, each checksum updated once),
// given its output interface and next hop, and handed to the device
// (packet.Done). Conntrack, the rules, mangle and nat do not see it, and
// rule counters do not count it (as with Linux's flowtable). Its counts
// and the connection's timeout reach conntrack once a second per
// direction (conntrack.Table.Refresh); conntrack -L adds what is pending.
//
// What the fast path does not do, as Linux's does not: check TCP
// sequence windows. A segment out of the window passes, where conntrack
// would have found it INVALID; and as nft_flow_offload_eval does,
// offloading a TCP connection makes conntrack stop checking its windows
// for good (it no longer sees every segment).
//
// What still goes the slow path:
//   - a TCP SYN, FIN or RST, a packet with TTL 1 (time exceeded), and one
//     larger than the egress MTU (fragmentation needed, refragmentation)
//     first tear the offload down (conntrack.Table.Teardown,
//     flow_offload_teardown): the connection is tracked again, its TCP
//     state machine picking the windows up from the next segments
//     (flow_offload_fixup_tcp),
//     and the packet passes conntrack and the rules, which may offload the
//     connection again;
//   - a packet with the connection's tuple that arrives on another
//     interface (spoofed, or an asymmetric path) is not in the table: it
//     passes conntrack, which finds it ESTABLISHED, and the rules judge
//     it;
//   - a reload takes every connection off the fast path: the new rules
//     decide again on the next packet.
//
// The flow table is read without a lock. Entries live in chunks that are
// never freed, chained from a fixed array of buckets; writers (an offload,
// a teardown, a connection's end) hold the table's mutex, always after
// the connection's conntrack shard lock. Each entry has a sequence number,
// odd while it is written, changed whenever it is reused: a reader that
// raced a writer walks the chain again, and at worst misses, which sends
// the packet the slow path. A freed entry is reused last (FIFO). Every
// field is an atomic, so the race detector agrees. Nothing on the packet
// path allocates; an offload allocates a chunk of 1 024 entries when the
// table grows into it.
//
// In NFQUEUE mode the kernel forwards and the stage is idle.
package flowtable
