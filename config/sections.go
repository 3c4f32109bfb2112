package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

func (d *decoder) dataplane(t *table) {
	t.allow("mode", "queues", "fail_open", "queue_maxlen", "steering")
	dp := &d.cfg.Dataplane
	dp.Pos = t.pos("")
	if s, ok := t.oneOf("mode", "tap", "nfqueue"); ok {
		dp.Mode = s
	}
	if v, present := t.m["queues"]; present {
		switch x := v.(type) {
		case int64:
			if x < 0 || x > 65535 {
				t.errorf("queues", "%d out of range 0..65535", x)
			} else {
				dp.Queues = [2]uint16{uint16(x), uint16(x)}
			}
		case string:
			lo, hi, err := parseRange(x, 65535)
			if err != "" {
				t.errorf("queues", "%q: %s", x, err)
			} else {
				dp.Queues = [2]uint16{uint16(lo), uint16(hi)}
			}
		default:
			t.typeErr("queues", `a queue number or a range like "0-3"`, v)
		}
	}
	if b, ok := t.boolean("fail_open"); ok {
		dp.FailOpen = b
	}
	if n, ok := t.integer("queue_maxlen", 1, 1<<32-1); ok {
		dp.QueueMaxLen = uint32(n)
	}
	if b, ok := t.boolean("steering"); ok {
		dp.Steering = b
	}
}

// parseRange reads "a-b" or "a" with 0 <= a <= b <= max; err is a message.
func parseRange(s string, max int) (lo, hi int, err string) {
	a, b, isRange := strings.Cut(s, "-")
	lo, e1 := strconv.Atoi(strings.TrimSpace(a))
	hi = lo
	var e2 error
	if isRange {
		hi, e2 = strconv.Atoi(strings.TrimSpace(b))
	}
	if e1 != nil || e2 != nil || lo < 0 || hi < 0 {
		return 0, 0, `expected a number or a range like "1000-1999"`
	}
	if lo > max || hi > max {
		return 0, 0, "out of range 0.." + strconv.Itoa(max)
	}
	if lo > hi {
		return 0, 0, "range start is above its end"
	}
	return lo, hi, ""
}

func (d *decoder) interfaces(ts []*table) {
	names := map[string]Pos{}
	devices := map[string]Pos{}
	for i, t := range ts {
		t.allow("name", "device", "addr", "mtu", "mac", "bridge", "netns")
		ifc := Interface{Index: i, MTU: 1500, Pos: t.pos("")}
		dupName := false
		if s, ok := t.str("name"); ok {
			switch {
			case s == "":
				t.errorf("name", "must not be empty")
			case len(s) > 15 || strings.ContainsAny(s, " /\t\n:"):
				t.errorf("name", "%q is not a valid interface name (at most 15 characters, no spaces, '/' or ':')", s)
			default:
				if p, dup := names[s]; dup {
					dupName = true
					t.errorf("name", "duplicate interface %q (first at %s)", s, p)
				} else {
					names[s] = t.pos("name")
				}
			}
			ifc.Name = s
		} else if _, present := t.m["name"]; !present {
			d.errorf(t.pos(""), "[[interface]] needs a name")
		}
		if s, ok := t.str("device"); ok {
			ifc.Device = s
		}
		dev, devKey := ifc.Device, "device"
		if dev == "" {
			dev, devKey = ifc.Name, "name"
		}
		// The TAP device defaults to the name; a duplicate name is reported
		// once, as such.
		if dev != "" && !(devKey == "name" && dupName) {
			if p, dup := devices[dev]; dup {
				t.errorf(devKey, "device %q already used (at %s)", dev, p)
			} else {
				devices[dev] = t.pos(devKey)
			}
		}
		if s, ok := t.str("addr"); ok {
			if p, msg := parseHostPrefix(s); msg != "" {
				t.errorf("addr", "%s", msg)
			} else {
				ifc.Addr = p
				for _, o := range d.cfg.Interfaces {
					if o.Addr.IsValid() && o.Addr.Masked().Overlaps(p.Masked()) {
						t.errorf("addr", "subnet %s overlaps %s's subnet %s", p.Masked(), o.Name, o.Addr.Masked())
						break
					}
				}
			}
		} else if _, present := t.m["addr"]; !present {
			d.errorf(t.pos(""), "[[interface]] %q needs an addr", ifc.Name)
		}
		if n, ok := t.integer("mtu", 68, 65535); ok {
			ifc.MTU = int(n)
		}
		if s, ok := t.str("mac"); ok {
			hw, err := net.ParseMAC(s)
			switch {
			case err != nil || len(hw) != 6:
				t.errorf("mac", "%q is not a MAC address like \"02:00:00:00:00:01\"", s)
			case hw[0]&1 != 0:
				t.errorf("mac", "%q is a multicast address", s)
			default:
				copy(ifc.MAC[:], hw)
			}
		}
		if s, ok := t.str("bridge"); ok {
			if s == "" || len(s) > 15 || strings.ContainsAny(s, " /\t\n:") {
				t.errorf("bridge", "%q is not a valid bridge name", s)
			}
			ifc.Bridge = s
		}
		if s, ok := t.str("netns"); ok {
			if s == "" || strings.ContainsAny(s, " \t\n") || (!strings.HasPrefix(s, "/") && strings.Contains(s, "/")) {
				t.errorf("netns", "%q is not a namespace name (as `ip netns add` makes) or an absolute path", s)
			}
			ifc.Netns = s
		}
		d.cfg.Interfaces = append(d.cfg.Interfaces, ifc)
	}
}

// parseHostPrefix reads an interface address "192.168.1.1/24": an IPv4
// host address and its subnet's prefix length. msg is a message or "".
func parseHostPrefix(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, quoteMsg(s, `is not an IPv4 address with a prefix length like "192.168.1.1/24"`)
	}
	if b := p.Bits(); b < 31 {
		if p.Addr() == p.Masked().Addr() {
			return netip.Prefix{}, quoteMsg(s, "is the network address of its subnet; give the interface's own address")
		}
		if p.Addr() == broadcast(p) {
			return netip.Prefix{}, quoteMsg(s, "is the broadcast address of its subnet; give the interface's own address")
		}
	}
	return p, ""
}

func quoteMsg(s, msg string) string { return strconv.Quote(s) + " " + msg }

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// parseNet reads a network "10.0.0.0/8" (host bits clear) or an address,
// which is a /32.
func parseNet(s string) (netip.Prefix, string) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, quoteMsg(s, `is not an IPv4 address or network like "10.0.0.0/8"`)
		}
		return netip.PrefixFrom(a, 32), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, quoteMsg(s, `is not an IPv4 network like "10.0.0.0/8"`)
	}
	if p.Masked() != p {
		return netip.Prefix{}, quoteMsg(s, "has host bits set; did you mean \""+p.Masked().String()+"\"?")
	}
	return p, ""
}

func parseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, quoteMsg(s, `is not an IPv4 address like "192.0.2.1"`)
	}
	return a, ""
}

func (d *decoder) routes(ts []*table) {
	seen := map[netip.Prefix]Pos{}
	for _, t := range ts {
		t.allow("to", "via", "dev")
		r := Route{Pos: t.pos("")}
		if s, ok := t.str("to"); ok {
			if p, msg := parseNet(s); msg != "" {
				t.errorf("to", "%s", msg)
			} else {
				r.To = p
				if first, dup := seen[p]; dup {
					t.errorf("to", "duplicate route to %s (first at %s)", p, first)
				} else {
					seen[p] = t.pos("to")
				}
			}
		} else if _, present := t.m["to"]; !present {
			d.errorf(t.pos(""), `[[route]] needs "to"`)
		}
		viaOK := false
		if s, ok := t.str("via"); ok {
			if a, msg := parseAddr(s); msg != "" {
				t.errorf("via", "%s", msg)
			} else {
				r.Via, viaOK = a, true
			}
		}
		if s, ok := t.str("dev"); ok {
			r.Dev = s
			ifc := d.cfg.Interface(s)
			if ifc == nil {
				t.errorf("dev", "no [[interface]] named %q%s", s, didYouMean(s, d.ifNames()))
			} else if viaOK && ifc.Addr.IsValid() && !ifc.Addr.Masked().Contains(r.Via) {
				t.errorf("via", "%s is not in %s's subnet %s", r.Via, ifc.Name, ifc.Addr.Masked())
			}
		} else if _, present := t.m["dev"]; !present {
			if viaOK {
				for _, ifc := range d.cfg.Interfaces {
					if ifc.Addr.IsValid() && ifc.Addr.Masked().Contains(r.Via) {
						r.Dev = ifc.Name
						break
					}
				}
				if r.Dev == "" {
					t.errorf("via", "%s is in no interface's subnet", r.Via)
				}
			} else if _, bad := t.m["via"]; !bad {
				d.errorf(t.pos(""), `[[route]] needs "via" or "dev"`)
			}
		}
		d.cfg.Routes = append(d.cfg.Routes, r)
	}
}

func (d *decoder) ifNames() []string {
	var ns []string
	for _, i := range d.cfg.Interfaces {
		ns = append(ns, i.Name)
	}
	return ns
}

func (d *decoder) conntrack(t *table) {
	t.allow("max_entries", "tcp_loose", "tcp_max_retrans", "timeouts")
	ct := &d.cfg.Conntrack
	if n, ok := t.integer("max_entries", 1, 1<<31-1); ok {
		ct.MaxEntries = int(n)
	}
	if b, ok := t.boolean("tcp_loose"); ok {
		ct.TCPLoose = b
	}
	if n, ok := t.integer("tcp_max_retrans", 0, 255); ok {
		ct.TCPMaxRetrans = int(n)
	}
	tt := t.sub("timeouts", "[conntrack.timeouts]")
	if tt == nil {
		return
	}
	to := &ct.Timeouts
	fields := []struct {
		key string
		dst *time.Duration
	}{
		{"tcp_syn_sent", &to.TCPSynSent},
		{"tcp_syn_recv", &to.TCPSynRecv},
		{"tcp_established", &to.TCPEstablished},
		{"tcp_fin_wait", &to.TCPFinWait},
		{"tcp_close_wait", &to.TCPCloseWait},
		{"tcp_last_ack", &to.TCPLastAck},
		{"tcp_time_wait", &to.TCPTimeWait},
		{"tcp_close", &to.TCPClose},
		{"tcp_unacknowledged", &to.TCPUnacknowledged},
		{"tcp_retrans", &to.TCPRetrans},
		{"udp", &to.UDP},
		{"udp_stream", &to.UDPStream},
		{"icmp", &to.ICMP},
		{"generic", &to.Generic},
	}
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	tt.allow(keys...)
	for _, f := range fields {
		if v, ok := tt.duration(f.key); ok {
			*f.dst = v
		}
	}
}

// duration reads a positive duration: Go syntax ("90s", "1h30m") plus a
// day unit ("5d", "1d12h").
func (t *table) duration(k string) (time.Duration, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(k, `a duration like "30s"`, v)
		return 0, false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		t.errorf(k, "%q is not a duration like \"30s\", \"5m\", \"5d\"", s)
		return 0, false
	}
	if dur <= 0 {
		t.errorf(k, "%q must be positive", s)
		return 0, false
	}
	return dur, true
}

// ParseDuration is time.ParseDuration with a day unit: "5d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	days := time.Duration(0)
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, &time.ParseError{Value: s, Message: "bad day count"}
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days > 0 && dur < 0 {
		return 0, &time.ParseError{Value: s, Message: "negative part"}
	}
	return days + dur, nil
}

func (d *decoder) fragments(t *table) {
	t.allow("timeout", "max_memory", "overlap", "max_frags")
	f := &d.cfg.Fragments
	if v, ok := t.duration("timeout"); ok {
		f.Timeout = v
	}
	if v, present := t.m["max_memory"]; present {
		switch x := v.(type) {
		case int64:
			if x <= 0 {
				t.errorf("max_memory", "%d must be positive", x)
			} else {
				f.MaxMemory = x
			}
		case string:
			if n, err := ParseSize(x); err != nil {
				t.errorf("max_memory", "%q is not a size like \"4MiB\", \"512KiB\", \"1MB\" or a number of bytes", x)
			} else if n <= 0 {
				t.errorf("max_memory", "%q must be positive", x)
			} else {
				f.MaxMemory = n
			}
		default:
			t.typeErr("max_memory", `a size like "4MiB"`, v)
		}
	}
	if s, ok := t.oneOf("overlap", "drop", "first", "last", "bsd", "linux", "windows", "solaris"); ok {
		f.Overlap = s
	}
	if n, ok := t.integer("max_frags", 1, 8192); ok {
		f.MaxFrags = int(n)
	}
}

func (d *decoder) natBehavior(t *table) {
	t.allow("filtering", "mapping_timeout", "hairpin")
	n := &d.cfg.NAT
	if s, ok := t.oneOf("filtering", "address-and-port-dependent", "address-dependent", "endpoint-independent"); ok {
		n.Filtering = s
	}
	if v, ok := t.duration("mapping_timeout"); ok {
		if v < 2*time.Minute {
			t.errorf("mapping_timeout", "%v is under the 2 minutes RFC 4787 (REQ-5) allows a mapping", v)
		} else {
			n.MappingTimeout = v
		}
	}
	if b, ok := t.boolean("hairpin"); ok {
		n.Hairpin = b
	}
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1}, {"", 1},
}

// ParseSize reads a byte size: "4MiB", "512KiB", "1MB", "1500B", "65536".
func ParseSize(s string) (int64, error) {
	for _, u := range sizeUnits {
		if !strings.HasSuffix(s, u.suffix) {
			continue
		}
		num := strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, err
		}
		if n > (1<<62)/u.mult {
			return 0, strconv.ErrRange
		}
		return n * u.mult, nil
	}
	return 0, strconv.ErrSyntax
}

func (d *decoder) icmp(t *table) {
	t.allow("rate_limit", "rate_burst")
	ic := &d.cfg.ICMP
	if v, present := t.m["rate_limit"]; present {
		switch x := v.(type) {
		case int64:
			if x != 0 {
				t.errorf("rate_limit", `%d: expected a rate like "100/s" or 0 for unlimited`, x)
			} else {
				ic.RatePerSec = 0
			}
		case string:
			if r, err := ParseRate(x); err != nil {
				t.errorf("rate_limit", "%q is not a rate like \"100/s\", \"10/minute\" or \"0\"", x)
			} else {
				ic.RatePerSec = r
			}
		default:
			t.typeErr("rate_limit", `a rate like "100/s"`, v)
		}
	}
	if n, ok := t.integer("rate_burst", 1, 1<<31-1); ok {
		ic.RateBurst = int(n)
	}
}

// ParseRate reads "N/unit" (unit s|sec|second, m|min|minute, h|hour,
// d|day) into events a second; "0" is 0, meaning unlimited.
func ParseRate(s string) (float64, error) {
	if s == "0" {
		return 0, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
	if err != nil {
		return 0, err
	}
	var per float64
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		per = 1
	case "m", "min", "minute":
		per = 60
	case "h", "hour":
		per = 3600
	case "d", "day":
		per = 86400
	default:
		return 0, strconv.ErrSyntax
	}
	return float64(n) / per, nil
}

func (d *decoder) control(t *table) {
	t.allow("socket", "metrics")
	c := &d.cfg.Control
	if s, ok := t.str("socket"); ok {
		if s == "" {
			t.errorf("socket", "must not be empty")
		} else {
			c.Socket = s
		}
	}
	if s, ok := t.str("metrics"); ok {
		host, port, err := net.SplitHostPort(s)
		pn, perr := strconv.Atoi(port)
		if err != nil || perr != nil || pn < 1 || pn > 65535 {
			t.errorf("metrics", "%q is not a listen address like \"127.0.0.1:9100\"", s)
		} else if host != "" && host != "localhost" {
			if _, err := netip.ParseAddr(host); err != nil {
				t.errorf("metrics", "%q: host must be an IP address or localhost", s)
			} else {
				c.Metrics = s
			}
		} else {
			c.Metrics = s
		}
	}
}
