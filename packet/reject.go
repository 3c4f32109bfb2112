package packet

// RejectKind says what answer icmperr sends for a Reject verdict
// (iptables' REJECT --reject-with). The zero value RejectNone means "not
// set"; icmperr treats it as RejectPortUnreach, the iptables default.
type RejectKind uint8

const (
	RejectNone              RejectKind = iota
	RejectPortUnreach                  // ICMP dest unreachable code 3 (default)
	RejectNetUnreach                   // ICMP dest unreachable code 0
	RejectHostUnreach                  // ICMP dest unreachable code 1
	RejectProtoUnreach                 // ICMP dest unreachable code 2
	RejectAdminProhibited              // ICMP dest unreachable code 13
	RejectTCPReset                     // TCP RST (RFC 9293 reset generation)
	RejectFragNeeded                   // ICMP dest unreachable code 4 with next-hop MTU
	RejectTTLExceeded                  // ICMP time exceeded code 0
	RejectReassemblyTimeout            // ICMP time exceeded code 1
	RejectNetProhibited                // ICMP dest unreachable code 9
	RejectHostProhibited               // ICMP dest unreachable code 10
	numRejectKinds
)

var rejectNames = [...]string{
	"none",
	"icmp-port-unreachable",
	"icmp-net-unreachable",
	"icmp-host-unreachable",
	"icmp-proto-unreachable",
	"icmp-admin-prohibited",
	"tcp-reset",
	"icmp-frag-needed",
	"icmp-ttl-exceeded",
	"icmp-reassembly-timeout",
	"icmp-net-prohibited",
	"icmp-host-prohibited",
}

// String returns the iptables-style name (e.g. "icmp-port-unreachable").
func (k RejectKind) String() string {
	if int(k) < len(rejectNames) {
		return rejectNames[k]
	}
	return "unknown"
}

// ParseRejectKind maps an iptables --reject-with name to a RejectKind. It
// also accepts iptables' alias "tcp-rst".
func ParseRejectKind(s string) (RejectKind, bool) {
	if s == "tcp-rst" {
		return RejectTCPReset, true
	}
	for i, n := range rejectNames {
		if i != 0 && n == s {
			return RejectKind(i), true
		}
	}
	return RejectNone, false
}
