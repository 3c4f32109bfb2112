// Package ct_mark is the rules.match.ct_mark plugin: it matches the connection mark under a mask, ct_mark = "0x1/0xff", as iptables -m connmark.
//
// Hot path: Match allocates nothing.
package ct_mark
