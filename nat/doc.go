// Package nat is fwd's network address translation: SNAT, MASQUERADE,
// DNAT, REDIRECT and NETMAP with port and ICMP identifier allocation,
// endpoint-independent mappings, hairpinning and ICMP error translation.
//
// # Place in the flow
//
// "stage.nat" runs right after "stage.rules.nat" at PREROUTING and OUTPUT
// (destination NAT, before routing, so the route follows the new
// destination) and at POSTROUTING (source NAT, before "stage.confirm").
// As in Linux (nf_nat_core.c), NAT is decided once, on a connection's
// first packet: the nat-table rule's spec (a *rules.NAT on pkt.NAT) is
// turned into a binding by rewriting the unconfirmed conntrack entry's
// reply tuple (conntrack.Conn.SetReplyTuple) and setting the SNAT/DNAT
// status bits; `conntrack -L` then shows the translation in the reply
// tuple and `ct_status = ["dnat"]` matches. Every later packet of the
// connection, in either direction, is rewritten from the two tuples of its
// entry: no rule runs again. See Stage for the table of what changes
// where.
//
// # Allocation (RFC 4787, RFC 5382, RFC 5508)
//
// A source NAT binding goes through a mapping: internal address and port
// (or ICMP identifier) -> external address and port, shared by every
// connection of that internal endpoint whatever its destination
// (endpoint-independent mapping, RFC 4787 REQ-1, RFC 5382 REQ-1). A
// mapping keeps the internal port when it is free (port preservation),
// else takes a free port of the same parity on the same side of 1024
// (REQ-3, REQ-4) from a per-(address, protocol) bitmap with summary words,
// so a pick is O(1) however full the range. It lives while connections use
// it (counted from conntrack's NEW and DESTROY events) and
// Options.MappingTimeout (default 5 minutes, never under 2: REQ-5) after the
// last one ends; since a connection ends no earlier than its last outbound
// packet, outbound traffic refreshes it (REQ-6). When the range is full
// the new connection is dropped as nat-exhausted; existing ones are not
// touched. Ports and addresses are picked by keyed hashes and a cursor:
// the same inputs in the same order give the same mappings (REQ-11).
//
// Flags: random starts the port search at a keyed hash instead of keeping
// the internal port; fully_random gives every connection its own random
// port (a per-connection mapping, so not endpoint-independent). Source
// address ranges are always paired (REQ-2: hash of the internal address),
// which is what persistent asks for; for DNAT address ranges persistent
// hashes the client address only, else client and destination (Linux's
// find_best_ips_proto). DNAT to several backends (a nat.Spec on pkt.NAT)
// picks by a hash of the client address or round robin.
//
// Filtering (REQ-8) is Options.Filtering. The default,
// address-and-port-dependent, is Linux's: only the conntrack entry admits
// packets from outside, so only the exact remote endpoint a connection was
// opened to gets in. With address-dependent or endpoint-independent
// filtering an inbound packet to a live mapping that matches no entry is
// admitted as a new connection DNATed to the mapping's internal endpoint
// (the filter rules still see it, with ct_status dnat). A packet to a live
// mapping that the filter refuses is dropped silently as nat-filtered:
// no RST and no ICMP error for an unsolicited SYN (RFC 5382 REQ-4).
// Packets to the router's address at ports no mapping holds are not NAT's
// business: they go to INPUT, where the filter decides.
//
// Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-2): a DNATed connection that
// leaves by the interface it came in on is source-NATed to the public
// address it was sent to, through the client's own mapping on that
// address ("external source IP address and port"), so the server answers
// through fwd. Options.NoHairpin turns this off.
//
// ICMP (RFC 5508): echo and the other queries are mapped by identifier
// like ports; an error quoting a translated packet (conntrack marks it
// RELATED and puts the connection it quotes in pkt.CT) has its outer
// address, the quoted addresses, ports or identifier, the quoted IP and
// transport checksums and the ICMP checksum rewritten, so traceroute and
// path-MTU discovery work from behind the NAT. An error conntrack finds
// INVALID that quotes a packet from one of the router's addresses (a
// packet never sent, or long forgotten) is dropped.
//
// # Buffers, allocation, goroutines
//
// Packets are rewritten in place in the pipeline's buffer, with
// incremental checksum updates (RFC 1624); fragments were reassembled
// before. Translating a packet of an existing connection allocates nothing
// and takes no lock. A new binding takes the State mutex and may allocate
// (a mapping, a port bitmap for a new external address). The package runs
// no goroutine: conntrack events are drained when a binding is made and
// on the pipeline's Tick.
package nat
