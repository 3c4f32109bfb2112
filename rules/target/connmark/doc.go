// Package connmark is the rules.target.connmark plugin, as iptables'
// CONNMARK: action = "connmark" with one of set_mark = "0x1[/0xff]" (the
// connection mark), save_mark = true (ct mark = packet mark under mask),
// restore_mark = true (packet mark = ct mark under mask); mask = "0xff"
// for save/restore (default all bits). It changes pkt.CTMark; conntrack
// stores it on the connection. Non-terminal.
package connmark
