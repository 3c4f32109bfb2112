package decode

import (
	"fwd/packet"
	"fwd/pipeline"
)

func init() { pipeline.Register(Stage{}) }

// Stage is the parse stage: it validates the IPv4 header (version, IHL,
// total length against the buffer, header checksum, options) and the
// transport header, fills pkt.Parsed, and trims link padding. A malformed
// packet is dropped under its reason (truncated, bad-checksum, ...).
//
// Transport checksums are not verified here: like Linux's forwarding path
// (nf_conntrack_checksum aside), a router forwards a segment whose TCP or
// UDP checksum is wrong and lets the end host discard it; conntrack counts
// such packets as invalid where it must look at them.
type Stage struct{}

// Module implements pipeline.Module.
func (Stage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.parse", New: func() pipeline.Module { return new(Stage) }}
}

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "parse" }

// Process implements pipeline.Stage.
func (*Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	n := pkt.Parsed.Decode(pkt.Data)
	if n == 0 {
		pkt.Drop = packet.DropFromHeader(pkt.Parsed.Reason)
		if pkt.Drop == packet.DropNone {
			pkt.Drop = packet.DropTruncated
		}
		return pipeline.Drop
	}
	pkt.Data = pkt.Data[:n]
	return pipeline.Continue
}
