// Package tcp_flags is the rules.match.tcp_flags plugin, as iptables
// --tcp-flags and --syn:
//
//	tcp_flags = { mask = ["syn", "ack", "fin", "rst"], set = ["syn"] }
//	tcp_flags = { mask = [...], set = [...], invert = true }
//	syn = true    # mask syn,rst,ack,fin set syn; false negates
//
// It matches TCP packets whose flags under mask equal set. Other packets
// never match.
//
// Hot path: Match allocates nothing.
package tcp_flags
