package netmap

import (
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Netmap{}) }

// Netmap is the netmap target.
type Netmap struct{ *rules.NAT }

var _ rules.TargetModule = (*Netmap)(nil)

// Module returns the plugin's registration.
func (Netmap) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.netmap", New: func() pipeline.Module { return new(Netmap) }}
}

// Options lists the target's rule keys.
func (*Netmap) Options() []string { return rules.NATOptions }

// Decode parses and checks the NAT keys.
func (t *Netmap) Decode(d *rules.Decoder) bool {
	n, ok := d.DecodeNAT(rules.Netmap)
	t.NAT = n
	return ok && n != nil
}

// Name is the listing's target column.
func (*Netmap) Name() string { return "NETMAP" }

// List shows the spec ("to:192.168.1.10:80").
func (t *Netmap) List(l *rules.Listing) {
	if t.NAT == nil {
		return
	}
	if s := t.NAT.String(); s != "" {
		l.TargetText = append(l.TargetText, s)
	}
}
