// Package src_range is the rules.match.src_range plugin: it matches a source address range, src_range = "a.b.c.d-e.f.g.h" (or "!a-b"), as iptables -m iprange --src-range.
//
// Hot path: Match allocates nothing.
package src_range
