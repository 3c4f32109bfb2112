// Package router is fwd's layer-3 router for TAP mode: its interfaces,
// neighbour (ARP) cache, routing table, and the route and local-delivery
// stages.
//
// Place in the flow: the TAP dataplane (dataplane.go) reads Ethernet
// frames; ARP frames go to ARP.Input (which learns and answers), IPv4
// datagrams run through the pipeline, where "stage.route" (Prerouting and
// Output) picks Input or Forward, the egress interface and the next hop by
// longest-prefix match (route.go), and "stage.local" (the last Input stage)
// answers what is addressed to the router: ICMP echo, a TCP reset, an ICMP
// port unreachable (local.go). On the way out, ARP.Resolve gives the next
// hop's MAC; a packet whose next hop is unknown is held (ARP.Hold, bounded
// per next hop) while requests go out, released when the answer comes
// (ARP.Release) and given up on after three unanswered requests a second
// apart, when ICMP host unreachable answers it (ARPConfig.Failed). Encap
// writes the Ethernet header into the packet's headroom.
//
// GSO (gso.go): with a GSODevice (a TAP with offloads) the dataplane asks
// Read to pass TCP and UDP super-frames of up to 64 KiB whole when another
// device takes them whole on write; one pipeline run and one write then
// move 64 KiB. The segment size rides in pkt.Meta and pkt.MaxFrag (what the
// MTU stage measures a DF datagram by); on egress the super-frame is
// written whole with a partial checksum, or cut by the device it came from
// when the egress takes no such frames or its segments exceed the MTU.
//
// Allocation: Resolve on a hit, Input, the route and local stages allocate
// nothing; the ARP cache allocates when it creates an entry or first holds
// a packet for it. Buffers: ARP.Input writes its reply over the request's
// own frame; the frames ARP transmits live in a cache buffer valid during
// the Transmit call only; held packets belong to the cache until Release or
// Failed hands them back. Goroutines: the dataplane runs one worker per
// device and one ticker (ARP.Tick for retries and expiry); the ARP cache
// locks internally, and tables are immutable once built.
//
// RFCs: 826 (ARP), 1122 §2.3.2 (ARP cache, one request a second), 5227
// (gratuitous ARP, probes), 792 and 1122 §3.2.2.6 (echo), 1812 (router
// requirements: §5.2.4.3 longest match, §5.2.7.1 unreachables, §4.3.2.7
// when not to send ICMP errors), 9293 §3.10.7.1 (reset for a closed port).
package router
