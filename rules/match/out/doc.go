// Package out is the rules.match.out plugin: it matches the output interface by configured name, with "+" wildcard, a list, or "!". Not allowed before routing (prerouting, input).
//
// Syntax:
//
//	out = VALUE | [VALUE, ...] | "!VALUE,VALUE"
//
// Hot path: Match allocates nothing.
package out
