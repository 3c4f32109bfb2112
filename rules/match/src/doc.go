// Package src is the rules.match.src plugin: it matches the IPv4 source address: an address, a prefix, a list, a named set ("@name" of type ipv4_addr, ipv4_net or ipv4_addr_port), or "!" for none of them. Runs of rules with src share one index (see rules/doc.go).
//
// Syntax:
//
//	src = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package src
