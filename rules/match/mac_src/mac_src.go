package mac_src

import (
	"net"
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(MACSrc{}) }

// MACSrc is the mac_src match.
type MACSrc struct {
	neg bool
	mac [6]byte
}

var _ rules.MatchModule = (*MACSrc)(nil)

// Module returns the plugin's registration.
func (MACSrc) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.mac_src", New: func() pipeline.Module { return new(MACSrc) }}
}

// Keys returns the rule key of the match.
func (*MACSrc) Keys() (keys, options []string) { return []string{"mac_src"}, nil }

// Decode reads a MAC address.
func (m *MACSrc) Decode(d *rules.Decoder, kv config.KV) bool {
	s, ok := kv.Value.V.(string)
	if !ok {
		d.Errorf(kv.Pos, "mac_src: expected a string \"00:11:22:33:44:55\", got %s", config.Describe(kv.Value.V))
		return false
	}
	s = strings.TrimSpace(s)
	if r, neg := strings.CutPrefix(s, "!"); neg {
		m.neg, s = true, strings.TrimSpace(r)
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		d.Errorf(kv.Pos, "mac_src: %q is not a MAC address like \"00:11:22:33:44:55\"", s)
		return false
	}
	copy(m.mac[:], hw)
	if bad := d.Hooks & (packet.Output.Mask() | packet.Postrouting.Mask()); bad != 0 {
		d.Errorf(kv.Pos, "mac_src cannot be used in chain %s (reached from output or postrouting): packets there have no received frame", d.Chain)
		return false
	}
	return true
}

// Match compares pkt.SrcMAC.
func (m *MACSrc) Match(pkt *packet.Packet) bool { return (pkt.SrcMAC == m.mac) != m.neg }

// List shows "MAC 00:11:22:33:44:55" as libxt_mac does.
func (m *MACSrc) List(l *rules.Listing) {
	s := "MAC "
	if m.neg {
		s = "MAC ! "
	}
	l.Matches = append(l.Matches, s+strings.ToUpper(net.HardwareAddr(m.mac[:]).String()))
}
