package dnat

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(DNAT{}) }

// DNAT is the dnat target.
type DNAT struct{ *rules.NAT }

var _ rules.TargetModule = (*DNAT)(nil)

// Module returns the plugin's registration.
func (DNAT) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.dnat", New: func() pipeline.Module { return new(DNAT) }}
}

// Options lists the target's rule keys.
func (*DNAT) Options() []string { return rules.NATOptions }

// Decode parses and checks the NAT keys.
func (t *DNAT) Decode(d *rules.Decoder) bool {
	n, ok := d.DecodeNAT(rules.DNAT)
	t.NAT = n
	return ok && n != nil
}

// Name is the listing's target column.
func (*DNAT) Name() string { return "DNAT" }

// List shows the spec ("to:192.168.1.10:80").
func (t *DNAT) List(l *rules.Listing) {
	if t.NAT == nil {
		return
	}
	if s := t.NAT.String(); s != "" {
		l.TargetText = append(l.TargetText, s)
	}
}
