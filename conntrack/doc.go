// Package conntrack tracks connections, as Linux's nf_conntrack does:
// tuples for both directions, a bounded table, the TCP state machine with
// van Rooij window tracking, UDP and ICMP, ICMP errors RELATED to the
// connection they quote, and the ctstate every packet leaves with.
//
// Place in the flow: "stage.conntrack" runs at PREROUTING (and OUTPUT, for
// packets fwd makes) after the raw rules and before mangle/nat/filter. It
// sets pkt.CT (a *Conn), CTState (NEW, ESTABLISHED, RELATED, INVALID;
// UNTRACKED packets from a notrack rule are skipped), CTStatus, CTReply
// and CTMark. INVALID packets go on without an entry; the rules decide
// (conntrack itself never drops them). A new connection lives outside the
// table, unconfirmed, until "stage.confirm" at the end of POSTROUTING or
// INPUT inserts it (__nf_conntrack_confirm): a packet the rules drop
// leaves no entry. NAT changes an unconfirmed connection's reply tuple
// (Conn.SetReplyTuple) and status bits before that. Every stage shares one
// Table through Env.Shared("conntrack.table"); FromEnv returns it.
//
// Table layout: 64 shards, each with its own mutex, a slab of Conns in
// chunks of 256, and two open-addressing indexes (index.go): main, with
// 4-byte slots for the shard's own connections (one slot serves both
// tuples of a connection without NAT), sized for max_entries so it mostly
// stays in cache; and alias, for NATed reply tuples of other shards'
// connections. A Conn (192 bytes) holds no Go pointers, so the GC does
// not scan the slabs. The tuple hash is seeded and symmetric, so both
// tuples of a connection without NAT sit in one shard: one lock per
// packet either way. Memory is about 205 bytes per connection at 1M
// entries, index included.
//
// Batches (prefetch.go): the runner calls Stage.Prefetch on a sub-batch
// before Process on each packet. It hashes every packet's tuple, starts
// loading the index slots, then reads them and starts loading the Conns
// they name, without locks (the indexes and slab chunks are published
// with atomics); each packet keeps the hash and the Conn as a hint
// (pkt.CTHash, pkt.CTHint) that lookup checks under the lock. At 1M
// connections this overlaps the two misses of 32 lookups instead of
// paying them one after another (about 130 ns a packet instead of 460).
// A plain ACK of an ASSURED, ESTABLISHED connection inside every window
// bound takes tcpEstablished, which does what the general tracker does
// for it without the checks that cannot apply (FuzzTCPFastPath holds the
// two to the same result).
//
// Offload (offload.go): Table.Offload puts a connection on the
// flowtable's fast path (status OFFLOAD, Linux's IPS_OFFLOAD), which
// runs before conntrack: conntrack no longer sees its packets, and a TCP
// connection's windows are no longer checked (nft_flow_offload_eval's
// liberal flags). The fast path hands over counts and restarts the
// timeout through Refresh, once a second per direction; a packet it
// cannot finish tears the offload down (Teardown), and so do leaving
// ESTABLISHED, the connection's end and ClearOffload (a reload): the
// flow table's entries go (the FlowTable interface), their counts join
// the connection's, and both TCP windows are forgotten, to be picked up
// from the next segments as Linux's flow_offload_fixup_tcp does (the
// state machine goes on; the windows stay unchecked).
//
// Owner and Owners name the worker a packet's connection belongs to (its
// home shard mod the workers), for a device that steers packets so that
// every packet of a connection, both directions and both sides of the
// NAT, runs on one worker.
//
// Limits and expiry: max_entries is enforced at insertion; when full, the
// oldest entry that is not ASSURED is evicted (early_drop, looking at 8
// shards first, then all); when every entry is ASSURED, a TCP connection
// that is closing (FIN_WAIT to TIME_WAIT, as Linux's tcp_can_early_drop)
// goes instead, and only when nothing can go is the packet dropped as
// table-full. Timeouts run on the pipeline clock. Expired
// entries are freed when a lookup meets them, by inserts (a few slab
// slots every 16), and by the stage's Tick (ReapTick), which visits a
// few slots of every shard plus as many as the shard's lookups since the
// last tick ask for. There is no goroutine per entry and no sweep of the
// whole table. Listing and
// deleting hold a shard's lock for 256 slab slots at a time at most.
//
// Allocation: the per-packet path allocates nothing. Unconfirmed
// connections come from a sync.Pool (a packet dropped before confirm
// leaves its Conn to the garbage collector); slab chunks are allocated as
// shards grow. Listing, Delete and events copy entries.
//
// Buffers: conntrack reads pkt.Parsed only; it never keeps the packet.
// pkt.CT stays valid while the packet is in the pipeline; a freed slot is
// reused last (FIFO free list), and Conn.Gen tells a reuse.
//
// Goroutines: none. Events go to subscribers' bounded channels; a full
// channel drops the event and counts it (Subscription.Dropped).
//
// Specifications: RFC 9293 (TCP, the endpoint states shown by
// -o extended), RFC 7323 (window scaling, timestamps), RFC 2018 (SACK),
// RFC 5961 (challenge ACKs), RFC 792/1122 (ICMP queries and errors);
// Linux's nf_conntrack_proto_{tcp,udp,icmp}.c and nf_conntrack_core.c are
// the behavioural reference, OpenBSD pf for the sequence check of TCP
// quoted in ICMP errors.
package conntrack
