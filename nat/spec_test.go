package nat_test

import (
	"strings"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/nat"
	"fwd/packet"
	"fwd/pipeline"
)

// specStage puts a *nat.Spec on every new TCP packet to port 443: how a
// spec the rules cannot express yet (DNAT to several backends) reaches
// the nat stage.
type specStage struct{ spec *nat.Spec }

func (specStage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test.natspec", New: func() pipeline.Module { return new(specStage) }}
}

func (s *specStage) Provision(ctx *pipeline.Context) error {
	s.spec, _ = ctx.Lookup("test.natspec").(*nat.Spec)
	return nil
}

func (s *specStage) Name() string { return "natspec" }

func (s *specStage) Process(pkt *packet.Packet) pipeline.Verdict {
	if pkt.CTState == packet.CTNew && pkt.Parsed.Proto == packet.TCP && pkt.Parsed.DstPort == 443 {
		pkt.NAT = s.spec
	}
	return pipeline.Continue
}

func init() { pipeline.Register(specStage{}) }

func specLab(t *testing.T, spec string) *lab {
	t.Helper()
	sp, err := nat.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("lab.toml", []byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	env := &pipeline.Env{Config: cfg, Clock: clock, Pool: packet.NewPool()}
	env.Shared("test.natspec", func() (any, error) { return sp, nil })
	ord := []pipeline.Slot{
		{Hook: packet.Prerouting, ID: "stage.parse"},
		{Hook: packet.Prerouting, ID: "stage.conntrack"},
		{Hook: packet.Prerouting, ID: "stage.test.natspec"},
		{Hook: packet.Prerouting, ID: "stage.nat"},
		{Hook: packet.Prerouting, ID: "stage.route"},
		{Hook: packet.Postrouting, ID: "stage.nat"},
		{Hook: packet.Postrouting, ID: "stage.confirm"},
	}
	p, err := pipeline.Build(env, ord)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Cleanup)
	out := &sink{}
	return &lab{t: t, env: env, p: p, r: p.NewRunner(out), out: out, clock: clock}
}

func TestDNATBackends(t *testing.T) {
	backends := []ep{at(addr("192.168.1.50"), 8443), at(addr("192.168.1.51"), 8443), at(addr("192.168.1.52"), 8443)}
	t.Run("round robin", func(t *testing.T) {
		l := specLab(t, "dnat to=192.168.1.50:8443,192.168.1.51:8443,192.168.1.52:8443 balance=round_robin")
		for i := 0; i < 6; i++ {
			_, d := fields(l.forward(wan0, tcpPkt(at(remote, uint16(40000+i)), at(router, 443), fSYN, 1, 0, ""), lan0))
			want(t, "backend", d, backends[i%3])
		}
	})
	t.Run("hash of the source", func(t *testing.T) {
		l := specLab(t, "dnat to=192.168.1.50:8443,192.168.1.51:8443,192.168.1.52:8443")
		got := map[[4]byte]ep{}
		for i := 0; i < 30; i++ {
			src := [4]byte{198, 51, 100, byte(10 + i%5)}
			_, d := fields(l.forward(wan0, tcpPkt(at(src, uint16(40000+i)), at(router, 443), fSYN, 1, 0, ""), lan0))
			if prev, ok := got[src]; ok && prev != d {
				t.Fatalf("client %v moved from %v to %v", src, prev, d)
			}
			got[src] = d
			// The reply comes from the public endpoint.
			s, _ := fields(l.forward(lan0, tcpPkt(d, at(src, uint16(40000+i)), fSYN|fACK, 1, 2, ""), wan0))
			want(t, "reply source", s, at(router, 443))
		}
	})
}

func TestParseSpec(t *testing.T) {
	for _, c := range []struct {
		name, in string
		err      string
		check    func(*nat.Spec) bool
	}{
		{name: "snat range", in: "snat to=203.0.113.2-203.0.113.9:1024-2047 random persistent", check: func(s *nat.Spec) bool {
			return s.Kind == nat.SNAT && s.HasAddr && s.AddrMax == addr("203.0.113.9") && s.PortMin == 1024 && s.PortMax == 2047 &&
				s.Flags == nat.Random|nat.Persistent
		}},
		{name: "masquerade ports", in: "masquerade ports=1024-2047 fully_random", check: func(s *nat.Spec) bool {
			return s.Kind == nat.Masquerade && s.HasPorts && s.Flags == nat.FullyRandom
		}},
		{name: "dnat one", in: "dnat to=192.168.1.10:80", check: func(s *nat.Spec) bool {
			return s.Kind == nat.DNAT && s.AddrMin == addr("192.168.1.10") && s.PortMin == 80 && s.PortMax == 80
		}},
		{name: "dnat backends", in: "dnat to=192.168.1.10:80,192.168.1.11 balance=round_robin", check: func(s *nat.Spec) bool {
			return len(s.Backends) == 2 && s.Backends[1].Port() == 0 && s.Balance == nat.BalanceRoundRobin
		}},
		{name: "redirect", in: "redirect ports=3128", check: func(s *nat.Spec) bool { return s.Kind == nat.Redirect && s.PortMin == 3128 }},
		{name: "netmap", in: "netmap to=10.0.0.7/24", check: func(s *nat.Spec) bool {
			return s.Kind == nat.Netmap && s.Prefix.String() == "10.0.0.0/24"
		}},
		{name: "empty", in: "", err: "empty"},
		{name: "unknown kind", in: "nat to=1.2.3.4", err: "unknown kind"},
		{name: "snat without to", in: "snat", err: "needs to="},
		{name: "bad address", in: "snat to=1.2.3", err: "bad address"},
		{name: "reversed range", in: "snat to=1.2.3.9-1.2.3.4", err: "bad address range"},
		{name: "bad ports", in: "masquerade ports=9-1", err: "expected a port"},
		{name: "port zero", in: "dnat to=1.2.3.4:0", err: "bad port range"},
		{name: "ipv6", in: "dnat to=::1", err: `to "::1"`},
		{name: "bad balance", in: "dnat to=1.2.3.4 balance=least", err: "balance"},
		{name: "unknown option", in: "dnat to=1.2.3.4 sticky", err: "unknown option"},
		{name: "netmap without prefix", in: "netmap", err: "needs to="},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := nat.ParseSpec(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(s) {
				t.Errorf("spec %+v", s)
			}
		})
	}
	_ = header.ProtoTCP
}
