package snat

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(SNAT{}) }

// SNAT is the snat target.
type SNAT struct{ *rules.NAT }

var _ rules.TargetModule = (*SNAT)(nil)

// Module returns the plugin's registration.
func (SNAT) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.snat", New: func() pipeline.Module { return new(SNAT) }}
}

// Options lists the target's rule keys.
func (*SNAT) Options() []string { return rules.NATOptions }

// Decode parses and checks the NAT keys.
func (t *SNAT) Decode(d *rules.Decoder) bool {
	n, ok := d.DecodeNAT(rules.SNAT)
	t.NAT = n
	return ok && n != nil
}

// Name is the listing's target column.
func (*SNAT) Name() string { return "SNAT" }

// List shows the spec ("to:192.168.1.10:80").
func (t *SNAT) List(l *rules.Listing) {
	if t.NAT == nil {
		return
	}
	if s := t.NAT.String(); s != "" {
		l.TargetText = append(l.TargetText, s)
	}
}
