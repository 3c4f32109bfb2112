package notrack

import (
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(NoTrack{}) }

// NoTrack is the notrack target.
type NoTrack struct{}

var _ rules.TargetModule = (*NoTrack)(nil)

// Module returns the plugin's registration.
func (NoTrack) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.notrack", New: func() pipeline.Module { return new(NoTrack) }}
}

// Options lists the target's rule keys: none.
func (*NoTrack) Options() []string { return nil }

// Decode checks the place: raw only.
func (*NoTrack) Decode(d *rules.Decoder) bool {
	akv, _ := d.Get("action")
	return d.CheckPlace(akv.Pos, "notrack", "raw", packet.Prerouting.Mask()|packet.Output.Mask())
}

// Name is the listing's target column.
func (*NoTrack) Name() string { return "CT" }

// Do marks the packet untracked.
func (*NoTrack) Do(pkt *packet.Packet) rules.Verdict {
	pkt.CTState = packet.CTUntracked
	return rules.Continue
}

// List shows "notrack".
func (*NoTrack) List(l *rules.Listing) { l.TargetText = append(l.TargetText, "notrack") }
