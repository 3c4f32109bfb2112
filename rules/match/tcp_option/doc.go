// Package tcp_option is the rules.match.tcp_option plugin: tcp_option =
// "mss" | 8 | ["sack", "timestamp"] | "!wscale" matches TCP segments that
// carry any of the options (kinds by number or name: mss, wscale,
// sack_permitted, sack, timestamp), as iptables --tcp-option.
//
// Hot path: Match walks the option bytes in place and allocates nothing.
package tcp_option
