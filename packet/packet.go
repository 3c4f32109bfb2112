package packet

import (
	"net/netip"
	"unsafe"

	"fwd/header"
)

// Hook names a netfilter hook. The zero value is HookNone (not yet routed).
type Hook uint8

const (
	HookNone Hook = iota
	Prerouting
	Input
	Forward
	Output
	Postrouting
	numHooks
)

// NumHooks is the number of hooks plus one (for HookNone); arrays indexed
// by Hook use it.
const NumHooks = int(numHooks)

var hookNames = [...]string{"none", "prerouting", "input", "forward", "output", "postrouting"}

// Done is not a hook but where a packet is when a stage has finished its
// whole path through the router (the flowtable's fast path): no further
// stage runs on it, and the runner delivers it on OutIf.
const Done Hook = 0x80

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	if h == Done {
		return "done"
	}
	return "unknown"
}

// HookMask is a set of hooks.
type HookMask uint8

// Mask returns the one-element set {h}.
func (h Hook) Mask() HookMask { return 1 << h }

// Has reports whether h is in m.
func (m HookMask) Has(h Hook) bool { return m&(1<<h) != 0 }

// ParseHook maps a hook name to a Hook.
func ParseHook(s string) (Hook, bool) {
	for i, n := range hookNames {
		if n == s && i != 0 {
			return Hook(i), true
		}
	}
	return HookNone, false
}

// CTState is the connection tracking state of a packet as rules see it
// (iptables' ctstate). The zero value CTNone means conntrack has not run.
type CTState uint8

const (
	CTNone CTState = iota
	CTNew
	CTEstablished
	CTRelated
	CTInvalid
	CTUntracked
)

var ctStateNames = [...]string{"none", "new", "established", "related", "invalid", "untracked"}

func (s CTState) String() string {
	if int(s) < len(ctStateNames) {
		return ctStateNames[s]
	}
	return "unknown"
}

// ParseCTState maps a lower-case name to a CTState.
func ParseCTState(s string) (CTState, bool) {
	for i, n := range ctStateNames {
		if n == s && i != 0 {
			return CTState(i), true
		}
	}
	return CTNone, false
}

// CTStatus holds connection status bits, as Linux's IPS_* bits.
type CTStatus uint16

const (
	CTStatusExpected CTStatus = 1 << iota
	CTStatusSeenReply
	CTStatusAssured
	CTStatusConfirmed
	CTStatusSNAT
	CTStatusDNAT
	CTStatusDying
	// CTStatusOffload: the rules offloaded the connection (action
	// "offload", Linux's IPS_OFFLOAD): its packets take the flowtable's
	// fast path until it leaves ESTABLISHED.
	CTStatusOffload
)

// NoIf is the interface index of "no interface" (local origin or not routed).
const NoIf int16 = -1

// MaxSize is the largest datagram a packet buffer holds.
const MaxSize = 65535

// Headroom is the space kept before the datagram in a pooled buffer, so a
// link-layer header can be prepended without a copy.
const Headroom = 64

// Packet is the context of one datagram on its way through the pipeline.
// Stages may rewrite Data in place; they must not keep the Packet or its
// buffer after Process returns (ownership stays with the pipeline).
type Packet struct {
	// Data is the IPv4 datagram, a slice of buf. After the parse stage it is
	// trimmed to the IP total length.
	Data []byte
	buf  []byte // the whole pooled buffer; Data aliases it

	// Parsed is the decoded summary. Valid after the parse stage.
	Parsed Parsed

	InIf, OutIf int16 // configured interface indexes, NoIf when none
	Hook        Hook  // the hook the packet is in now
	Mark        uint32

	// Conntrack verdict for the rules. CT is the connection entry (a
	// *conntrack.Conn) when tracked; CTReply is true when the packet travels
	// in the reply direction.
	CT       any
	CTState  CTState
	CTStatus CTStatus
	CTReply  bool
	CTMark   uint32
	// CTMarkDirty is set when a rule changed CTMark (CONNMARK set/save):
	// the confirm stage stores it on the connection.
	CTMarkDirty bool
	// CTHash is the conntrack stage's note to itself: the hash of the
	// packet's tuple, computed when it prefetched the batch; 0 when not.
	CTHash uint64
	// CTHint is the connection the prefetch pass expects the packet to
	// belong to (a *conntrack.Conn); conntrack checks it under its lock
	// before trusting it. Nil when none.
	CTHint unsafe.Pointer
	// FlowHash is the flowtable stage's note to itself: the hash of the
	// packet's flow key from its prefetch pass; 0 when not computed.
	FlowHash uint64

	// NextHop is the address to resolve on OutIf (TAP mode routing).
	NextHop [4]byte

	// Drop is the reason recorded with a Drop verdict.
	Drop DropReason
	// Trace asks every stage to record its decision; a stage may leave a
	// word on it in Note (the runner prints and clears it).
	Trace bool
	Note  string
	// Local is true for packets fwd made itself (they enter at OUTPUT).
	Local bool
	// LinkBroadcast is true when the frame's link-layer destination was a
	// broadcast or multicast address (RFC 1812 §4.3.2.7: no ICMP errors).
	LinkBroadcast bool
	// SrcMAC is the frame's link-layer source (TAP mode, captures with
	// Ethernet); zero when unknown.
	SrcMAC [6]byte
	// MaxFrag is the largest fragment seen when this datagram was
	// reassembled in transit (0 when it arrived whole); refragmentation keeps
	// fragments no larger (Linux's max_frag_size).
	MaxFrag uint16
	// NAT is the NAT spec (a *rules.NAT) a nat-table rule chose for this
	// connection's first packet; the nat stage reads it. Nil when none.
	NAT any
	// RejectWith is set by a reject target: what icmperr should answer.
	RejectWith RejectKind
	// Timestamp is the capture time or receive time, unix nanoseconds.
	Timestamp int64
	// Worker is the number of the runner (worker) running the packet, set
	// as a batch enters it; stages with per-worker state index by it.
	Worker uint8
	// Meta is for the device: e.g. an NFQUEUE packet id.
	Meta uint64
}

// Reset clears all metadata but keeps the buffer.
//
// It zeroes the packet in place and then sets the few fields that are not
// zero. Assigning a composite literal instead builds it on the stack in
// pieces and copies it over in 16-byte words, each of which waits for the
// smaller stores under it (a store-forwarding stall): 10 ns a packet.
func (p *Packet) Reset() {
	buf := p.buf
	*p = Packet{}
	p.buf = buf
	p.InIf, p.OutIf = NoIf, NoIf
}

// Buffer returns the whole backing buffer (Headroom + MaxSize bytes).
func (p *Packet) Buffer() []byte { return p.buf }

// SetData points Data at buf[Headroom:Headroom+n] after a device wrote n
// bytes of datagram at Headroom.
func (p *Packet) SetData(n int) { p.Data = p.buf[Headroom : Headroom+n] }

// Load copies b into the packet's buffer as its datagram.
func (p *Packet) Load(b []byte) {
	n := copy(p.buf[Headroom:], b)
	p.Data = p.buf[Headroom : Headroom+n]
}

// IP returns the datagram as an IPv4 view.
func (p *Packet) IP() header.IPv4 { return header.IPv4(p.Data) }

// L4 returns the transport header and payload (valid after parse).
func (p *Packet) L4() []byte { return p.Data[p.Parsed.L4Off:] }

// Src returns the source address as netip.Addr.
func (p *Packet) Src() netip.Addr { return netip.AddrFrom4(p.Parsed.Src) }

// Dst returns the destination address as netip.Addr.
func (p *Packet) Dst() netip.Addr { return netip.AddrFrom4(p.Parsed.Dst) }
