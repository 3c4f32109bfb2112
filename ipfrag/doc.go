// Package ipfrag reassembles IPv4 fragments before any rule or conntrack
// looks at a packet, and tells the egress how to fragment again.
//
// Place in the flow: "stage.defrag" runs at Prerouting right after parse
// (as Linux's nf_defrag_ipv4 at priority -400, before raw). A fragment is
// copied into its datagram's queue and the packet is Stolen (the runner
// hands it back to the device). The fragment that completes a datagram
// has its packet rewritten in place into the whole datagram
// (pkt.MaxFrag = the largest fragment seen) and goes on. Forwarded
// datagrams get their path MTU check in icmperr's stage.ttl at Forward,
// before SNAT, as in Linux's ip_forward. "stage.mtu" runs last at
// Postrouting for everything else (what fwd sends itself): a datagram with DF set that is larger than the
// egress MTU (or, when reassembled in transit, whose largest fragment
// was) is rejected with frag-needed, which icmperr answers with ICMP
// destination unreachable code 4 and the MTU (RFC 1191). A larger
// datagram without DF goes on whole and the egress cuts it with Fragment
// to EgressSize (RFC 791 §3.2), because packets injected by a stage
// re-enter at OUTPUT.
//
// Reassembly (Reassembler): queues are keyed by (source, destination,
// protocol, identification) (RFC 791); fragments may come in any order and
// duplicated. Overlaps follow the configured Policy: "drop" (Linux since
// FragmentSmack, RFC 5722 applied to IPv4) or a target-based one (first,
// last, bsd, linux, windows, solaris; Novak 2005, as Snort and Suricata
// implement them). Because every fragment is reassembled before the
// rules run — even 8-byte ones, as Linux does — the tiny-fragment and
// overlapping-fragment tricks of RFC 1858 cannot hide TCP flags or ports
// from the rules.
//
// Bounds, each counted under its own drop reason: a datagram must be
// whole within Timeout of its first fragment's arrival (frag-timeout);
// all queues together hold at most HighThresh bytes, and a fragment that
// would pass it evicts the oldest queues down to LowThresh (frag-memory);
// at most MaxFrags fragments per datagram (frag-too-many); no datagram
// over 65 535 bytes (frag-too-big); a zero-length fragment, or one with
// MF set whose length is not a multiple of 8, or one that disagrees with
// the datagram's last fragment (frag-bad-length); partial overlaps under
// "drop" (frag-overlap). The fragment handed to Add is counted by the
// pipeline through its Drop verdict; fragments already held when their
// datagram dies are counted by the Reassembler (Drops) — the lead adds
// them to the pipeline's stats.
//
// Reassembly timeout and ICMP. RFC 792 and RFC 1122 §3.3.2 ask the host
// that gives up on a datagram whose fragment zero it holds to send ICMP
// time exceeded code 1. RFC 1812 §4.2.2.8 asks a router to reassemble
// only the datagrams it delivers to itself; fragments in transit are
// forwarded as they come, so a router never times out a transit
// reassembly and never sends that message about one. fwd reassembles
// transit traffic only to see whole datagrams, as Linux's conntrack
// defrag does, and behaves as an RFC 1812 router towards it: like Linux
// (ip_expire with frag_expire_skip_icmp: "Only an end host needs to send
// an ICMP 'Fragment Reassembly Timeout' message, per RFC792") it sends
// the message only when the datagram was addressed to one of its own
// interface addresses, where it is the end host. For transit traffic the
// sender's transport notices the loss exactly as if a router downstream
// had dropped a fragment; an ICMP from fwd would claim an end host's role
// it does not have (and would leak that a middlebox reassembles).
// Expired queues are reaped incrementally (oldest first, on every
// fragment and on Tick); the messages are sent from Tick through
// env.Rejecter, so icmperr's RFC 1812 checks and rate limit apply.
//
// Allocation: Add allocates nothing in steady state. Queues and their
// payload buffers (size classes 2 KiB to 64 KiB, so accounting matches
// what is held) are recycled through free lists kept under the low
// threshold; the map of queues is sized at New. Fragment allocates
// nothing and writes into buffers the caller owns.
//
// Buffers: Add copies what it needs from the fragment; when it completes a
// datagram it writes into the out buffer it is given (the completing
// packet's own buffer). Nothing is kept that the pipeline owns.
//
// Goroutines: none. One mutex guards a Reassembler; every runner shares
// it.
//
// RFCs: 791 (fragmentation and reassembly), 815 (hole bookkeeping, here a
// sorted list of held runs), 1122 §3.3.2, 1191 §4, 1812 §4.2.2.7-8
// (fragmentation and reassembly by routers), 1858 (tiny and overlapping fragments), 5722
// (overlap handling, applied to IPv4 as Linux does), 6864 (identification
// of atomic datagrams).
package ipfrag
