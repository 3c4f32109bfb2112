// Package length is the rules.match.length plugin: length = "min-max" |
// N | "!min-max" matches the IP total length, as iptables -m length.
//
// Hot path: Match allocates nothing.
package length
