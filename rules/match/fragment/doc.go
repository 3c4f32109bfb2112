// Package fragment is the rules.match.fragment plugin: fragment = true
// matches second and further fragments of a datagram (iptables -f), false
// matches everything else (! -f). Useful in raw, before reassembly.
//
// Hot path: Match allocates nothing.
package fragment
