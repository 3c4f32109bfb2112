// Package connlimit is the rules.match.connlimit plugin: it counts the
// connections of each source (or destination) address or prefix and
// matches when the count is above a limit, as iptables -m connlimit:
//
//	connlimit = 10                                    # above 10, per source address
//	connlimit = { above = 10, prefix = 24, mode = "src", timeout = "5m" }
//	connlimit = { upto = 10 }                         # match while at most 10
//
// Counting: the conntrack table (conntrack.table) has no per-source count
// to ask, and walking it per packet is out of the question, so the match
// keeps its own counts: a connection (its original-direction 5-tuple) is
// added when a packet in state NEW (or CTNone without conntrack) reaches
// the match, refreshed by every later packet of it that reaches the match,
// dropped on RST or FIN, and forgotten after timeout idle (default 5
// minutes). Put the rule where every packet of the connection passes it
// (before an established-accept) for exact counts, or accept that a quiet
// connection ages out. Adding a connection allocates; steady packets don't.
package connlimit
