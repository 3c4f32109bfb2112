// Package notrack is the rules.target.notrack plugin: action = "notrack"
// (raw table only, as iptables' CT --notrack) marks the packet untracked
// (pkt.CTState = CTUntracked): conntrack leaves it alone and ct_state
// "untracked" matches it. Non-terminal.
package notrack
