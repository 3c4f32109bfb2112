// Package offload is the rules.target.offload plugin: action = "offload"
// (filter table, forward chain; nftables' "flow add @ft", OpenWrt's
// iptables FLOWOFFLOAD target) puts the packet's connection on the
// flowtable's fast path (package flowtable). Non-terminal.
package offload
