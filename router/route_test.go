package router

import (
	"net/netip"
	"testing"
	"time"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
)

func gatewayConfig() *config.Config {
	cfg := config.Default()
	cfg.Interfaces = []config.Interface{
		{Index: 0, Name: "lan0", Addr: netip.MustParsePrefix("192.168.1.1/24"), MTU: 1500},
		{Index: 1, Name: "wan0", Addr: netip.MustParsePrefix("203.0.113.2/24"), MTU: 1500},
		{Index: 2, Name: "dmz0", Addr: netip.MustParsePrefix("10.9.0.1/16"), MTU: 1500},
	}
	cfg.Routes = []config.Route{
		{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("203.0.113.1"), Dev: "wan0"},
		{To: netip.MustParsePrefix("10.9.8.0/24"), Via: netip.MustParseAddr("10.9.0.254"), Dev: "dmz0"},
		{To: netip.MustParsePrefix("10.9.8.7/32"), Via: netip.MustParseAddr("10.9.0.253"), Dev: "dmz0"},
	}
	return cfg
}

func TestLongestPrefixMatch(t *testing.T) {
	tab, err := NewTable(gatewayConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dst     string
		dev     int
		local   bool
		nextHop string
	}{
		{"own LAN address", "192.168.1.1", 0, true, "192.168.1.1"},
		{"own WAN address", "203.0.113.2", 1, true, "203.0.113.2"},
		{"connected LAN host", "192.168.1.10", 0, false, "192.168.1.10"},
		{"connected WAN neighbour", "203.0.113.1", 1, false, "203.0.113.1"},
		{"default route", "198.51.100.20", 1, false, "203.0.113.1"},
		{"network route beats connected /16", "10.9.8.1", 2, false, "10.9.0.254"},
		{"host route beats network route", "10.9.8.7", 2, false, "10.9.0.253"},
		{"connected /16", "10.9.1.1", 2, false, "10.9.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tab.Lookup(netip.MustParseAddr(tt.dst).As4())
			if r == nil {
				t.Fatal("no route")
			}
			nh := netip.AddrFrom4(r.NextHop(netip.MustParseAddr(tt.dst).As4())).String()
			if r.Dev != tt.dev || r.Local != tt.local || nh != tt.nextHop {
				t.Fatalf("got dev %d local %v next hop %s", r.Dev, r.Local, nh)
			}
		})
	}
	cfg := gatewayConfig()
	cfg.Routes = nil
	tab, _ = NewTable(cfg)
	if r := tab.Lookup([4]byte{8, 8, 8, 8}); r != nil {
		t.Fatalf("no default route configured, yet %v", r.Prefix)
	}
}

func TestRouteStage(t *testing.T) {
	cfg := gatewayConfig()
	cfg.Routes = cfg.Routes[1:] // no default route
	env := &pipeline.Env{Config: cfg, Clock: pipeline.NewVirtual(time.Unix(0, 0)), Pool: packet.NewPool()}
	pre, out := new(RouteStage), new(RouteStage)
	if err := pre.Provision(&pipeline.Context{Env: env, Hook: packet.Prerouting}); err != nil {
		t.Fatal(err)
	}
	if err := out.Provision(&pipeline.Context{Env: env, Hook: packet.Output}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		stage  *RouteStage
		dst    [4]byte
		v      pipeline.Verdict
		hook   packet.Hook
		outIf  int16
		reason packet.DropReason
	}{
		{"to the router", pre, [4]byte{192, 168, 1, 1}, pipeline.Continue, packet.Input, packet.NoIf, 0},
		{"directed broadcast is local", pre, [4]byte{192, 168, 1, 255}, pipeline.Continue, packet.Input, packet.NoIf, 0},
		{"limited broadcast is local", pre, [4]byte{255, 255, 255, 255}, pipeline.Continue, packet.Input, packet.NoIf, 0},
		{"forwarded", pre, [4]byte{10, 9, 8, 1}, pipeline.Continue, packet.Forward, 2, 0},
		{"no route is net unreachable", pre, [4]byte{8, 8, 8, 8}, pipeline.Reject, packet.Prerouting, packet.NoIf, packet.DropNoRoute},
		{"output routed", out, [4]byte{192, 168, 1, 7}, pipeline.Continue, packet.Output, 0, 0},
		{"output without route", out, [4]byte{8, 8, 8, 8}, pipeline.Drop, packet.Output, packet.NoIf, packet.DropNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := env.Pool.Get()
			p.Hook = tt.stage.hook
			p.Parsed.Dst = tt.dst
			v := tt.stage.Process(p)
			if v != tt.v || p.Hook != tt.hook || p.OutIf != tt.outIf || p.Drop != tt.reason {
				t.Fatalf("got %s hook %s outIf %d drop %s", v, p.Hook, p.OutIf, p.Drop)
			}
		})
	}
}
