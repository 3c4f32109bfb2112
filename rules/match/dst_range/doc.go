// Package dst_range is the rules.match.dst_range plugin: it matches a destination address range, dst_range = "a.b.c.d-e.f.g.h" (or "!a-b"), as iptables -m iprange --dst-range.
//
// Hot path: Match allocates nothing.
package dst_range
