package masquerade

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Masquerade{}) }

// Masquerade is the masquerade target.
type Masquerade struct{ *rules.NAT }

var _ rules.TargetModule = (*Masquerade)(nil)

// Module returns the plugin's registration.
func (Masquerade) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.masquerade", New: func() pipeline.Module { return new(Masquerade) }}
}

// Options lists the target's rule keys.
func (*Masquerade) Options() []string { return rules.NATOptions }

// Decode parses and checks the NAT keys.
func (t *Masquerade) Decode(d *rules.Decoder) bool {
	n, ok := d.DecodeNAT(rules.Masquerade)
	t.NAT = n
	return ok && n != nil
}

// Name is the listing's target column.
func (*Masquerade) Name() string { return "MASQUERADE" }

// List shows the spec ("to:192.168.1.10:80").
func (t *Masquerade) List(l *rules.Listing) {
	if t.NAT == nil {
		return
	}
	if s := t.NAT.String(); s != "" {
		l.TargetText = append(l.TargetText, s)
	}
}
