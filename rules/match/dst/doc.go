// Package dst is the rules.match.dst plugin: it matches the IPv4 destination address: an address, a prefix, a list, a named set ("@name"), or "!" for none of them. Runs of rules with dst share one index.
//
// Syntax:
//
//	dst = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package dst
