package config

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	return c
}

func TestLoadGateway(t *testing.T) {
	const file = "../configs/gateway.toml"
	c := mustLoad(t, file)

	// The copy in configs/ must stay the reference file as it stands.
	ref, err := os.ReadFile("../../shared/examples/gateway.toml")
	if err != nil {
		t.Fatalf("reference gateway.toml: %v", err)
	}
	ours, _ := os.ReadFile(file)
	if string(ref) != string(ours) {
		t.Errorf("configs/gateway.toml differs from ../shared/examples/gateway.toml")
	}

	if c.File != file || c.Dataplane.Mode != "tap" || c.Dataplane.QueueMaxLen != 4096 {
		t.Errorf("dataplane = %+v file %q", c.Dataplane, c.File)
	}
	wantIfs := []struct {
		name string
		addr string
	}{{"lan0", "192.168.1.1/24"}, {"wan0", "203.0.113.2/24"}}
	if len(c.Interfaces) != len(wantIfs) {
		t.Fatalf("interfaces = %+v", c.Interfaces)
	}
	for i, w := range wantIfs {
		ifc := c.Interfaces[i]
		if ifc.Index != i || ifc.Name != w.name || ifc.Addr != netip.MustParsePrefix(w.addr) || ifc.MTU != 1500 {
			t.Errorf("interface[%d] = %+v, want %s %s", i, ifc, w.name, w.addr)
		}
	}
	if p := c.Interfaces[1].Pos; p.Line != 12 || p.Col != 1 {
		t.Errorf("interface[1].Pos = %v, want line 12", p)
	}
	wantRoute := Route{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("203.0.113.1"), Dev: "wan0", Pos: Pos{file, 17, 1}}
	if len(c.Routes) != 1 || c.Routes[0] != wantRoute {
		t.Errorf("routes = %+v, want %+v", c.Routes, wantRoute)
	}

	ct := c.Conntrack
	if ct.MaxEntries != 262144 || ct.TCPLoose || ct.TCPMaxRetrans != 3 {
		t.Errorf("conntrack = %+v", ct)
	}
	to := ct.Timeouts
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"tcp_syn_sent", to.TCPSynSent, 120 * time.Second},
		{"tcp_established", to.TCPEstablished, 5 * 24 * time.Hour},
		{"tcp_last_ack", to.TCPLastAck, 30 * time.Second},
		{"tcp_close", to.TCPClose, 10 * time.Second},
		{"udp_stream", to.UDPStream, 180 * time.Second}, // Linux's default is 120s: the file wins
		{"icmp", to.ICMP, 30 * time.Second},
		{"tcp_unacknowledged default", to.TCPUnacknowledged, 300 * time.Second},
		{"generic default", to.Generic, 600 * time.Second},
	} {
		if tc.got != tc.want {
			t.Errorf("timeout %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if f := c.Fragments; f.Timeout != 30*time.Second || f.MaxMemory != 4194304 || f.Overlap != "drop" || f.MaxFrags != 64 {
		t.Errorf("fragments = %+v", f)
	}
	if c.ICMP.RatePerSec != 100 || c.ICMP.RateBurst != 50 {
		t.Errorf("icmp = %+v", c.ICMP)
	}

	if len(c.Sets) != 2 {
		t.Fatalf("sets = %+v", c.Sets)
	}
	bl := c.Set("blocklist")
	if bl == nil || bl.Type != "ipv4_net" || bl.Pos != (Pos{file, 49, 1}) {
		t.Fatalf("blocklist = %+v", bl)
	}
	if got := []any{bl.Elements[0].V, bl.Elements[1].V}; !reflect.DeepEqual(got, []any{"198.51.100.66", "192.0.2.0/24"}) {
		t.Errorf("blocklist elements = %v", got)
	}
	if p := bl.Elements[1].Pos; p != (Pos{file, 51, 30}) {
		t.Errorf("blocklist elements[1] at %v, want 51:30", p)
	}
	wp := c.Set("web_ports")
	if wp == nil || len(wp.Elements) != 3 || wp.Elements[0].V != int64(80) || wp.Elements[2].V != "8000-8099" {
		t.Errorf("web_ports = %+v", wp)
	}

	type chainWant struct {
		table, name, policy string
		rules               int
	}
	want := []chainWant{
		{"nat", "prerouting", "", 1},
		{"nat", "postrouting", "", 1},
		{"filter", "input", "drop", 3},
		{"filter", "ssh_guard", "", 3},
		{"filter", "forward", "drop", 7},
	}
	var got []chainWant
	for _, ch := range c.Chains {
		got = append(got, chainWant{ch.Table, ch.Name, ch.Policy, len(ch.Rules)})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chains = %+v\nwant %+v", got, want)
	}

	// The published web server rule: keys in file order with their places.
	fwd := c.Chain("filter", "forward")
	r := fwd.Rules[5]
	if r.Pos != (Pos{file, 140, 1}) {
		t.Errorf("forward rule 5 at %v", r.Pos)
	}
	var keys []string
	for _, kv := range r.Keys {
		keys = append(keys, kv.Key)
	}
	if w := "comment in out dst proto dport ct_state tcp_flags action"; strings.Join(keys, " ") != w {
		t.Errorf("keys = %v, want %s", keys, w)
	}
	dport, ok := r.Get("dport")
	if !ok || dport.Pos != (Pos{file, 146, 1}) || dport.Value.V != "@web_ports" {
		t.Errorf("dport = %+v", dport)
	}
	tf, _ := r.Get("tcp_flags")
	m, ok := tf.Value.Table()
	if !ok {
		t.Fatalf("tcp_flags = %v", tf.Value)
	}
	if p := m["mask"].Pos; p != (Pos{file, 148, 15}) {
		t.Errorf("tcp_flags.mask at %v, want 148:15", p)
	}
	if p := m["set"].Pos; p != (Pos{file, 148, 52}) {
		t.Errorf("tcp_flags.set at %v, want 148:52", p)
	}
	if s, ok := m["set"].Strings(); !ok || !reflect.DeepEqual(s, []string{"syn"}) {
		t.Errorf("tcp_flags.set = %v", m["set"])
	}
	if l, _ := m["mask"].List(); len(l) != 4 || l[3].V != "rst" || l[3].Pos != (Pos{file, 148, 44}) {
		t.Errorf("tcp_flags.mask = %+v", l)
	}
	ls, _ := c.Chain("filter", "ssh_guard").Rules[0].Get("limit_burst")
	if ls.Value.V != int64(3) || ls.Pos.Line != 103 {
		t.Errorf("limit_burst = %+v", ls)
	}
	if in := c.Chain("filter", "input"); in.Pos != (Pos{file, 77, 1}) || in.PolicyPos != (Pos{file, 78, 1}) {
		t.Errorf("filter.input at %v policy at %v", in.Pos, in.PolicyPos)
	}
}

func TestLoadLab(t *testing.T) {
	const file = "../configs/lab.toml"
	c := mustLoad(t, file)
	lan, wan := c.Interface("lan0"), c.Interface("wan0")
	if lan == nil || wan == nil {
		t.Fatalf("interfaces = %+v", c.Interfaces)
	}
	if lan.Addr != netip.MustParsePrefix("192.168.1.1/24") || wan.Addr != netip.MustParsePrefix("203.0.113.2/24") {
		t.Errorf("lan0 %v wan0 %v", lan.Addr, wan.Addr)
	}
	for _, h := range []string{"192.168.1.10", "192.168.1.11"} {
		if !lan.Addr.Masked().Contains(netip.MustParseAddr(h)) {
			t.Errorf("host %s not on lan0", h)
		}
	}
	if len(c.Routes) != 1 || c.Routes[0].Via != netip.MustParseAddr("203.0.113.1") || c.Routes[0].Dev != "wan0" || c.Routes[0].To.Bits() != 0 {
		t.Errorf("routes = %+v", c.Routes)
	}
	if c.Conntrack.Timeouts.TCPEstablished != 120*time.Hour || c.Fragments.MaxMemory != 4<<20 || c.ICMP.RatePerSec != 100 {
		t.Errorf("conntrack %+v fragments %+v icmp %+v", c.Conntrack, c.Fragments, c.ICMP)
	}
	pre := c.Chain("nat", "prerouting")
	if pre == nil || len(pre.Rules) != 1 {
		t.Fatalf("nat prerouting = %+v", pre)
	}
	to, _ := pre.Rules[0].Get("to")
	dport, _ := pre.Rules[0].Get("dport")
	if to.Value.V != "192.168.1.10:80" || dport.Value.V != int64(8080) {
		t.Errorf("dnat to %v dport %v", to.Value, dport.Value)
	}
	post := c.Chain("nat", "postrouting")
	if a, _ := post.Rules[0].Get("action"); a.Value.V != "masquerade" {
		t.Errorf("postrouting action %v", a.Value)
	}
	fw := c.Chain("filter", "forward")
	if fw.Policy != "drop" || len(fw.Rules) != 7 {
		t.Errorf("forward policy %q, %d rules", fw.Policy, len(fw.Rules))
	}
	rw, _ := fw.Rules[2].Get("reject_with")
	dp, _ := fw.Rules[2].Get("dport")
	if rw.Value.V != "tcp-reset" || dp.Value.V != int64(23) {
		t.Errorf("demo reject rule = %+v", fw.Rules[2].Keys)
	}
	in := c.Chain("filter", "input")
	if in.Policy != "drop" || len(in.Rules) != 2 {
		t.Errorf("input = %+v", in)
	}
	if len(c.Chains) != 4 {
		t.Errorf("%d chains, want 4", len(c.Chains))
	}

	// Only rule keys gateway.toml uses.
	allowed := "comment in out src dst proto sport dport ct_state icmp_type tcp_flags limit limit_burst log_prefix action target to reject_with"
	for _, ch := range c.Chains {
		for _, r := range ch.Rules {
			for _, kv := range r.Keys {
				if !contains(strings.Fields(allowed), kv.Key) {
					t.Errorf("%v: lab.toml uses rule key %q", kv.Pos, kv.Key)
				}
			}
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/no-such.toml")
	if err == nil || err.Error() != "testdata/no-such.toml: no such file or directory" {
		t.Errorf("err = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	d.File = "empty.toml"
	if !reflect.DeepEqual(c, d) {
		t.Errorf("empty file = %+v, want Default()", c)
	}
	c, err = Parse("x.toml", []byte("[dataplane]\nqueues = \"2-5\"\nfail_open = true\n[[interface]]\nname = \"a\"\naddr = \"10.0.0.1/31\"\nmac = \"02:00:00:00:00:01\"\ndevice = \"tap7\"\nnetns = \"lab-up\"\n[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.0.0\"\n[control]\nmetrics = \":9100\"\n[icmp]\nrate_limit = \"0\"\n[fragments]\nmax_memory = 65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataplane.Queues != [2]uint16{2, 5} || !c.Dataplane.FailOpen {
		t.Errorf("dataplane = %+v", c.Dataplane)
	}
	if i := c.Interfaces[0]; i.MTU != 1500 || i.MAC != [6]byte{2, 0, 0, 0, 0, 1} || i.Device != "tap7" || i.Netns != "lab-up" {
		t.Errorf("interface = %+v", i)
	}
	if r := c.Routes[0]; r.Dev != "a" {
		t.Errorf("route dev not inferred from via: %+v", r)
	}
	if c.ICMP.RatePerSec != 0 || c.Fragments.MaxMemory != 65536 {
		t.Errorf("icmp = %+v fragments = %+v", c.ICMP, c.Fragments)
	}
	if c.Control.Metrics != ":9100" || c.Control.Socket != "/run/fwd/fwd.sock" {
		t.Errorf("control = %+v", c.Control)
	}
	if n := c.NAT; n.Filtering != "address-and-port-dependent" || n.MappingTimeout != 5*time.Minute || !n.Hairpin {
		t.Errorf("nat_behavior defaults = %+v", n)
	}
	c, err = Parse("n.toml", []byte("[nat_behavior]\nfiltering = \"address-dependent\"\nmapping_timeout = \"1h\"\nhairpin = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.NAT; n.Filtering != "address-dependent" || n.MappingTimeout != time.Hour || n.Hairpin {
		t.Errorf("nat_behavior = %+v", n)
	}
}

// base is a valid prefix that error cases build on (lines 1-8).
const base = `[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[interface]]
name = "wan0"
addr = "203.0.113.2/24"

`

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the whole error text, one error a line
	}{
		{
			name: "syntax error",
			src:  "[dataplane]\nmode = tap\n",
			want: `t.toml:2:8: expected value but found "tap" instead`,
		},
		{
			name: "unterminated string",
			src:  base + "[[route]]\nto = \"0.0.0.0/0\nvia = \"203.0.113.1\"\n",
			want: `t.toml:10:16: strings cannot contain newlines`,
		},
		{
			name: "unknown key with suggestion",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\nmtuu = 1500\n",
			want: `t.toml:4:1: unknown key "mtuu" in [[interface]]; did you mean "mtu"?`,
		},
		{
			name: "unknown top-level table",
			src:  "[conntrak]\nmax_entries = 5\n",
			want: `t.toml:1:1: unknown key "conntrak" at the top level; did you mean "conntrack"?`,
		},
		{
			name: "unknown key in nested table",
			src:  "[conntrack.timeouts]\n  tcp_establshed = \"5d\"\n",
			want: `t.toml:2:3: unknown key "tcp_establshed" in [conntrack.timeouts]; did you mean "tcp_established"?`,
		},
		{
			name: "bad CIDR",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.300/24\"\n",
			want: `t.toml:3:1: addr: "192.168.1.300/24" is not an IPv4 address with a prefix length like "192.168.1.1/24"`,
		},
		{
			name: "network address as interface address",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.0/24\"\n",
			want: `t.toml:3:1: addr: "192.168.1.0/24" is the network address of its subnet; give the interface's own address`,
		},
		{
			name: "bad mtu type",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\nmtu = \"big\"\n",
			want: `t.toml:4:1: mtu: expected an integer, got string "big"`,
		},
		{
			name: "mtu out of range",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\n    mtu = 70000\n",
			want: `t.toml:4:5: mtu: 70000 out of range 68..65535`,
		},
		{
			name: "route dev unknown",
			src:  base + "[[route]]\nto = \"0.0.0.0/0\"\nvia = \"203.0.113.1\"\ndev = \"wan1\"\n",
			want: `t.toml:12:1: dev: no [[interface]] named "wan1"; did you mean "wan0"?`,
		},
		{
			name: "via outside subnet",
			src:  base + "[[route]]\nto = \"0.0.0.0/0\"\nvia = \"203.0.114.1\"\ndev = \"wan0\"\n",
			want: `t.toml:11:1: via: 203.0.114.1 is not in wan0's subnet 203.0.113.0/24`,
		},
		{
			name: "route to with host bits",
			src:  base + "[[route]]\nto = \"10.1.2.3/16\"\ndev = \"lan0\"\n",
			want: `t.toml:10:1: to: "10.1.2.3/16" has host bits set; did you mean "10.1.0.0/16"?`,
		},
		{
			name: "duplicate interface",
			src:  base + "[[interface]]\nname = \"lan0\"\naddr = \"10.0.0.1/24\"\n",
			want: `t.toml:10:1: name: duplicate interface "lan0" (first at t.toml:2:1)`,
		},
		{
			name: "bad duration",
			src:  "[conntrack.timeouts]\nudp = \"30x\"\n",
			want: `t.toml:2:1: udp: "30x" is not a duration like "30s", "5m", "5d"`,
		},
		{
			name: "duration of the wrong type",
			src:  "[fragments]\ntimeout = 30\n",
			want: `t.toml:2:1: timeout: expected a duration like "30s", got integer 30`,
		},
		{
			name: "bad size",
			src:  "[fragments]\nmax_memory = \"4 gigs\"\n",
			want: `t.toml:2:1: max_memory: "4 gigs" is not a size like "4MiB", "512KiB", "1MB" or a number of bytes`,
		},
		{
			name: "nat filtering typo",
			src:  "[nat_behavior]\nfiltering = \"endpoint-independant\"\n",
			want: `t.toml:2:1: filtering: "endpoint-independant" is not one of address-and-port-dependent, address-dependent, endpoint-independent; did you mean "endpoint-independent"?`,
		},
		{
			name: "nat mapping timeout under RFC 4787's 2 minutes",
			src:  "[nat_behavior]\nmapping_timeout = \"30s\"\n",
			want: `t.toml:2:1: mapping_timeout: 30s is under the 2 minutes RFC 4787 (REQ-5) allows a mapping`,
		},
		{
			name: "nat_behavior unknown key",
			src:  "[nat_behavior]\nhairpn = true\n",
			want: `t.toml:2:1: unknown key "hairpn" in [nat_behavior]; did you mean "hairpin"?`,
		},
		{
			name: "bad overlap policy",
			src:  "[fragments]\noverlap = \"windowz\"\n",
			want: `t.toml:2:1: overlap: "windowz" is not one of drop, first, last, bsd, linux, windows, solaris; did you mean "windows"?`,
		},
		{
			name: "bad set element",
			src:  "[sets.blocklist]\ntype = \"ipv4_net\"\nelements = [\"198.51.100.66\", \"192.0.2.1/24\"]\n",
			want: `t.toml:3:30: elements[1]: "192.0.2.1/24" has host bits set; did you mean "192.0.2.0/24"?`,
		},
		{
			name: "set element of the wrong type",
			src:  "[sets.web]\ntype = \"port\"\nelements = [\n  80,\n  \"8099-8000\",\n]\n",
			want: `t.toml:5:3: elements[1]: "8099-8000" is not a port or a port range like "8000-8099"`,
		},
		{
			name: "duplicate set",
			src:  "[sets.a]\ntype = \"port\"\n\n[sets.a]\ntype = \"port\"\n",
			want: `t.toml:4:1: duplicate set "a"`,
		},
		{
			name: "policy on a user chain",
			src:  "[filter.guard]\npolicy = \"drop\"\n",
			want: `t.toml:2:1: policy: only built-in chains have a policy; "guard" is a user chain`,
		},
		{
			name: "bad policy",
			src:  "[filter.input]\npolicy = \"reject\"\n",
			want: `t.toml:2:1: policy: "reject" is not one of accept, drop`,
		},
		{
			name: "chain at a hook its table lacks",
			src:  "[[filter.prerouting.rule]]\naction = \"accept\"\n",
			want: `t.toml:1:1: table filter has no prerouting chain (its built-in chains are input, forward, output)`,
		},
		{
			name: "unknown key in chain",
			src:  "[nat.postrouting]\npolcy = \"accept\"\n",
			want: `t.toml:2:1: unknown key "polcy" in [nat.postrouting]; did you mean "policy"?`,
		},
		{
			name: "rule not an array of tables",
			src:  "[filter.input.rule]\naction = \"accept\"\n",
			want: `t.toml:1:1: rule: expected an array of tables [[filter.input.rule]], got table { action = "accept" }`,
		},
		{
			name: "bad rate",
			src:  "[icmp]\nrate_limit = \"100/fortnight\"\n",
			want: `t.toml:2:1: rate_limit: "100/fortnight" is not a rate like "100/s", "10/minute" or "0"`,
		},
		{
			name: "bad mode",
			src:  "[dataplane]\nmode = \"nfq\"\n",
			want: `t.toml:2:1: mode: "nfq" is not one of tap, nfqueue; did you mean "nfqueue"?`,
		},
		{
			name: "bad queue range",
			src:  "[dataplane]\nqueues = \"3-1\"\n",
			want: `t.toml:2:1: queues: "3-1": range start is above its end`,
		},
		{
			name: "interface as a single table",
			src:  "[interface]\nname = \"lan0\"\n",
			want: `t.toml:1:1: interface: expected an array of tables [[interface]], got table { name = "lan0" }`,
		},
		{
			name: "dotted key at its own column",
			src:  "conntrack.timeouts.udp = \"soon\"\n",
			want: `t.toml:1:20: udp: "soon" is not a duration like "30s", "5m", "5d"`,
		},
		{
			name: "inline table key at its own column",
			src:  "fragments = { timeout = \"30s\", max_frags = 0 }\n",
			want: `t.toml:1:32: max_frags: 0 out of range 1..8192`,
		},
		{
			name: "bad metrics address",
			src:  "[control]\nmetrics = \"localhost\"\n",
			want: `t.toml:2:1: metrics: "localhost" is not a listen address like "127.0.0.1:9100"`,
		},
		{
			name: "overlapping subnets",
			src:  base + "[[interface]]\nname = \"dmz0\"\naddr = \"192.168.1.129/25\"\n",
			want: `t.toml:11:1: addr: subnet 192.168.1.128/25 overlaps lan0's subnet 192.168.1.0/24`,
		},
		{
			name: "device used twice",
			src:  base + "[[interface]]\nname = \"dmz0\"\ndevice = \"wan0\"\naddr = \"10.0.0.1/24\"\n",
			want: `t.toml:11:1: device: device "wan0" already used (at t.toml:6:1)`,
		},
		{
			name: "bad netns",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\nnetns = \"run/netns/x\"\n",
			want: `t.toml:4:1: netns: "run/netns/x" is not a namespace name (as ` + "`ip netns add`" + ` makes) or an absolute path`,
		},
		{
			name: "duplicate route",
			src:  base + "[[route]]\nto = \"0.0.0.0/0\"\nvia = \"203.0.113.1\"\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"192.168.1.254\"\n",
			want: `t.toml:13:1: to: duplicate route to 0.0.0.0/0 (first at t.toml:10:1)`,
		},
		{
			name: "via in no subnet",
			src:  base + "[[route]]\nto = \"10.0.0.0/8\"\nvia = \"10.0.0.1\"\n",
			want: `t.toml:11:1: via: 10.0.0.1 is in no interface's subnet`,
		},
		{
			name: "bad mac",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\nmac = \"02:00:00:00:00\"\n",
			want: `t.toml:4:1: mac: "02:00:00:00:00" is not a MAC address like "02:00:00:00:00:01"`,
		},
		{
			name: "unknown set type",
			src:  "[sets.s]\ntype = \"ipv4_adr\"\nelements = [\"x\"]\n",
			want: `t.toml:2:1: type: "ipv4_adr" is not one of ipv4_addr, ipv4_net, port, ipv4_addr_port; did you mean "ipv4_addr"?`,
		},
		{
			name: "bad addr:port element",
			src:  "[sets.s]\ntype = \"ipv4_addr_port\"\nelements = [\"192.0.2.1:80\", \"192.0.2.1\"]\n",
			want: `t.toml:3:29: elements[1]: "192.0.2.1" is not an address and port like "192.0.2.1:80"`,
		},
		{
			name: "uppercase hook",
			src:  "[filter.INPUT]\n",
			want: `t.toml:1:1: chain "INPUT": built-in chains are lowercase; did you mean "input"?`,
		},
		{
			name: "rate limit as a number",
			src:  "[icmp]\nrate_limit = 100\n",
			want: `t.toml:2:1: rate_limit: 100: expected a rate like "100/s" or 0 for unlimited`,
		},
		{
			name: "interface without a name",
			src:  "[[interface]]\naddr = \"10.0.0.1/24\"\n",
			want: `t.toml:1:1: [[interface]] needs a name`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned with an error")
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			if err.Error() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	src := base + `[[interface]]
name = "lan0"
addr = "10.0.0.0/24"
mtu = "big"

[[route]]
to = "0.0.0.0/0"
via = "10.0.0.1"
dev = "wan0"

[conntrack]
max_entries = 0

[fragments]
max_memory = "lots"

[sets.s]
type = "ipv4_addr"
elements = ["10.0.0.1", "10.0.0.300"]

[filter.bogus]
policy = "drop"

[[raw.forward.rule]]
action = "notrack"
`
	want := []string{
		`t.toml:10:1: name: duplicate interface "lan0" (first at t.toml:2:1)`,
		`t.toml:11:1: addr: "10.0.0.0/24" is the network address of its subnet; give the interface's own address`,
		`t.toml:12:1: mtu: expected an integer, got string "big"`,
		`t.toml:16:1: via: 10.0.0.1 is not in wan0's subnet 203.0.113.0/24`,
		`t.toml:20:1: max_entries: 0 out of range 1..2147483647`,
		`t.toml:23:1: max_memory: "lots" is not a size like "4MiB", "512KiB", "1MB" or a number of bytes`,
		`t.toml:27:25: elements[1]: "10.0.0.300" is not an IPv4 address like "192.0.2.1"`,
		`t.toml:30:1: policy: only built-in chains have a policy; "bogus" is a user chain`,
		`t.toml:32:1: table raw has no forward chain (its built-in chains are prerouting, output)`,
	}
	_, err := Parse("t.toml", []byte(src))
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPositionIndex(t *testing.T) {
	src := `# comment [not.a.table]
top = 1 # trailing
[a]
"quoted key" = "x # not a comment"
b.c . d = [
  1, # c
  { e = 2, "f g" = [3, 4] },
]
s = """
[[not.a.header]]
x = 1
"""
l = '''
y = 2'''
t = 1979-05-27 07:32:00Z

[[arr]]
k = 1
[arr.sub]
m = 2
[[arr]]
k = 3
[[arr.inner]]
n = 4
[[arr.inner]]
n = 5
[[arr]]
[[arr.inner]]
  n = 6
	inl = {a=1,b={c=2}}
`
	x := indexPositions("p.toml", []byte(src))
	tests := []struct {
		path      string
		line, col int
	}{
		{"top", 2, 1},
		{"a", 3, 1},
		{`a."quoted key"`, 4, 1},
		{"a.b", 5, 1},
		{"a.b.c", 5, 3},
		{"a.b.c.d", 5, 7},
		{"a.b.c.d[0]", 6, 3},
		{"a.b.c.d[1]", 7, 3},
		{"a.b.c.d[1].e", 7, 5},
		{`a.b.c.d[1]."f g"`, 7, 12},
		{`a.b.c.d[1]."f g"[1]`, 7, 24},
		{"a.s", 9, 1},
		{"a.l", 13, 1},
		{"a.t", 15, 1},
		{"arr", 17, 1},
		{"arr[0]", 17, 1},
		{"arr[0].k", 18, 1},
		{"arr[0].sub", 19, 1},
		{"arr[0].sub.m", 20, 1},
		{"arr[1].k", 22, 1},
		{"arr[1].inner[0].n", 24, 1},
		{"arr[1].inner[1].n", 26, 1},
		{"arr[2]", 27, 1},
		{"arr[2].inner[0]", 28, 1},
		{"arr[2].inner[0].n", 29, 3},
		{"arr[2].inner[0].inl.b.c", 30, 16},
	}
	for _, tt := range tests {
		p, ok := x.pos[tt.path]
		if !ok {
			t.Errorf("%s: not indexed", tt.path)
			continue
		}
		if p.Line != tt.line || p.Col != tt.col {
			t.Errorf("%s at %d:%d, want %d:%d", tt.path, p.Line, p.Col, tt.line, tt.col)
		}
	}
	for _, bad := range []string{"not", "not.a.header", "x", "y", "not.a.table"} {
		if _, ok := x.pos[bad]; ok {
			t.Errorf("%q indexed from inside a string or comment", bad)
		}
	}
	if p := x.lookup("arr[1].inner[0].missing"); p.Line != 23 {
		t.Errorf("lookup falls back to the nearest ancestor: %v", p)
	}
	if p := x.lookup("nowhere"); p.Line != 1 || p.Col != 1 {
		t.Errorf("lookup of an unknown path = %v, want 1:1", p)
	}
	if got := parentPath(`a."b.c"[2].d`); got != `a."b.c"[2]` {
		t.Errorf("parentPath = %q", got)
	}
	if got := parentPath(`a."b.c"`); got != "a" {
		t.Errorf("parentPath = %q", got)
	}
}

func TestBOMAndCRLF(t *testing.T) {
	src := "\xEF\xBB\xBF[[interface]]\r\nname = \"lan0\"\r\naddr = \"192.168.1.1/24\"\r\nmtu = 1\r\n"
	_, err := Parse("w.toml", []byte(src))
	if err == nil || err.Error() != "w.toml:4:1: mtu: 1 out of range 68..65535" {
		t.Errorf("err = %v", err)
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"mtu", "name", "addr", "device", "mac", "bridge", "nfqueue"}
	tests := []struct {
		name, word, want string
	}{
		{"extra letter", "mtuu", "mtu"},
		{"transposition", "nmae", "name"},
		{"missing letter", "adr", "addr"},
		{"exact", "mac", "mac"},
		{"too far", "speed", ""},
		{"empty", "", ""},
		{"prefix", "nfq", "nfqueue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Suggest(tt.word, cands); got != tt.want {
				t.Errorf("Suggest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
		ok       bool
	}{
		{"seconds", "30s", 30 * time.Second, true},
		{"days", "5d", 120 * time.Hour, true},
		{"days and hours", "1d12h", 36 * time.Hour, true},
		{"go syntax", "1h30m", 90 * time.Minute, true},
		{"no unit", "30", 0, false},
		{"negative days", "-1d", 0, false},
		{"bad unit", "3w", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		ok       bool
	}{
		{"MiB", "4MiB", 4194304, true},
		{"KiB", "512KiB", 524288, true},
		{"MB", "1MB", 1000000, true},
		{"bytes", "1500B", 1500, true},
		{"plain", "65536", 65536, true},
		{"unknown unit", "4TB", 0, false},
		{"overflow", "9999999999999GiB", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseSize(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		name, in string
		want     float64
		ok       bool
	}{
		{"per second", "100/s", 100, true},
		{"per minute", "10/minute", 10.0 / 60, true},
		{"per hour", "36/hour", 0.01, true},
		{"unlimited", "0", 0, true},
		{"no unit", "100", 0, false},
		{"bad unit", "1/week", 0, false},
		{"negative", "-1/s", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseRate(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestValueHelpers(t *testing.T) {
	kv := KV{Key: "dport", Value: Value{V: "x", Pos: Pos{"r.toml", 3, 1}}, Pos: Pos{"r.toml", 3, 1}}
	if got := kv.TypeError("an integer").Error(); got != `r.toml:3:1: dport: expected an integer, got string "x"` {
		t.Errorf("TypeError = %s", got)
	}
	if _, ok := kv.Value.Int(); ok {
		t.Error("Int of a string")
	}
	l := Value{V: []Value{{V: "a"}, {V: int64(1)}}}
	if _, ok := l.Strings(); ok {
		t.Error("Strings of a mixed list")
	}
	if got := Describe(map[string]any{"b": int64(1), "a": []any{"x"}}); got != `table { a = ["x"], b = 1 }` {
		t.Errorf("Describe = %s", got)
	}
}

// errorCases are the TestErrors inputs, also fuzz seeds.
func errorCases() []string {
	return []string{
		"[dataplane]\nmode = tap\n",
		"[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\nmtuu = 1500\n",
		base + "[[route]]\nto = \"0.0.0.0/0\"\nvia = \"203.0.114.1\"\ndev = \"wan1\"\n",
		"[conntrack.timeouts]\nudp = \"30x\"\n[fragments]\nmax_memory = \"4 gigs\"\noverlap = \"windowz\"\n",
		"[sets.b]\ntype = \"ipv4_net\"\nelements = [\"198.51.100.66\", \"192.0.2.1/24\", 5]\n",
		"[filter.guard]\npolicy = \"drop\"\n[[filter.prerouting.rule]]\naction = \"accept\"\n[icmp]\nrate_limit = \"1/fortnight\"\n",
		"[sets.a]\ntype = \"port\"\n\n[sets.a]\ntype = \"port\"\n",
		"fragments = { timeout = \"30s\", max_frags = 0 }\n",
	}
}
