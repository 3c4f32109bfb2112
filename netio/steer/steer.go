package steer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	"fwd/packet"
)

// Spec says what to steer to which queues.
type Spec struct {
	// Table is the name of fwd's table in the inet family; "" means
	// DefaultTable.
	Table string
	// Queue is the first queue number; Queues how many (0 means 1). With
	// more than one, packets are spread over Queue..Queue+Queues-1 by the
	// kernel's flow hash (iptables' --queue-balance, nft's queue num a-b).
	Queue, Queues uint16
	// Hooks are the hooks to queue at; 0 means all five.
	Hooks packet.HookMask
	// Bypass passes packets unqueued while no process is bound to the
	// queue (fwd not running): fail-open. Without it they are dropped.
	Bypass bool
	// CPUFanout spreads by the CPU that handles the packet instead of by
	// flow hash. It keeps a flow on one queue only as far as RSS does;
	// leave it off.
	CPUFanout bool
	// Notrack adds raw-priority chains that mark the queued traffic
	// untracked, so the kernel's conntrack and NAT leave it alone (see the
	// package comment).
	Notrack bool
	// SkipMark, when non-zero, exempts packets whose mark has any of these
	// bits: fwd marks the packets it sends itself with them so they are
	// not queued back to it.
	SkipMark uint32
	// NetNS is a file descriptor of the network namespace to install in;
	// 0 means the caller's.
	NetNS int
	// Backend, when not BackendNone, uses only that backend (tests, or an
	// operator who knows); by default each is tried in turn.
	Backend Backend
}

// DefaultTable is the default name of fwd's table. Not "fwd": that is a
// keyword of nft's grammar (the fwd statement), so `nft list table inet
// fwd` is a syntax error and operators would have to quote it.
const DefaultTable = "fwd_steer"

// Backend names how the queue rule is expressed in the kernel.
type Backend uint8

const (
	BackendNone     Backend = iota
	BackendNative           // nftables' own queue expression (nft_queue)
	BackendXT               // the xt NFQUEUE target through nft_compat
	BackendIptables         // iptables-nft commands in fwd's own ip tables
)

func (b Backend) String() string {
	switch b {
	case BackendNative:
		return "nft-queue"
	case BackendXT:
		return "xt-NFQUEUE"
	case BackendIptables:
		return "iptables"
	}
	return "none"
}

// Priorities of fwd's base chains. Each chain sits where the first of fwd's
// stages at that hook sits in pipeline/order.go, so one trip to userspace
// per hook does all of fwd's work at that hook in the kernel's order:
const (
	// PriorityNotrack is NF_IP_PRI_RAW (-300): the notrack chains run
	// before the queue chains and long before conntrack (-200).
	PriorityNotrack = -300
	// PriorityPrerouting is raw+1 (-299): fwd's raw rules, conntrack,
	// mangle and DNAT run in one visit, after notrack and before the
	// kernel's conntrack (-200), mangle (-150) and DNAT (-100), and before
	// the routing decision, which therefore sees fwd's DNAT (and fwd's
	// reply-direction un-SNAT of packets coming back).
	PriorityPrerouting = -299
	// PriorityOutput is raw+1 (-299) for the same reasons; the kernel
	// re-routes a locally sent packet whose addresses or mark a verdict
	// changed (nf_reroute), so DNAT at OUTPUT works.
	PriorityOutput = -299
	// PriorityInput and PriorityForward are NF_IP_PRI_MANGLE (-150):
	// fwd's mangle, filter and (input) SNAT and confirm run there; the
	// kernel's own filter (0) sees the packet after fwd accepted it.
	PriorityInput   = -150
	PriorityForward = -150
	// PriorityPostrouting is NF_IP_PRI_MANGLE (-150): fwd's mangle, SNAT /
	// masquerade, confirm and MTU stages, before the kernel's SNAT (100).
	PriorityPostrouting = -150
)

var hookSpecs = []struct {
	hook packet.Hook
	name string
	num  *nftables.ChainHook
	prio int32
}{
	{packet.Prerouting, "prerouting", nftables.ChainHookPrerouting, PriorityPrerouting},
	{packet.Input, "input", nftables.ChainHookInput, PriorityInput},
	{packet.Forward, "forward", nftables.ChainHookForward, PriorityForward},
	{packet.Output, "output", nftables.ChainHookOutput, PriorityOutput},
	{packet.Postrouting, "postrouting", nftables.ChainHookPostrouting, PriorityPostrouting},
}

// Steering is an installed set of steering rules.
type Steering struct {
	spec    Spec
	backend Backend
	table   *nftables.Table
	// nativeErr and xtErr are why the better backends were refused.
	nativeErr, xtErr error
}

// Install creates fwd's table (inet family, Spec.Table), replacing one
// left by an earlier run, with a base chain per hook that queues IPv4 to
// the configured queues. It tries nftables' queue expression, then the xt
// NFQUEUE target through nft_compat, then iptables-nft; the first the
// kernel accepts wins (Backend says which). The table is replaced in one
// nftables transaction, so there is no moment without steering or with
// two tables. No other table is touched.
func Install(spec Spec) (*Steering, error) {
	if spec.Table == "" {
		spec.Table = DefaultTable
	}
	if spec.Queues == 0 {
		spec.Queues = 1
	}
	if uint32(spec.Queue)+uint32(spec.Queues)-1 > 0xffff {
		return nil, fmt.Errorf("steer: queues %d..%d out of range", spec.Queue, uint32(spec.Queue)+uint32(spec.Queues)-1)
	}
	if spec.Hooks == 0 {
		for _, h := range hookSpecs {
			spec.Hooks |= h.hook.Mask()
		}
	}
	s := &Steering{spec: spec, table: &nftables.Table{Name: spec.Table, Family: nftables.TableFamilyINet}}
	try := func(b Backend) bool { return spec.Backend == BackendNone || spec.Backend == b }
	if try(BackendNative) {
		if s.nativeErr = s.installNFT(BackendNative); s.nativeErr == nil {
			s.backend = BackendNative
			return s, nil
		}
	}
	if try(BackendXT) {
		if s.xtErr = s.installNFT(BackendXT); s.xtErr == nil {
			s.backend = BackendXT
			return s, nil
		}
	}
	if !try(BackendIptables) {
		if s.xtErr != nil {
			return nil, s.xtErr
		}
		return nil, s.nativeErr
	}
	if err := s.installIptables(); err != nil {
		return nil, fmt.Errorf("steer: no backend works: nft queue: %v; xt NFQUEUE: %v; iptables: %w", s.nativeErr, s.xtErr, err)
	}
	s.backend = BackendIptables
	return s, nil
}

// Backend returns the backend in use.
func (s *Steering) Backend() Backend { return s.backend }

// Fallbacks returns why the preferred backends were refused (nil when
// they were not tried or worked), for a log line at start.
func (s *Steering) Fallbacks() (native, xtTarget error) { return s.nativeErr, s.xtErr }

func (s *Steering) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if s.spec.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(s.spec.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("steer: %w", err)
	}
	return c, nil
}

// installNFT replaces the table in one transaction: add (so the delete
// cannot fail), delete, add, chains, rules.
func (s *Steering) installNFT(b Backend) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	t := s.table
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	for _, h := range hookSpecs {
		if !s.spec.Hooks.Has(h.hook) {
			continue
		}
		if s.spec.Notrack && (h.hook == packet.Prerouting || h.hook == packet.Output) {
			ch := c.AddChain(&nftables.Chain{
				Name: "raw_" + h.name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: h.num, Priority: nftables.ChainPriorityRef(PriorityNotrack), Policy: &accept,
			})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: s.match(&expr.Notrack{})})
		}
		ch := c.AddChain(&nftables.Chain{
			Name: h.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: h.num, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(h.prio)), Policy: &accept,
		})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: s.match(&expr.Counter{}, s.queueExpr(b))})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("steer: install table inet %s (%s): %w", t.Name, b, err)
	}
	return nil
}

// match prefixes the rule's statements with "meta nfproto ipv4" (fwd
// handles IPv4 only; IPv6 in the inet table passes untouched) and, with
// SkipMark, "meta mark & SkipMark == 0".
func (s *Steering) match(stmts ...expr.Any) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	if s.spec.SkipMark != 0 {
		mask := binary.NativeEndian.AppendUint32(nil, s.spec.SkipMark)
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
		)
	}
	return append(e, stmts...)
}

// NFQ_FLAG_* of struct xt_NFQ_info_v3 (include/uapi/linux/netfilter/xt_NFQUEUE.h).
const (
	nfqFlagBypass    = 0x01
	nfqFlagCPUFanout = 0x02
)

func (s *Steering) queueExpr(b Backend) expr.Any {
	if b == BackendNative {
		var f expr.QueueFlag
		if s.spec.Bypass {
			f |= expr.QueueFlagBypass
		}
		if s.spec.CPUFanout {
			f |= expr.QueueFlagFanout
		}
		return &expr.Queue{Num: s.spec.Queue, Total: s.spec.Queues, Flag: f}
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: xtNFQInfoV3(s.spec.Queue, s.spec.Queues, s.spec.Bypass, s.spec.CPUFanout)}
}

// xtNFQInfoV3 encodes struct xt_NFQ_info_v3 {__u16 queuenum; __u16
// queues_total; __u16 flags;} in host order, padded to XT_ALIGN (8), which
// nft_compat checks.
func xtNFQInfoV3(num, total uint16, bypass, fanout bool) *xt.Unknown {
	var flags uint16
	if bypass {
		flags |= nfqFlagBypass
	}
	if fanout && total > 1 {
		flags |= nfqFlagCPUFanout
	}
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:2], num)
	binary.NativeEndian.PutUint16(b[2:4], total)
	binary.NativeEndian.PutUint16(b[4:6], flags)
	u := xt.Unknown(b)
	return &u
}

// Remove deletes fwd's table (and with it every chain and rule Install
// made). A table that is already gone is not an error.
func (s *Steering) Remove() error {
	if s.backend == BackendIptables {
		return s.removeIptables()
	}
	return RemoveTable(s.spec.NetNS, s.spec.Table)
}

// RemoveTable deletes table inet NAME in the namespace netns (0: the
// caller's) if it exists: what `fwd run` calls after a crash when it will
// not steer itself, and what tests use.
func RemoveTable(netns int, name string) error {
	s := &Steering{spec: Spec{NetNS: netns}}
	ok, err := Present(netns, name)
	if err != nil || !ok {
		return err
	}
	c, err := s.conn()
	if err != nil {
		return err
	}
	c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("steer: remove table inet %s: %w", name, err)
	}
	return nil
}

// Present reports whether table inet NAME exists in namespace netns.
func Present(netns int, name string) (bool, error) {
	s := &Steering{spec: Spec{NetNS: netns}}
	c, err := s.conn()
	if err != nil {
		return false, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("steer: list tables: %w", err)
	}
	for _, t := range ts {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// The iptables backend is the last resort, for a kernel whose nf_tables
// lacks both nft_queue and nft_compat (it is not needed on this project's
// kernels: xt NFQUEUE through nft_compat works). It adds chains of fwd's
// own (FWD-PREROUTING, ...) to iptables' raw table (prerouting, output:
// priority -300, so notrack can go there too) and mangle table (input,
// forward, postrouting: -150), each jumped to from the built-in chain's
// first rule. Remove deletes exactly those jumps and chains. Commands run
// in the namespace NetNS through nsenter.
func (s *Steering) installIptables() error {
	if _, err := s.iptablesBin(); err != nil {
		return err
	}
	_ = s.removeIptables()
	target := []string{"-j", "NFQUEUE"}
	if s.spec.Queues > 1 {
		target = append(target, "--queue-balance", fmt.Sprintf("%d:%d", s.spec.Queue, s.spec.Queue+s.spec.Queues-1))
		if s.spec.CPUFanout {
			target = append(target, "--queue-cpu-fanout")
		}
	} else {
		target = append(target, "--queue-num", strconv.Itoa(int(s.spec.Queue)))
	}
	if s.spec.Bypass {
		target = append(target, "--queue-bypass")
	}
	for _, r := range s.iptablesRules(target) {
		if err := s.iptables(r...); err != nil {
			_ = s.removeIptables()
			return err
		}
	}
	return nil
}

func iptablesTable(h packet.Hook) string {
	if h == packet.Prerouting || h == packet.Output {
		return "raw"
	}
	return "mangle"
}

// iptablesRules lists the commands that build the iptables backend.
func (s *Steering) iptablesRules(target []string) [][]string {
	var cmds [][]string
	var match []string
	if s.spec.SkipMark != 0 {
		match = []string{"-m", "mark", "--mark", fmt.Sprintf("0/%#x", s.spec.SkipMark)}
	}
	for _, h := range hookSpecs {
		if !s.spec.Hooks.Has(h.hook) {
			continue
		}
		tbl, own := iptablesTable(h.hook), "FWD-"+strings.ToUpper(h.name)
		cmds = append(cmds, []string{"-t", tbl, "-N", own})
		if s.spec.Notrack && tbl == "raw" {
			cmds = append(cmds, append(append([]string{"-t", tbl, "-A", own}, match...), "-j", "CT", "--notrack"))
		}
		cmds = append(cmds, append(append([]string{"-t", tbl, "-A", own}, match...), target...))
		cmds = append(cmds, []string{"-t", tbl, "-I", strings.ToUpper(h.name), "1", "-j", own})
	}
	return cmds
}

func (s *Steering) iptablesBin() (string, error) {
	bin, err := exec.LookPath("iptables-nft")
	if err != nil {
		if bin, err = exec.LookPath("iptables"); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// iptables runs one iptables command (with -w) in the spec's namespace.
func (s *Steering) iptables(args ...string) error {
	bin, err := s.iptablesBin()
	if err != nil {
		return err
	}
	argv := append([]string{bin, "-w"}, args...)
	if s.spec.NetNS != 0 {
		argv = append([]string{"nsenter", fmt.Sprintf("--net=/proc/%d/fd/%d", os.Getpid(), s.spec.NetNS)}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("steer: %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *Steering) removeIptables() error {
	var firstErr error
	for _, h := range hookSpecs {
		tbl, own := iptablesTable(h.hook), "FWD-"+strings.ToUpper(h.name)
		if s.iptables("-t", tbl, "-n", "-L", own) != nil {
			continue // not there
		}
		for s.iptables("-t", tbl, "-D", strings.ToUpper(h.name), "-j", own) == nil {
		}
		for _, a := range [][]string{{"-F", own}, {"-X", own}} {
			if err := s.iptables(append([]string{"-t", tbl}, a...)...); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}
