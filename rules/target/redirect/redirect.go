package redirect

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Redirect{}) }

// Redirect is the redirect target.
type Redirect struct{ *rules.NAT }

var _ rules.TargetModule = (*Redirect)(nil)

// Module returns the plugin's registration.
func (Redirect) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.redirect", New: func() pipeline.Module { return new(Redirect) }}
}

// Options lists the target's rule keys.
func (*Redirect) Options() []string { return rules.NATOptions }

// Decode parses and checks the NAT keys.
func (t *Redirect) Decode(d *rules.Decoder) bool {
	n, ok := d.DecodeNAT(rules.Redirect)
	t.NAT = n
	return ok && n != nil
}

// Name is the listing's target column.
func (*Redirect) Name() string { return "REDIRECT" }

// List shows the spec ("to:192.168.1.10:80").
func (t *Redirect) List(l *rules.Listing) {
	if t.NAT == nil {
		return
	}
	if s := t.NAT.String(); s != "" {
		l.TargetText = append(l.TargetText, s)
	}
}
