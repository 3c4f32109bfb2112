// Package proto is the rules.match.proto plugin: proto = "tcp" | 17 |
// ["tcp", "udp"] | "!icmp" matches the IPv4 protocol field, as iptables -p.
//
// Hot path: Match allocates nothing.
package proto
