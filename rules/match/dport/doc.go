// Package dport is the rules.match.dport plugin: it matches the TCP/UDP destination port: a number, a range "a-b", a list, a port set ("@name"), or "!" for none of them. Packets without ports never match. Runs of rules with dport share one direct port table.
//
// Syntax:
//
//	dport = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package dport
