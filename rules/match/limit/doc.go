// Package limit is the rules.match.limit plugin: limit = "3/minute" with
// limit_burst = N (default 5) matches while the rule's token bucket has a
// token, as iptables -m limit. The bucket runs on the pipeline clock, so
// replays are exact; one bucket per rule, shared by every worker (a CAS,
// no lock).
//
// Hot path: Match allocates nothing.
package limit
