package lab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"fwd/config"
)

func labConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "configs", "lab.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPlan(t *testing.T) {
	cfg := labConfig(t)
	l, err := Plan(cfg, Options{Name: "fwdlab-test"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ ns, addr string }{
		"lan-a":    {"fwdlab-test-lan-a", "192.168.1.10"},
		"lan-b":    {"fwdlab-test-lan-b", "192.168.1.11"},
		"upstream": {"fwdlab-test-upstream", "203.0.113.1"},
		"server":   {"fwdlab-test-server", "198.51.100.20"},
	}
	if len(l.Hosts) != len(want) {
		t.Errorf("hosts = %+v", l.Hosts)
	}
	for name, w := range want {
		h, ok := l.Host(name)
		if !ok || h.Netns != w.ns || h.Addr.String() != w.addr {
			t.Errorf("host %s = %+v, want %+v", name, h, w)
		}
	}
	if l.UpstreamServerSide.String() != "198.51.100.1/24" {
		t.Errorf("upstream's server side = %s", l.UpstreamServerSide)
	}
	l.Configure(cfg)
	for _, ifc := range cfg.Interfaces {
		if len(ifc.Device) > 15 || !strings.HasSuffix(ifc.Device, "-"+ifc.Name) || ifc.Bridge != "br0" {
			t.Errorf("interface %s: device %q bridge %q", ifc.Name, ifc.Device, ifc.Bridge)
		}
	}
	if cfg.Interfaces[0].Netns != "fwdlab-test-lan" || cfg.Interfaces[1].Netns != "fwdlab-test-upstream" {
		t.Errorf("netns = %q, %q", cfg.Interfaces[0].Netns, cfg.Interfaces[1].Netns)
	}
	// Another lab's devices never share a name with this one's.
	other, _ := Plan(cfg, Options{Name: "fwdlab-other"})
	if other.Segments[0].Device == l.Segments[0].Device {
		t.Errorf("two labs use device %s", l.Segments[0].Device)
	}
	if a, b := NewName(), NewName(); a == b || !strings.HasPrefix(a, Prefix) {
		t.Errorf("NewName gave %q and %q", a, b)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			name: "no default route",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/24\"\n",
			want: "no default route",
		},
		{
			name: "no room for hosts",
			src:  "[[interface]]\nname = \"lan0\"\naddr = \"192.168.1.1/29\"\n[[interface]]\nname = \"wan0\"\naddr = \"203.0.113.2/24\"\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"203.0.113.1\"\n",
			want: "no room for hosts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("t.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Plan(cfg, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Plan(labConfig(t), Options{Name: "a/b"}); err == nil {
		t.Error("a name with a slash was accepted")
	}
}

// TestBuildDown builds the lab without fwd: the LAN hosts reach each other
// over the bridge, the upstream router reaches the server, and nothing is
// left after Down.
func TestBuildDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	l, err := Up(labConfig(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct{ from, to string }{{"lan-a", "192.168.1.11"}, {"upstream", "198.51.100.20"}, {"server", "198.51.100.1"}} {
		if out, err := l.Command(ctx, c.from, "ping", "-c", "1", "-W", "2", c.to).CombinedOutput(); err != nil {
			t.Errorf("%s: ping %s: %v\n%s", c.from, c.to, err, out)
		}
	}
	// No namespace routes out of the machine.
	for _, h := range l.Hosts {
		out, err := l.Command(ctx, h.Name, "ip", "route", "get", "192.0.2.1").CombinedOutput()
		if h.Name == "upstream" && err == nil {
			t.Errorf("upstream has a route to 192.0.2.1: %s", out)
		}
	}
	// Sockets made by Listen live in the host's namespace.
	ln, err := l.Listen("server", "tcp", "198.51.100.20:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := l.Dial(ctx, "upstream", "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial from upstream to %s: %v", ln.Addr(), err)
	}
	c.Close()
	// The calling thread never left its namespace.
	runtime.LockOSThread()
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	init, _ := os.Readlink("/proc/self/ns/net")
	runtime.UnlockOSThread()
	if self != init {
		t.Errorf("test thread in %s, want %s", self, init)
	}
	if _, err := Up(labConfig(t), Options{Name: l.Name}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second lab of the same name: err = %v", err)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range l.namespaces() {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left after Down", ns)
		}
	}
	// Remove finds leftovers by prefix.
	name := NewName()
	l2, err := Up(labConfig(t), Options{Name: name, Server: netip.MustParsePrefix("198.51.100.20/24")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Down() })
	got, err := Remove(name + "-")
	if err != nil || len(got) != 5 {
		t.Errorf("Remove = %v, %v; want the 5 namespaces", got, err)
	}
}

// TestKernelRouter: with KernelRouter the kernel stands where fwd would,
// with the interfaces' addresses and the configured routes.
func TestKernelRouter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	l, err := Up(labConfig(t), Options{KernelRouter: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })
	if h, ok := l.Host("router"); !ok || h.Netns != l.Name+"-router" {
		t.Fatalf("router host = %+v", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct{ from, to string }{{"lan-a", "192.168.1.1"}, {"lan-b", "203.0.113.2"}, {"upstream", "203.0.113.2"}} {
		if out, err := l.Command(ctx, c.from, "ping", "-c", "1", "-W", "2", c.to).CombinedOutput(); err != nil {
			t.Errorf("%s: ping %s: %v\n%s", c.from, c.to, err, out)
		}
	}
	out, err := l.Command(ctx, "router", "ip", "route", "show", "default").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "default via 203.0.113.1 dev wan0") {
		t.Errorf("router's default route: %q, %v", out, err)
	}
}
