// Package in is the rules.match.in plugin: it matches the input interface by configured name, with iptables' "+" wildcard ("eth+"), a list, or "!". Not allowed where packets have no input interface (output, postrouting).
//
// Syntax:
//
//	in = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package in
