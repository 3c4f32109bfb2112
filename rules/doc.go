// Package rules is fwd's rule engine: iptables' tables (raw, mangle, nat,
// filter), chains and rules written in TOML, compiled into a classifier
// that keeps iptables' first-match semantics and costs about the same for
// 10 rules or 100 000.
//
// # Place in the flow
//
// The four stages "stage.rules.raw", "stage.rules.mangle",
// "stage.rules.nat" and "stage.rules.filter" (registered by package
// rules/stage, which also links every match and target plugin) run at the
// slots pipeline/order.go gives them: raw before conntrack, then mangle,
// nat, filter, in netfilter's priority order at each hook. Each stage walks
// its table's built-in chain for its hook (Stage.Process):
//
//   - accept ends the table's walk and returns pipeline.Continue: as in
//     netfilter, an accept in one table does not skip the next table;
//   - drop returns pipeline.Drop with pkt.Drop = DropRule (DropPolicy for
//     the chain policy; DropCTInvalid either way when conntrack said
//     invalid);
//   - reject sets pkt.RejectWith and returns pipeline.Reject (icmperr
//     answers);
//   - the nat table runs only for a connection's first packet (CTNew, or
//     CTNone when conntrack is not linked); a NAT target stores its *NAT
//     spec in pkt.NAT for the nat stage.
//
// All stages share one *Ruleset through Env.Shared(SharedKey) as a
// *Holder (an atomic.Pointer): a reload compiles a new Ruleset, carrying
// counters over, and swaps it in; a packet sees the old or the new ruleset,
// never a mix.
//
// # Compilation
//
// Compile (CompileWith) decodes every rule: the action key picks the target
// plugin "rules.target.ACTION"; every other key is claimed by the match
// plugin that lists it (MatchModule.Keys), or is an option of the target
// (TargetModule.Options). Unknown keys get a did-you-mean. Everything is
// checked where it stands: the jump graph is built first, so each user
// chain knows the hooks that reach it, and matches and targets reject
// places iptables rejects (in at output/postrouting, out at
// prerouting/input, dnat/redirect only in nat prerouting/output,
// snat in nat postrouting/input, masquerade in nat postrouting, notrack
// only in raw, reject only in filter, mac_src only where a frame was
// received). Jump loops and nesting deeper than MaxDepth (16) are errors.
// Every error is a *config.Error at the key's file:line:col, collected into
// one config.ErrorList.
//
// # The classifier: runs and indexes
//
// A chain is cut into runs. A run is a maximal stretch of consecutive
// rules that all carry an indexable match on the same field: a
// non-negated src or dst address/prefix/list, src_range/dst_range, or a
// non-negated sport or dport number/range/list (matches implement
// Indexable). Runs of at least 8 rules get an index; shorter stretches and
// the other rules are walked one by one, as iptables does.
//
// An index cuts the key space (32-bit address or 16-bit port) at every
// interval end into segments; each segment holds the list of the run's
// rules whose interval covers it, in rule order. A lookup finds the
// segment through a direct table on the key's top 16 bits (ports: the
// whole port) and a binary search over the few segments of that bucket,
// then tests only those candidate rules, in order, on their remaining
// matches. The first candidate that matches is exactly the rule a linear
// walk would stop at, since every rule of the run not in the list fails its
// index match. Nested intervals (a /0 and many /32) repeat outer rules in
// many segments; past 8 candidates a rule on average the run falls back to
// a linear walk.
//
// Non-terminal targets (log, mark, connmark, notrack) and returns from a
// jump resume "at the next rule": the walk looks the run up again and
// skips candidates before that rule, so a target that changes the packet
// (the mark) is seen by later rules exactly as in a linear walk.
// EvalLinear is the plain walk; the differential test runs random rulesets
// through both and requires identical verdicts and counters.
//
// Within a rule, stateless matches run first and stateful ones (limit,
// hashlimit, connlimit: Stateful) last, so a packet that fails an address
// test takes no token, as iptables tests its IP header fields before its
// match extensions. Comment is listed only (Passive).
//
// # Counters
//
// Every rule and every built-in chain's policy counts packets and bytes
// (the IP datagram length). Counters are striped: a packet counts in the
// stripe of the worker running it (pkt.Worker, set by the runner), one
// stripe per two procs up to 64, each a cache line apart; two workers
// never write one line, reads sum the stripes, nothing locks.
//
// On recompile, a rule keeps its counters when its identity is unchanged:
// table, chain, and its name key, or, without a name, its keys and values
// (and its occurrence among identical rules). A moved rule keeps its
// counters; a changed one starts at zero. Policies keep theirs.
//
// # Sets
//
// Named sets (ipv4_addr: hash; ipv4_net: one hash per prefix length, any
// prefix holding the address matches; port: a 65536-bit bitmap; and
// ipv4_addr_port) are read through an atomic pointer to an immutable
// snapshot: Set.Add, Delete and Flush build a new snapshot and swap it in,
// so the control socket changes a set without recompiling and without a
// lock on the datapath. Rules reach sets as "@name" in src, dst, sport and
// dport; a set match is never indexed (its contents change).
//
// # Listing and tracing
//
// WriteListing prints the ruleset as `iptables -L -n [-v] [-x]
// [--line-numbers]` does (iptables/xshared.c print_header, iptables.c
// print_firewall), one "# table NAME" section per table. Rule (table,
// chain, number) finds a rule for traces. With pkt.Trace set, the stage
// leaves in pkt.Note the chains entered, the non-terminal rules that
// fired, the deciding rule (chain:number, name or comment, file:line) or
// the policy, and the verdict, in the spirit of `nft monitor trace`.
//
// # Allocation and goroutines
//
// Eval allocates nothing (TestNoAllocs, benchmarks); tracing, writing a
// LOG line and adding a connection to connlimit's table do. No goroutines.
// Matches and targets are shared by every worker: token buckets are
// lock-free (GCRA with one CAS), hashlimit and connlimit use 64 striped
// mutexes, counters are atomics.
package rules
