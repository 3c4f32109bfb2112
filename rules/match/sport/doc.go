// Package sport is the rules.match.sport plugin: it matches the TCP/UDP source port: a number, a range "a-b", a list, a port set ("@name"), or "!" for none of them. Packets without ports never match.
//
// Syntax:
//
//	sport = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package sport
