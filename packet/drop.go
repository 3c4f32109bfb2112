package packet

import "fwd/header"

// DropReason names why a packet was dropped. Every drop is counted under
// one; the names are what `fwd replay --stats` prints after "drop.".
// The zero value DropNone means "not dropped".
type DropReason uint8

const (
	DropNone DropReason = iota
	// Parse (values mirror header.Reason one to one).
	DropTruncated
	DropBadVersion
	DropBadIHL
	DropBadTotalLength
	DropBadChecksum
	DropBadDataOffset
	DropBadOptions
	DropBadL4Checksum
	DropBadICMP
	DropBadARP
	// Link layer and routing.
	DropNotIPv4
	DropNoRoute
	DropTTLExpired
	DropARPFailed
	DropNoInterface
	DropMTU // DF set and too big for the egress MTU
	// Fragments.
	DropFragTimeout
	DropFragOverlap
	DropFragMemory
	DropFragTooMany
	DropFragTooBig
	DropFragBadLength
	// Conntrack.
	DropCTInvalid
	DropTableFull
	// Rules and NAT.
	DropPolicy
	DropRule
	DropReject
	DropNATExhausted
	// Local delivery and generated packets.
	DropLocal
	DropICMPRateLimit
	DropQueueFull
	DropOther
	// DropNATFiltered: an inbound packet to a NAT mapping that the
	// mapping's filtering behaviour does not admit (RFC 4787 REQ-8); dropped
	// silently (RFC 5382 REQ-4).
	DropNATFiltered
	numDropReasons
)

// NumDropReasons is the size of arrays indexed by DropReason.
const NumDropReasons = int(numDropReasons)

var dropNames = [...]string{
	DropNone:           "none",
	DropTruncated:      "truncated",
	DropBadVersion:     "bad-version",
	DropBadIHL:         "bad-ihl",
	DropBadTotalLength: "bad-total-length",
	DropBadChecksum:    "bad-checksum",
	DropBadDataOffset:  "bad-data-offset",
	DropBadOptions:     "bad-options",
	DropBadL4Checksum:  "bad-l4-checksum",
	DropBadICMP:        "bad-icmp",
	DropBadARP:         "bad-arp",
	DropNotIPv4:        "not-ipv4",
	DropNoRoute:        "no-route",
	DropTTLExpired:     "ttl-expired",
	DropARPFailed:      "arp-failed",
	DropNoInterface:    "no-interface",
	DropMTU:            "frag-needed",
	DropFragTimeout:    "frag-timeout",
	DropFragOverlap:    "frag-overlap",
	DropFragMemory:     "frag-memory",
	DropFragTooMany:    "frag-too-many",
	DropFragTooBig:     "frag-too-big",
	DropFragBadLength:  "frag-bad-length",
	DropCTInvalid:      "ct-invalid",
	DropTableFull:      "table-full",
	DropPolicy:         "policy",
	DropRule:           "rule",
	DropReject:         "reject",
	DropNATExhausted:   "nat-exhausted",
	DropLocal:          "local",
	DropICMPRateLimit:  "icmp-ratelimit",
	DropQueueFull:      "queue-full",
	DropOther:          "other",
	DropNATFiltered:    "nat-filtered",
}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// DropFromHeader maps a header validation reason to its drop reason.
func DropFromHeader(r header.Reason) DropReason {
	if r == header.ReasonNone {
		return DropNone
	}
	return DropReason(r) // the first values are kept in step with header.Reason
}
