package ipfrag

// Policy says what happens when a fragment overlaps data already held for
// its datagram.
//
// PolicyDrop is Linux's behaviour since the FragmentSmack fixes (4.18,
// CVE-2018-5391, RFC 5722 with errata 3089 applied to IPv4 too): a
// fragment that overlaps held data partly kills the whole datagram; one
// that lies wholly inside a contiguous run of held data is a duplicate
// and is discarded alone.
//
// The others are the target-based policies of Novak ("Target-Based
// Fragmentation Reassembly", 2005), as Snort's frag3 and Suricata's defrag
// name them; where a new fragment N overlaps bytes an earlier fragment O
// supplied, N's bytes win when:
//
//	first    never (the earliest data stays)
//	last     always (the latest data wins)
//	bsd      N starts before O
//	linux    N starts before O or at the same offset
//	windows  N starts before O and ends after it (covers it and more)
//	solaris  N starts before O and ends at or after O's end
//
// Otherwise O's bytes stay and N fills only what nothing held covers.
type Policy uint8

const (
	PolicyDrop Policy = iota
	PolicyFirst
	PolicyLast
	PolicyBSD
	PolicyLinux
	PolicyWindows
	PolicySolaris
	numPolicies
)

var policyNames = [...]string{"drop", "first", "last", "bsd", "linux", "windows", "solaris"}

// String returns the configuration name of the policy.
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "unknown"
}

// ParsePolicy maps a [fragments] overlap name to a Policy; "" is
// PolicyDrop, the default.
func ParsePolicy(s string) (Policy, bool) {
	if s == "" {
		return PolicyDrop, true
	}
	for i, n := range policyNames {
		if n == s {
			return Policy(i), true
		}
	}
	return PolicyDrop, false
}

// newWins reports whether the bytes of a new fragment [ns, ne) replace
// those an earlier fragment [os, oe) supplied where the two overlap.
func (p Policy) newWins(ns, ne, os, oe int32) bool {
	switch p {
	case PolicyLast:
		return true
	case PolicyBSD:
		return ns < os
	case PolicyLinux:
		return ns <= os
	case PolicyWindows:
		return ns < os && ne > oe
	case PolicySolaris:
		return ns < os && ne >= oe
	}
	return false // PolicyFirst (PolicyDrop never gets here)
}
