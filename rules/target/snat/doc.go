// Package snat is the rules.target.snat plugin: action = "snat" with the NAT
// keys (to, to_ports, random, fully_random, persistent) parsed and checked
// here into a *rules.NAT; the nat package does the translation. The target
// puts the spec on the packet (pkt.NAT) and ends the nat-table walk. See
// rules.Decoder.DecodeNAT for where it is valid.
package snat
