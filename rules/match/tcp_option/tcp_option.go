package tcp_option

import (
	"fmt"
	"strconv"
	"strings"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(TCPOption{}) }

// TCPOption is the tcp_option match.
type TCPOption struct {
	neg   bool
	kinds [4]uint64 // bitmap of option kinds
	texts []string
}

var _ rules.MatchModule = (*TCPOption)(nil)

var optNames = map[string]uint8{
	"mss": header.TCPOptMSS, "wscale": header.TCPOptWindowScale, "window_scale": header.TCPOptWindowScale,
	"sack_permitted": header.TCPOptSACKPermitted, "sackok": header.TCPOptSACKPermitted,
	"sack": header.TCPOptSACK, "timestamp": header.TCPOptTimestamp,
}

// Module returns the plugin's registration.
func (TCPOption) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.tcp_option", New: func() pipeline.Module { return new(TCPOption) }}
}

// Keys returns the rule key of the match.
func (*TCPOption) Keys() (keys, options []string) { return []string{"tcp_option"}, nil }

// Decode reads option kinds.
func (m *TCPOption) Decode(d *rules.Decoder, kv config.KV) bool {
	if p, ok := d.Proto(); ok && p != 6 {
		d.Errorf(kv.Pos, "tcp_option needs proto tcp (the rule has proto %s)", rules.ProtoName(p))
		return false
	}
	items, neg, err := rules.Items(kv)
	if err != nil {
		d.Errorf(err.Pos, "%s", err.Msg)
		return false
	}
	m.neg = neg
	for _, it := range items {
		var k uint8
		ok := false
		switch x := it.V.(type) {
		case int64:
			if x >= 0 && x <= 255 {
				k, ok = uint8(x), true
			}
		case string:
			if n, e := strconv.ParseUint(x, 10, 8); e == nil {
				k, ok = uint8(n), true
			} else {
				k, ok = optNames[strings.ToLower(x)]
			}
		}
		if !ok {
			d.Errorf(kv.Pos, "tcp_option: %s is not an option kind (0..255, mss, wscale, sack_permitted, sack, timestamp)", config.Describe(it.V))
			return false
		}
		m.kinds[k>>6] |= 1 << (k & 63)
		m.texts = append(m.texts, fmt.Sprint(k))
	}
	return true
}

// Match walks the TCP options for any wanted kind.
func (m *TCPOption) Match(pkt *packet.Packet) bool {
	p := &pkt.Parsed
	if p.Proto != packet.TCP {
		return false
	}
	start := int(p.L4Off) + header.TCPMinSize
	end := int(p.L4Off) + int(p.TCPHdrLen)
	if end > len(pkt.Data) {
		end = len(pkt.Data)
	}
	hit := false
	for i := start; i < end; {
		k := pkt.Data[i]
		if m.kinds[k>>6]&(1<<(k&63)) != 0 {
			hit = true
			break
		}
		if k == header.TCPOptEOL {
			break
		}
		if k == header.TCPOptNOP {
			i++
			continue
		}
		if i+1 >= end || pkt.Data[i+1] < 2 {
			break
		}
		i += int(pkt.Data[i+1])
	}
	return hit != m.neg
}

// List shows "option=2" in the tcp match text.
func (m *TCPOption) List(l *rules.Listing) {
	inv := ""
	if m.neg {
		inv = "!"
	}
	l.L4 = append(l.L4, "option="+inv+strings.Join(m.texts, ","))
}
