package pipeline

import "fwd/packet"

// Slot places one stage at one hook.
type Slot struct {
	Hook packet.Hook
	ID   string
}

// Order is the one stage order of fwd. Ordering is VERY important: it is
// netfilter's priority order at each hook (raw before conntrack, then
// mangle, nat, filter), with fwd's own stages (parse, defrag, route, ttl,
// mtu) where the kernel does the same work.
//
// Received packets start at the first slot with Hook = Prerouting. The route
// stage moves them to Input or Forward. Packets fwd makes itself start at
// the first Output slot. Forward and Output packets move on to Postrouting.
// A stage whose ID is not registered (its package is not linked) is
// skipped, so the order can name stages before they exist.
var Order = []Slot{
	// Before any hook: decode and validate, reassemble (nf_defrag_ipv4 runs
	// at priority -400, before raw).
	{packet.Prerouting, "stage.parse"},
	{packet.Prerouting, "stage.defrag"},
	{packet.Prerouting, "stage.flowtable"},    // offloaded connections: the whole path at once (nft's ingress flowtable)
	{packet.Prerouting, "stage.rules.raw"},    // NF_IP_PRI_RAW (-300)
	{packet.Prerouting, "stage.conntrack"},    // NF_IP_PRI_CONNTRACK (-200)
	{packet.Prerouting, "stage.rules.mangle"}, // NF_IP_PRI_MANGLE (-150)
	{packet.Prerouting, "stage.rules.nat"},    // NF_IP_PRI_NAT_DST (-100): DNAT, REDIRECT
	{packet.Prerouting, "stage.nat"},          // apply the binding (both directions)
	{packet.Prerouting, "stage.route"},        // routing decision: Input or Forward

	{packet.Input, "stage.rules.mangle"},
	{packet.Input, "stage.rules.filter"},
	{packet.Input, "stage.rules.nat"}, // NF_IP_PRI_NAT_SRC at input (SNAT to local)
	{packet.Input, "stage.nat"},
	{packet.Input, "stage.confirm"}, // a locally delivered packet is confirmed here
	{packet.Input, "stage.local"},   // local delivery: ARP, echo, RST/port unreachable

	{packet.Forward, "stage.ttl"}, // TTL check and decrement (ip_forward)
	{packet.Forward, "stage.rules.mangle"},
	{packet.Forward, "stage.rules.filter"},

	{packet.Output, "stage.parse"},
	{packet.Output, "stage.rules.raw"},
	{packet.Output, "stage.conntrack"},
	{packet.Output, "stage.rules.mangle"},
	{packet.Output, "stage.rules.nat"},
	{packet.Output, "stage.nat"},
	{packet.Output, "stage.route"},
	{packet.Output, "stage.rules.filter"},

	{packet.Postrouting, "stage.rules.mangle"},
	{packet.Postrouting, "stage.rules.nat"}, // SNAT, MASQUERADE
	{packet.Postrouting, "stage.nat"},
	{packet.Postrouting, "stage.confirm"}, // conntrack confirm: a dropped packet leaves no entry
	{packet.Postrouting, "stage.mtu"},     // refragment, or DF => frag-needed
}
