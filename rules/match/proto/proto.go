package proto

import (
	"strings"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Proto{}) }

// Proto is the proto match.
type Proto struct {
	neg   bool
	set   [4]uint64 // bitmap of protocol numbers
	names []string
}

var _ rules.MatchModule = (*Proto)(nil)

// Module returns the plugin's registration.
func (Proto) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.proto", New: func() pipeline.Module { return new(Proto) }}
}

// Keys returns the rule key of the match.
func (*Proto) Keys() (keys, options []string) { return []string{"proto"}, nil }

// Decode reads protocol names or numbers.
func (m *Proto) Decode(d *rules.Decoder, kv config.KV) bool {
	items, neg, err := rules.Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	for _, it := range items {
		var p uint8
		ok := false
		switch x := it.V.(type) {
		case string:
			if x == "all" {
				for i := range m.set {
					m.set[i] = ^uint64(0)
				}
				m.names = append(m.names, "all")
				continue
			}
			p, ok = rules.ParseProto(x)
		case int64:
			if x >= 0 && x <= 255 {
				p, ok = uint8(x), true
			}
		}
		if !ok {
			d.Errorf(kv.Pos, "proto: %s is not a protocol name (tcp, udp, icmp, ...) or number 0..255", config.Describe(it.V))
			return false
		}
		if p == 0 {
			// As in iptables, protocol 0 is "all" (and lists so).
			for i := range m.set {
				m.set[i] = ^uint64(0)
			}
			m.names = append(m.names, "all")
			continue
		}
		m.set[p>>6] |= 1 << (p & 63)
		m.names = append(m.names, rules.ProtoName(p))
	}
	return true
}

// Match tests the IP protocol field (valid for every parsed packet,
// fragments included).
func (m *Proto) Match(pkt *packet.Packet) bool {
	if pkt.Parsed.Proto == packet.Unknown {
		return m.neg
	}
	p := pkt.Parsed.IPProto
	return (m.set[p>>6]&(1<<(p&63)) != 0) != m.neg
}

// List fills the prot column.
func (m *Proto) List(l *rules.Listing) {
	l.Prot, l.ProtInv = strings.Join(m.names, ","), m.neg
}
