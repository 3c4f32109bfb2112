package tcp_flags

import (
	"fmt"
	"strings"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(TCPFlags{}) }

// TCPFlags is the tcp_flags (and syn) match.
type TCPFlags struct {
	neg       bool
	mask, set uint8
}

var _ rules.MatchModule = (*TCPFlags)(nil)

var flagNames = []struct {
	name string
	bit  uint8
}{
	{"fin", header.TCPFlagFIN}, {"syn", header.TCPFlagSYN}, {"rst", header.TCPFlagRST},
	{"psh", header.TCPFlagPSH}, {"ack", header.TCPFlagACK}, {"urg", header.TCPFlagURG},
	{"ece", header.TCPFlagECE}, {"cwr", header.TCPFlagCWR},
}

// Module returns the plugin's registration.
func (TCPFlags) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.match.tcp_flags", New: func() pipeline.Module { return new(TCPFlags) }}
}

// Keys returns the rule keys of the match.
func (*TCPFlags) Keys() (keys, options []string) { return []string{"tcp_flags", "syn"}, nil }

func parseFlags(d *rules.Decoder, kv config.KV, what string, v config.Value) (uint8, bool) {
	list, ok := v.Strings()
	if !ok {
		d.Errorf(kv.Pos, "tcp_flags.%s: expected an array of flag names, got %s", what, config.Describe(v.V))
		return 0, false
	}
	var f uint8
	for _, s := range list {
		s = strings.ToLower(s)
		switch s {
		case "all":
			f |= 0xff
			continue
		case "none":
			continue
		}
		found := false
		for _, n := range flagNames {
			if n.name == s {
				f |= n.bit
				found = true
			}
		}
		if !found {
			d.Errorf(kv.Pos, "tcp_flags.%s: %q is not a TCP flag (fin, syn, rst, psh, ack, urg, ece, cwr, all, none)", what, s)
			return 0, false
		}
	}
	return f, true
}

// Decode reads the mask/set table or the syn shorthand.
func (m *TCPFlags) Decode(d *rules.Decoder, kv config.KV) bool {
	if p, ok := d.Proto(); ok && p != 6 {
		d.Errorf(kv.Pos, "%s needs proto tcp (the rule has proto %s)", kv.Key, rules.ProtoName(p))
		return false
	}
	if kv.Key == "syn" {
		b, ok := kv.Value.V.(bool)
		if !ok {
			d.Errorf(kv.Pos, "syn: expected true or false, got %s", config.Describe(kv.Value.V))
			return false
		}
		m.mask = header.TCPFlagSYN | header.TCPFlagRST | header.TCPFlagACK | header.TCPFlagFIN
		m.set = header.TCPFlagSYN
		m.neg = !b
		return true
	}
	t, ok := kv.Value.V.(map[string]config.Value)
	if !ok {
		d.Errorf(kv.Pos, "tcp_flags: expected { mask = [...], set = [...] }, got %s", config.Describe(kv.Value.V))
		return false
	}
	for k := range t {
		if k != "mask" && k != "set" && k != "invert" {
			d.Errorf(kv.Pos, "tcp_flags: unknown key %q (mask, set, invert)", k)
			return false
		}
	}
	mv, hasMask := t["mask"]
	sv, hasSet := t["set"]
	if !hasMask || !hasSet {
		d.Errorf(kv.Pos, "tcp_flags needs both mask and set")
		return false
	}
	var ok1, ok2 bool
	m.mask, ok1 = parseFlags(d, kv, "mask", mv)
	m.set, ok2 = parseFlags(d, kv, "set", sv)
	if !ok1 || !ok2 {
		return false
	}
	if m.set&^m.mask != 0 {
		d.Errorf(kv.Pos, "tcp_flags: set has flags that are not in mask; they can never match")
		return false
	}
	if iv, present := t["invert"]; present {
		b, isBool := iv.V.(bool)
		if !isBool {
			d.Errorf(kv.Pos, "tcp_flags.invert: expected true or false, got %s", config.Describe(iv.V))
			return false
		}
		m.neg = b
	}
	return true
}

// Match tests the flags of TCP packets.
func (m *TCPFlags) Match(pkt *packet.Packet) bool {
	if pkt.Parsed.Proto != packet.TCP {
		return false
	}
	return (pkt.Parsed.TCPFlags&m.mask == m.set) != m.neg
}

// List shows "flags:0x17/0x02" (iptables -n).
func (m *TCPFlags) List(l *rules.Listing) {
	inv := ""
	if m.neg {
		inv = "!"
	}
	l.L4 = append(l.L4, fmt.Sprintf("flags:%s0x%02X/0x%02X", inv, m.mask, m.set))
}
