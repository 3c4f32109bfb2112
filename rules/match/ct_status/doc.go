// Package ct_status is the rules.match.ct_status plugin: ct_status =
// ["assured", "seen_reply", "expected", "confirmed", "snat", "dnat"] (or
// "!assured") matches when any named bit is set in pkt.CTStatus, as
// iptables -m conntrack --ctstatus.
//
// Hot path: Match allocates nothing.
package ct_status
