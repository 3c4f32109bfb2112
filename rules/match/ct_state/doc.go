// Package ct_state is the rules.match.ct_state plugin: ct_state = ["new",
// "established", "related", "invalid", "untracked"] (or "!new") matches the
// conntrack state the conntrack stage put in pkt.CTState, as iptables -m
// conntrack --ctstate. Without conntrack (CTNone) only negated lists match.
//
// Hot path: Match allocates nothing.
package ct_state
