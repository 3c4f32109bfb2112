// Package hashlimit is the rules.match.hashlimit plugin: one token bucket
// per source (or destination) address or prefix, as iptables -m hashlimit:
//
//	hashlimit = { rate = "10/second", burst = 5, mode = "src", prefix = 32, size = 1024, above = false }
//
// It matches while the packet's bucket has a token (or, with above = true,
// when it has none). The table is bounded: size slots, direct-mapped by a
// hash of the key; a colliding key takes the slot over with a full bucket
// (so a flood of distinct sources costs memory in no case). An idle bucket
// refills by itself, so no expiry timer is needed.
//
// Hot path: Match takes one of 64 striped mutexes and allocates nothing.
package hashlimit
