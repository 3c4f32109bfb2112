package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"fwd/config"
)

// Prefix starts the name of every lab (NewName); `fwd lab down` removes
// the namespaces that start with it.
const Prefix = "fwdlab-"

// Options shape a lab.
type Options struct {
	// Name prefixes the lab's namespaces ("NAME-lan-a"); NewName() when
	// empty. Two labs with different names never clash.
	Name string
	// Server is the server's address and subnet behind the upstream router
	// (default 198.51.100.20/24; the upstream router takes the subnet's
	// first address).
	Server netip.Prefix
	// Trace, when set, receives each `ip` command as it runs.
	Trace func(cmd string)
	// KernelRouter puts the Linux kernel where fwd would be, for
	// comparison: a namespace NAME-router ("router") with a veth per
	// interface, named as the interface and joined to its segment's
	// bridge, with the interface's address, the configuration's routes
	// and forwarding on. Its filtering and NAT are the caller's (nft in
	// that namespace); fwd is not run.
	KernelRouter bool
}

// Segment is the link behind one of fwd's interfaces: a namespace with a
// bridge, which fwd's TAP device joins.
type Segment struct {
	Interface string       // fwd's interface name in the configuration
	Device    string       // the TAP device name fwd opens (unique per lab)
	Netns     string       // namespace the device moves into
	Bridge    string       // bridge in Netns the device joins
	Addr      netip.Prefix // fwd's address on it
	MTU       int
	Upstream  bool // the default route's interface: the upstream router is here
}

// Host is one namespace a person or a test runs programs in.
type Host struct {
	Name      string // "lan-a", "lan-b", "upstream", "server"; LAN hosts of a second LAN are "IFNAME-a", ...
	Netns     string
	Addr      netip.Addr // its address (for the upstream router: on fwd's link)
	Interface string     // the fwd interface it sits behind
}

// Lab is a planned, and after Build a built, topology.
type Lab struct {
	Name     string
	Segments []Segment
	Hosts    []Host
	// ServerAddr is the server's address; UpstreamServerSide the upstream
	// router's address on the server's link.
	ServerAddr         netip.Prefix
	UpstreamServerSide netip.Prefix

	// KernelRouter: see Options; the "router" host is the kernel's.
	KernelRouter bool

	routes  []config.Route
	trace   func(string)
	created []string // namespaces Build made, in order
}

// NewName returns a fresh lab name: Prefix and six random hex digits.
func NewName() string {
	var b [3]byte
	rand.Read(b[:])
	return Prefix + hex.EncodeToString(b[:])
}

// bridgeName is the bridge every segment namespace holds.
const bridgeName = "br0"

// Plan lays out the lab for cfg without creating anything: one segment
// per interface; the interface the default route leaves by leads to the
// upstream router (the route's via, in a namespace of its own, forwarding
// to the server's namespace); every other interface gets a LAN of two
// hosts at the subnet's .10 and .11 with fwd's address as their default
// gateway. A Plan with the same name and configuration as a running lab
// describes that lab (Command, Listen and Down work on it).
func Plan(cfg *config.Config, opts Options) (*Lab, error) {
	if opts.Name == "" {
		opts.Name = NewName()
	}
	if strings.ContainsAny(opts.Name, "/ \t\n") || len(opts.Name) > 40 {
		return nil, fmt.Errorf("lab: bad name %q", opts.Name)
	}
	if !opts.Server.IsValid() {
		opts.Server = netip.MustParsePrefix("198.51.100.20/24")
	}
	l := &Lab{Name: opts.Name, ServerAddr: opts.Server, trace: opts.Trace, KernelRouter: opts.KernelRouter, routes: cfg.Routes}
	up := ""
	var via netip.Addr
	for _, r := range cfg.Routes {
		if r.To.Bits() == 0 && r.Via.IsValid() {
			up, via = r.Dev, r.Via
		}
	}
	if up == "" {
		return nil, errors.New("lab: the configuration has no default route via an upstream router; the lab puts the internet behind it")
	}
	first := netip.PrefixFrom(opts.Server.Masked().Addr().Next(), opts.Server.Bits())
	if first.Addr() == opts.Server.Addr() {
		first = netip.PrefixFrom(first.Addr().Next(), first.Bits())
	}
	l.UpstreamServerSide = first
	h := fnv.New32a()
	h.Write([]byte(opts.Name))
	devPrefix := fmt.Sprintf("%06x", h.Sum32()&0xffffff)
	lans := 0
	for _, ifc := range cfg.Interfaces {
		dev := devPrefix + "-" + ifc.Name
		if len(dev) > 15 {
			dev = dev[:15]
		}
		s := Segment{Interface: ifc.Name, Device: dev, Bridge: bridgeName, Addr: ifc.Addr, MTU: ifc.MTU, Upstream: ifc.Name == up}
		if s.Upstream {
			s.Netns = l.Name + "-upstream"
			l.Hosts = append(l.Hosts, Host{Name: "upstream", Netns: s.Netns, Addr: via, Interface: ifc.Name})
		} else {
			role := "lan"
			if lans > 0 {
				role = ifc.Name
			}
			lans++
			s.Netns = l.Name + "-" + role
			base := ifc.Addr.Masked().Addr()
			for i, suffix := range []string{"a", "b"} {
				addr := base
				for range 10 + i {
					addr = addr.Next()
				}
				if !ifc.Addr.Contains(addr) || addr == ifc.Addr.Addr() {
					return nil, fmt.Errorf("lab: interface %s: subnet %s has no room for hosts at .10 and .11", ifc.Name, ifc.Addr.Masked())
				}
				l.Hosts = append(l.Hosts, Host{Name: role + "-" + suffix, Netns: l.Name + "-" + role + "-" + suffix, Addr: addr, Interface: ifc.Name})
			}
		}
		l.Segments = append(l.Segments, s)
	}
	l.Hosts = append(l.Hosts, Host{Name: "server", Netns: l.Name + "-server", Addr: opts.Server.Addr()})
	if l.KernelRouter {
		l.Hosts = append(l.Hosts, Host{Name: "router", Netns: l.Name + "-router", Addr: l.Segments[0].Addr.Addr()})
	}
	return l, nil
}

// Up plans the lab for cfg and builds it. On error nothing is left.
func Up(cfg *config.Config, opts Options) (*Lab, error) {
	l, err := Plan(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := l.Build(); err != nil {
		return nil, err
	}
	return l, nil
}

// Configure points cfg's interfaces at the lab: each TAP device gets the
// lab's unique name, its namespace and bridge. fwd run opens the devices
// in its own namespace and moves them there.
func (l *Lab) Configure(cfg *config.Config) {
	for i := range cfg.Interfaces {
		ifc := &cfg.Interfaces[i]
		for _, s := range l.Segments {
			if s.Interface == ifc.Name {
				ifc.Device, ifc.Netns, ifc.Bridge = s.Device, s.Netns, s.Bridge
			}
		}
	}
}

// Host returns the host called name.
func (l *Lab) Host(name string) (Host, bool) {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Netns returns the namespace of host name, or "".
func (l *Lab) Netns(name string) string {
	h, _ := l.Host(name)
	return h.Netns
}

func (l *Lab) namespaces() []string {
	var ns []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			ns = append(ns, n)
		}
	}
	for _, s := range l.Segments {
		add(s.Netns)
	}
	for _, h := range l.Hosts {
		add(h.Netns)
	}
	return ns
}

// Build creates the namespaces, bridges, links and addresses. fwd's TAP
// devices are not among them: fwd creates those and moves them in
// (Configure). No namespace gets a route out of the machine: the LAN
// hosts' default route is fwd, the server's is the upstream router, and
// the upstream router has none. On error what was made is removed.
func (l *Lab) Build() (err error) {
	defer func() {
		if err != nil {
			// Only what this Build made: a clash must not take down
			// another lab of the same name.
			for _, ns := range l.created {
				removeNetns(ns, l.trace)
			}
			l.created = nil
		}
	}()
	for _, ns := range l.namespaces() {
		if _, e := os.Stat("/run/netns/" + ns); e == nil {
			return fmt.Errorf("lab: namespace %s exists already (fwd lab down removes leftovers)", ns)
		}
		if err := l.ip("netns", "add", ns); err != nil {
			return err
		}
		l.created = append(l.created, ns)
		// No IPv6: router solicitations and MLD reports would only be
		// noise on fwd's links. (A kernel without IPv6 has no such keys.)
		if err := sysctls(ns, map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		}); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := l.ipn(ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, s := range l.Segments {
		if err := l.ipn(s.Netns, "link", "add", s.Bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0"); err != nil {
			return err
		}
		if err := l.ipn(s.Netns, "link", "set", s.Bridge, "up"); err != nil {
			return err
		}
		if s.Upstream {
			continue
		}
		for _, h := range l.Hosts {
			if h.Interface != s.Interface {
				continue
			}
			port := "p-" + h.Name
			if len(port) > 15 {
				port = port[:15]
			}
			mtu := strconv.Itoa(s.MTU)
			if err := l.ipn(s.Netns, "link", "add", port, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "mtu", mtu, "netns", h.Netns); err != nil {
				return err
			}
			if err := l.ipn(s.Netns, "link", "set", port, "master", s.Bridge, "up"); err != nil {
				return err
			}
			if err := l.hostAddr(h.Netns, netip.PrefixFrom(h.Addr, s.Addr.Bits()), s.Addr.Addr()); err != nil {
				return err
			}
		}
	}
	for _, s := range l.Segments {
		if !s.Upstream {
			continue
		}
		up, _ := l.Host("upstream")
		srv, _ := l.Host("server")
		// The upstream router's address on fwd's link sits on the bridge
		// fwd's TAP joins; the bridge takes the TAP's MTU when it does.
		if err := l.ipn(s.Netns, "addr", "add", netip.PrefixFrom(up.Addr, s.Addr.Bits()).String(), "dev", s.Bridge); err != nil {
			return err
		}
		if err := sysctls(s.Netns, map[string]string{"net/ipv4/ip_forward": "1"}); err != nil {
			return err
		}
		if err := l.ipn(s.Netns, "link", "add", "p-server", "type", "veth", "peer", "name", "eth0", "netns", srv.Netns); err != nil {
			return err
		}
		if err := l.ipn(s.Netns, "addr", "add", l.UpstreamServerSide.String(), "dev", "p-server"); err != nil {
			return err
		}
		if err := l.ipn(s.Netns, "link", "set", "p-server", "up"); err != nil {
			return err
		}
		if err := l.hostAddr(srv.Netns, l.ServerAddr, l.UpstreamServerSide.Addr()); err != nil {
			return err
		}
	}
	if l.KernelRouter {
		return l.buildKernelRouter()
	}
	return nil
}

// buildKernelRouter wires the kernel's router namespace where fwd's TAP
// devices would be.
func (l *Lab) buildKernelRouter() error {
	r := l.Netns("router")
	for _, s := range l.Segments {
		mtu := strconv.Itoa(s.MTU)
		if err := l.ipn(r, "link", "add", s.Interface, "mtu", mtu, "type", "veth", "peer", "name", "p-router", "mtu", mtu, "netns", s.Netns); err != nil {
			return err
		}
		if err := l.ipn(s.Netns, "link", "set", "p-router", "master", s.Bridge, "up"); err != nil {
			return err
		}
		if err := l.ipn(r, "addr", "add", s.Addr.String(), "dev", s.Interface); err != nil {
			return err
		}
		if err := l.ipn(r, "link", "set", s.Interface, "up"); err != nil {
			return err
		}
	}
	for _, rt := range l.routes {
		args := []string{"route", "add", rt.To.String()}
		if rt.Via.IsValid() {
			args = append(args, "via", rt.Via.String())
		}
		if rt.Dev != "" {
			args = append(args, "dev", rt.Dev)
		}
		if err := l.ipn(r, args...); err != nil {
			return err
		}
	}
	return sysctls(r, map[string]string{"net/ipv4/ip_forward": "1"})
}

// hostAddr gives a host namespace's eth0 its address and default route.
func (l *Lab) hostAddr(ns string, addr netip.Prefix, gw netip.Addr) error {
	if err := l.ipn(ns, "addr", "add", addr.String(), "dev", "eth0"); err != nil {
		return err
	}
	if err := l.ipn(ns, "link", "set", "eth0", "up"); err != nil {
		return err
	}
	return l.ipn(ns, "route", "add", "default", "via", gw.String())
}

// Down removes the lab's namespaces (and with them its links; fwd's TAP
// devices go when fwd closes them) after ending any process still running
// in one. It is safe to call more than once, and on a Plan that was never
// built: it removes whichever of the lab's namespaces exist.
func (l *Lab) Down() error {
	var errs []error
	for _, ns := range l.namespaces() {
		if err := removeNetns(ns, l.trace); err != nil {
			errs = append(errs, err)
		}
	}
	l.created = nil
	return errors.Join(errs...)
}

// Remove removes every namespace whose name starts with prefix (Prefix
// for every lab): the leftovers of labs that were not taken down. It
// returns the names removed.
func Remove(prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("lab: empty prefix")
	}
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := removeNetns(e.Name(), nil); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}

// removeNetns ends the processes in ns (servers a lab started there) and
// deletes it.
func removeNetns(ns string, trace func(string)) error {
	if _, err := os.Stat("/run/netns/" + ns); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		self, parent := os.Getpid(), os.Getppid()
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == self || pid == parent || pid <= 1 {
				continue
			}
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
	return run(trace, "ip", "netns", "delete", ns)
}

func (l *Lab) ip(args ...string) error { return run(l.trace, "ip", args...) }

func (l *Lab) ipn(ns string, args ...string) error {
	return run(l.trace, "ip", append([]string{"-n", ns}, args...)...)
}

func run(trace func(string), name string, args ...string) error {
	line := name + " " + strings.Join(args, " ")
	if trace != nil {
		trace(line)
	}
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lab: %s: %v: %s", line, err, strings.TrimSpace(out.String()))
	}
	return nil
}
