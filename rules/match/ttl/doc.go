// Package ttl is the rules.match.ttl plugin: ttl = { eq = N } | { lt = N }
// | { gt = N } | { ne = N } compares the IP TTL, as iptables -m ttl. In
// forward the TTL is already decremented (the ttl stage runs first), as in
// Linux.
//
// Hot path: Match allocates nothing.
package ttl
