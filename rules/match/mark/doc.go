// Package mark is the rules.match.mark plugin: it matches the packet mark under a mask, mark = "0x1/0xff" (or 5, "!0x1"), as iptables -m mark.
//
// Hot path: Match allocates nothing.
package mark
