package reject

import (
	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Reject{}) }

// Reject is the reject target.
type Reject struct{ with packet.RejectKind }

var _ rules.TargetModule = (*Reject)(nil)

// Module returns the plugin's registration.
func (Reject) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.reject", New: func() pipeline.Module { return new(Reject) }}
}

// Options lists the target's rule keys.
func (*Reject) Options() []string { return []string{"reject_with"} }

var allowed = []string{"icmp-port-unreachable", "icmp-net-unreachable", "icmp-host-unreachable",
	"icmp-proto-unreachable", "icmp-admin-prohibited", "icmp-host-prohibited", "icmp-net-prohibited", "tcp-reset", "tcp-rst"}

// Decode reads reject_with and checks the place.
func (t *Reject) Decode(d *rules.Decoder) bool {
	akv, _ := d.Get("action")
	ok := d.CheckPlace(akv.Pos, "reject", "filter", packet.Input.Mask()|packet.Forward.Mask()|packet.Output.Mask())
	t.with = packet.RejectPortUnreach
	kv, present := d.Get("reject_with")
	if !present {
		return ok
	}
	s, isStr := kv.Value.V.(string)
	k, known := packet.ParseRejectKind(s)
	valid := false
	for _, a := range allowed {
		if a == s {
			valid = true
		}
	}
	if !isStr || !known || !valid {
		sg := ""
		if x := config.Suggest(s, allowed); x != "" {
			sg = "; did you mean \"" + x + "\"?"
		}
		d.Errorf(kv.Pos, "reject_with: %s is not one of icmp-port-unreachable, icmp-net-unreachable, icmp-host-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited, tcp-reset%s", config.Describe(kv.Value.V), sg)
		return false
	}
	if k == packet.RejectTCPReset {
		if p, one := d.Proto(); !one || p != 6 {
			d.Errorf(kv.Pos, "reject_with tcp-reset needs proto = \"tcp\" (only TCP segments can be reset)")
			return false
		}
	}
	t.with = k
	return ok
}

// Name is the listing's target column.
func (*Reject) Name() string { return "REJECT" }

// Do records the answer to send and rejects.
func (t *Reject) Do(pkt *packet.Packet) rules.Verdict {
	pkt.RejectWith = t.with
	pkt.Drop = packet.DropReject
	return rules.Reject
}

// List shows "reject-with icmp-port-unreachable".
func (t *Reject) List(l *rules.Listing) {
	l.TargetText = append(l.TargetText, "reject-with "+t.with.String())
}
