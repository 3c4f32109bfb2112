// Package steer installs and removes the kernel rules that send packets to
// fwd's NFQUEUE queues: the "steering" half of fwd's nfqueue dataplane
// (netio/nfqueue is the device half).
//
// Place in the flow: in nfqueue mode the kernel routes and fwd decides and
// rewrites. Install puts one base chain per hook in fwd's own table
// (table inet fwd_steer, DefaultTable), each with one rule:
//
//	meta nfproto ipv4 [meta mark & SkipMark == 0] counter queue num A-B [bypass]
//
// at the priorities documented on the Priority constants, so that the one
// trip to userspace per hook runs fwd's stages for that hook in
// pipeline/order.go's order relative to the kernel's own hooks:
//
//	prerouting  raw+1 (-299)  fwd raw, conntrack, mangle, DNAT / reply un-SNAT, before routing
//	input       mangle (-150) fwd mangle, filter, SNAT-to-local, confirm
//	forward     mangle (-150) fwd TTL, mangle, filter
//	output      raw+1 (-299)  fwd raw, conntrack, mangle, DNAT, filter (the kernel re-routes after a rewrite)
//	postrouting mangle (-150) fwd mangle, SNAT / masquerade, confirm, MTU
//
// A range of queues is balanced by the kernel's flow hash (nfqueue_hash:
// a jhash of the address pair, ordered so both directions of a flow agree,
// and the protocol), so a flow's original and reply packets reach the same
// worker as long as their addresses are the same pair. After NAT they are
// not (client->server vs server->public address), so conntrack state must
// be shared by the workers (it is: the table is sharded and locked).
// CPUFanout (queue by CPU) gives that up entirely and is off by default.
//
// Backends: this kernel has no nftables queue expression (nft_queue), so
// Install tries it, and when the kernel refuses (ENOENT) installs the same
// table with the xt NFQUEUE target (revision 3, struct xt_NFQ_info_v3)
// through nft_compat. If that fails too it falls back to iptables-nft
// commands on chains of its own (FWD-*, see installIptables). Each attempt
// is one nftables transaction that also replaces a table left by an
// earlier run (crash), so there is no window with two tables or none.
// Remove deletes only fwd's table (or fwd's FWD-* chains); nothing else is
// touched.
//
// Coexisting with the kernel's conntrack: fwd tracks connections and does
// NAT itself, rewriting packets and handing them back with the verdict.
// If the kernel's conntrack also tracked them it would see fwd's
// translated packets as new flows, might NAT them again under the
// operator's own rules, and would mark replies it cannot match INVALID.
// With Spec.Notrack, chains at raw priority (-300) run `notrack` on the
// same IPv4 traffic before conntrack (-200) looks, so the kernel leaves
// these packets untracked (ct state untracked) and never NATs them; fwd is
// then the only state holder. Kernel NAT rules of the operator do not
// apply to that traffic. Without Notrack the kernel tracks the rewritten
// packets as it sees them, which works for filtering-only setups.
//
// Nothing here is on the per-packet path; Install and Remove allocate
// freely and run no goroutines. nstest (a sub-package) makes the network
// namespaces that the tests of this package and netio/nfqueue run in.
package steer
