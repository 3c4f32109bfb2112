// Package stage registers the rules stages ("stage.rules.raw",
// "stage.rules.mangle", "stage.rules.nat", "stage.rules.filter") and links
// every match and target plugin, so one blank import of fwd/rules/stage
// gives the binary the whole rule engine. Tests and tools that call
// rules.Compile import it too.
package stage

import (
	"fwd/pipeline"
	"fwd/rules"

	_ "fwd/rules/match/comment"
	_ "fwd/rules/match/connlimit"
	_ "fwd/rules/match/ct_mark"
	_ "fwd/rules/match/ct_state"
	_ "fwd/rules/match/ct_status"
	_ "fwd/rules/match/dport"
	_ "fwd/rules/match/dst"
	_ "fwd/rules/match/dst_range"
	_ "fwd/rules/match/fragment"
	_ "fwd/rules/match/hashlimit"
	_ "fwd/rules/match/icmp_type"
	_ "fwd/rules/match/in"
	_ "fwd/rules/match/length"
	_ "fwd/rules/match/limit"
	_ "fwd/rules/match/mac_src"
	_ "fwd/rules/match/mark"
	_ "fwd/rules/match/out"
	_ "fwd/rules/match/proto"
	_ "fwd/rules/match/sport"
	_ "fwd/rules/match/src"
	_ "fwd/rules/match/src_range"
	_ "fwd/rules/match/tcp_flags"
	_ "fwd/rules/match/tcp_option"
	_ "fwd/rules/match/ttl"
	_ "fwd/rules/target/accept"
	_ "fwd/rules/target/connmark"
	_ "fwd/rules/target/dnat"
	_ "fwd/rules/target/drop"
	_ "fwd/rules/target/goto"
	_ "fwd/rules/target/jump"
	_ "fwd/rules/target/log"
	_ "fwd/rules/target/mark"
	_ "fwd/rules/target/masquerade"
	_ "fwd/rules/target/netmap"
	_ "fwd/rules/target/notrack"
	_ "fwd/rules/target/offload"
	_ "fwd/rules/target/redirect"
	_ "fwd/rules/target/reject"
	_ "fwd/rules/target/return"
	_ "fwd/rules/target/snat"
)

func init() {
	for _, m := range rules.StageModules() {
		pipeline.Register(m)
	}
}
