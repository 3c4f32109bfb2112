// Package icmp_type is the rules.match.icmp_type plugin: icmp_type =
// "echo-request" | 8 | "3/4" | ["echo-request", "time-exceeded"] | "!..."
// matches ICMP packets by type and, when given, code (iptables
// --icmp-type, names from `iptables -p icmp -h`). Other packets never match.
//
// Hot path: Match allocates nothing.
package icmp_type
