package log

import (
	"fmt"
	"strings"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/router"
	"fwd/rules"
)

func init() { pipeline.Register((*Log)(nil)) }

// Log is the log target.
type Log struct {
	prefix  string
	level   int
	limited bool
	b       rules.Bucket
	clock   pipeline.Clock
	out     func(string)
	ifs     []config.Interface
}

var _ rules.TargetModule = (*Log)(nil)

// Module returns the plugin's registration.
func (*Log) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.log", New: func() pipeline.Module { return new(Log) }}
}

// Options lists the target's rule keys.
func (*Log) Options() []string { return []string{"log_prefix", "log_level", "log_limit", "log_burst"} }

// Decode reads the prefix, level and rate.
func (t *Log) Decode(d *rules.Decoder) bool {
	t.level = 4
	t.limited = true
	t.b.Every, t.b.Burst = 1e9/5, 10
	if kv, ok := d.Get("log_prefix"); ok {
		s, isStr := kv.Value.V.(string)
		if !isStr || len(s) > 29 {
			d.Errorf(kv.Pos, "log_prefix: expected a string of at most 29 bytes, got %s", config.Describe(kv.Value.V))
			return false
		}
		t.prefix = s
	}
	if kv, ok := d.Get("log_level"); ok {
		n, isInt := kv.Value.V.(int64)
		if !isInt || n < 0 || n > 7 {
			d.Errorf(kv.Pos, "log_level: expected 0..7, got %s", config.Describe(kv.Value.V))
			return false
		}
		t.level = int(n)
	}
	if kv, ok := d.Get("log_limit"); ok {
		s, _ := kv.Value.V.(string)
		if s == "none" {
			t.limited = false
		} else {
			every, _, _, good := rules.ParseRate(s)
			if !good {
				d.Errorf(kv.Pos, "log_limit: expected a rate like \"5/second\" or \"none\", got %s", config.Describe(kv.Value.V))
				return false
			}
			t.b.Every = every
		}
	}
	if kv, ok := d.Get("log_burst"); ok {
		n, isInt := kv.Value.V.(int64)
		if !isInt || n < 1 || n > 10000 {
			d.Errorf(kv.Pos, "log_burst: expected 1..10000, got %s", config.Describe(kv.Value.V))
			return false
		}
		t.b.Burst = n
	}
	t.clock, t.out = d.Clock, d.Log
	if d.Config != nil {
		t.ifs = d.Config.Interfaces
	}
	return true
}

// Name is the listing's target column.
func (*Log) Name() string { return "LOG" }

// Do writes the line (when the rate allows) and continues.
func (t *Log) Do(pkt *packet.Packet) rules.Verdict {
	if t.limited && !t.b.Allow(t.clock.Now()) {
		return rules.Continue
	}
	t.out(Line(t.prefix, pkt, t.ifs))
	return rules.Continue
}

// List shows `LOG flags 0 level 4 prefix "x"` as libxt_LOG does.
func (t *Log) List(l *rules.Listing) {
	s := fmt.Sprintf("LOG flags 0 level %d", t.level)
	if t.prefix != "" {
		s += fmt.Sprintf(" prefix %q", t.prefix)
	}
	l.TargetText = append(l.TargetText, s)
}

func ifName(ifs []config.Interface, i int16) string {
	if i >= 0 && int(i) < len(ifs) {
		return ifs[i].Name
	}
	return ""
}

// Line formats pkt as the kernel LOG target does, without the trailing
// space: prefix, IN= OUT=, MAC= (received packets), then the IPv4 header
// and the transport header (dump_ipv4_packet), and MARK= when set.
func Line(prefix string, pkt *packet.Packet, ifs []config.Interface) string {
	var b strings.Builder
	b.WriteString(prefix)
	fmt.Fprintf(&b, "IN=%s OUT=%s ", ifName(ifs, pkt.InIf), ifName(ifs, pkt.OutIf))
	if pkt.InIf >= 0 {
		b.WriteString("MAC=")
		if pkt.SrcMAC != ([6]byte{}) {
			var dst [6]byte
			switch {
			case pkt.LinkBroadcast:
				dst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			case int(pkt.InIf) < len(ifs):
				dst = ifs[pkt.InIf].MAC
				if dst == ([6]byte{}) {
					dst = router.DeriveMAC(ifs[pkt.InIf].Name)
				}
			}
			for i, x := range dst {
				if i > 0 {
					b.WriteByte(':')
				}
				fmt.Fprintf(&b, "%02x", x)
			}
			for _, x := range pkt.SrcMAC {
				fmt.Fprintf(&b, ":%02x", x)
			}
			b.WriteString(":08:00")
		}
		b.WriteByte(' ')
	}
	dumpIPv4(&b, pkt.Data, true)
	if pkt.Mark != 0 {
		fmt.Fprintf(&b, "MARK=0x%x ", pkt.Mark)
	}
	return strings.TrimRight(b.String(), " ")
}

// dumpIPv4 is nf_log_syslog.c dump_ipv4_packet for b, which starts at an
// IPv4 header; outer is false inside an ICMP error (one level only).
func dumpIPv4(b *strings.Builder, d []byte, outer bool) {
	if len(d) < header.IPv4MinSize {
		fmt.Fprintf(b, "TRUNCATED ")
		return
	}
	ip := header.IPv4(d)
	s, t := ip.SourceAddress(), ip.DestinationAddress()
	fmt.Fprintf(b, "SRC=%d.%d.%d.%d DST=%d.%d.%d.%d ", s[0], s[1], s[2], s[3], t[0], t[1], t[2], t[3])
	tos := ip.TOS()
	fmt.Fprintf(b, "LEN=%d TOS=0x%02X PREC=0x%02X TTL=%d ID=%d ", ip.TotalLength(), tos&0x1e, tos&0xe0, ip.TTL(), ip.ID())
	ff := ip.FlagsFragmentOffset()
	if ff&0x8000 != 0 {
		b.WriteString("CE ")
	}
	if ff&header.IPv4FlagDF != 0 {
		b.WriteString("DF ")
	}
	if ff&header.IPv4FlagMF != 0 {
		b.WriteString("MF ")
	}
	if ff&0x1fff != 0 {
		fmt.Fprintf(b, "FRAG:%d ", ff&0x1fff)
	}
	hl := ip.HeaderLength()
	if hl < header.IPv4MinSize || hl > len(d) {
		return
	}
	l4 := d[hl:]
	if tl := int(ip.TotalLength()); outer && tl >= hl && tl <= len(d) {
		l4 = d[hl:tl]
	}
	frag := ff&0x1fff != 0
	switch ip.Protocol() {
	case header.ProtoTCP:
		b.WriteString("PROTO=TCP ")
		if frag {
			return
		}
		if len(l4) < header.TCPMinSize {
			fmt.Fprintf(b, "INCOMPLETE [%d bytes] ", len(l4))
			return
		}
		tc := header.TCP(l4)
		fmt.Fprintf(b, "SPT=%d DPT=%d ", tc.SourcePort(), tc.DestinationPort())
		fmt.Fprintf(b, "WINDOW=%d ", tc.WindowSize())
		fmt.Fprintf(b, "RES=0x%02x ", tc.ReservedBits()<<2)
		f := tc.Flags()
		for _, x := range []struct {
			bit  uint8
			name string
		}{{header.TCPFlagCWR, "CWR"}, {header.TCPFlagECE, "ECE"}, {header.TCPFlagURG, "URG"}, {header.TCPFlagACK, "ACK"},
			{header.TCPFlagPSH, "PSH"}, {header.TCPFlagRST, "RST"}, {header.TCPFlagSYN, "SYN"}, {header.TCPFlagFIN, "FIN"}} {
			if f&x.bit != 0 {
				b.WriteString(x.name + " ")
			}
		}
		fmt.Fprintf(b, "URGP=%d ", tc.UrgentPointer())
	case header.ProtoUDP:
		b.WriteString("PROTO=UDP ")
		if frag {
			return
		}
		if len(l4) < header.UDPSize {
			fmt.Fprintf(b, "INCOMPLETE [%d bytes] ", len(l4))
			return
		}
		u := header.UDP(l4)
		fmt.Fprintf(b, "SPT=%d DPT=%d LEN=%d ", u.SourcePort(), u.DestinationPort(), u.Length())
	case header.ProtoICMP:
		b.WriteString("PROTO=ICMP ")
		if frag {
			return
		}
		if len(l4) < 4 {
			fmt.Fprintf(b, "INCOMPLETE [%d bytes] ", len(l4))
			return
		}
		typ, code := l4[0], l4[1]
		fmt.Fprintf(b, "TYPE=%d CODE=%d ", typ, code)
		switch typ {
		case header.ICMPEchoReply, header.ICMPEcho:
			if len(l4) < 8 {
				fmt.Fprintf(b, "INCOMPLETE [%d bytes] ", len(l4))
				return
			}
			ic := header.ICMPv4(l4)
			fmt.Fprintf(b, "ID=%d SEQ=%d ", ic.Ident(), ic.Sequence())
		case header.ICMPParamProblem:
			if len(l4) >= 8 {
				fmt.Fprintf(b, "PARAMETER=%d ", l4[4])
			}
		case header.ICMPRedirect:
			if len(l4) >= 8 {
				fmt.Fprintf(b, "GATEWAY=%d.%d.%d.%d ", l4[4], l4[5], l4[6], l4[7])
			}
		case header.ICMPDestUnreach, header.ICMPSourceQuench, header.ICMPTimeExceeded:
			if outer && len(l4) > header.ICMPv4Size {
				b.WriteString("[")
				dumpIPv4(b, l4[header.ICMPv4Size:], false)
				b.WriteString("] ")
			}
			if typ == header.ICMPDestUnreach && code == header.ICMPFragNeeded && len(l4) >= 8 {
				fmt.Fprintf(b, "MTU=%d ", header.ICMPv4(l4).MTU())
			}
		}
	default:
		fmt.Fprintf(b, "PROTO=%d ", ip.Protocol())
	}
}
