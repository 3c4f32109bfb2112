// Package reject is the rules.target.reject plugin: action = "reject",
// reject_with = "icmp-port-unreachable" (default) | "icmp-net-unreachable"
// | "icmp-host-unreachable" | "icmp-proto-unreachable" |
// "icmp-admin-prohibited" (also "icmp-host-prohibited",
// "icmp-net-prohibited") | "tcp-reset" (needs proto = "tcp"). It drops the
// packet and sets pkt.RejectWith; icmperr answers through OUTPUT. As
// iptables' REJECT it is valid in the filter table only (input, forward,
// output).
package reject
