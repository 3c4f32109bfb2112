// Package mac_src is the rules.match.mac_src plugin: mac_src =
// "00:11:22:33:44:55" (or "!...") matches the link-layer source the device
// recorded in pkt.SrcMAC, as iptables -m mac --mac-source. Valid where a
// received frame has one: prerouting, input, forward.
//
// Hot path: Match allocates nothing.
package mac_src
