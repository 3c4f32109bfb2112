// Package icmperr generates the ICMP errors and TCP resets fwd sends, under
// the rules of RFC 1812 §4.3.2.7 and a per-destination rate limit.
//
// Place in the flow: any stage that wants an answer returns
// pipeline.Reject with pkt.RejectWith (a packet.RejectKind) and pkt.Drop
// set; the runner counts the drop and calls env.Rejecter, which Install
// sets to Generator.Reject. Reject builds the answer with the header
// builders into a packet from the runner's Injector; it runs from the
// Output hook, so conntrack marks it RELATED and NAT rewrites it like any
// packet fwd makes. Kinds: port (default), net, host and protocol
// unreachable, admin prohibited, tcp-reset (RFC 9293 reset generation),
// frag-needed with the egress interface's MTU (RFC 1191; from the mtu
// stage), TTL exceeded (from stage.ttl, which this package also provides
// at Forward) and reassembly time exceeded (from ipfrag's Tick).
//
// Errors quote the offending IP header and as much payload as fits in 576
// bytes (RFC 1812 §4.3.2.3). Their source is the address of the interface
// the offending packet arrived on, or — NFQUEUE mode, no interface — the
// offending packet's destination. Nothing is answered about an ICMP error,
// a packet to a broadcast or multicast address, a link-layer broadcast
// (pkt.LinkBroadcast, set by the device), a non-first fragment, a source
// that is not a unique host, or a packet fwd made itself; each refusal is
// counted by rule (Generator.Suppressed).
//
// Rate limit: a token bucket per destination (Limiter; [icmp] rate_limit
// messages a second, bursts of rate_burst), as Linux's icmp_ratelimit
// keeps one per peer. Frag-needed is exempt, as in Linux's
// icmpv4_xrlim_allow, so path MTU discovery never stalls. Suppressed
// errors are counted as drop.icmp-ratelimit (Generator.RateLimited,
// Drops); resets are not rate limited (Linux's REJECT does not limit
// them either).
//
// Allocation: Reject allocates nothing (the answer's buffer comes from
// the injector's pool). The limiter's table is allocated once. Buffers:
// Reject reads the rejected packet and never keeps or changes it.
// Goroutines: none; the limiter has its own mutex, the counters are
// atomic.
//
// RFCs: 792, 1122 §3.2.2, 1191 §4, 1812 §4.3.2.3-4.3.2.7 and §5.3.1,
// 9293 §3.10.7.1.
package icmperr
