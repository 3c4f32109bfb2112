package router

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	arpLanMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	arpWanMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	arpHostMAC = [6]byte{0x02, 0xaa, 0, 0, 0, 0x10}
	arpHost2   = [6]byte{0x02, 0xaa, 0, 0, 0, 0x11}
	arpLanIP   = [4]byte{192, 168, 1, 1}
	arpHostIP  = [4]byte{192, 168, 1, 10}
	arpHostIP2 = [4]byte{192, 168, 1, 11}
)

func arpIfaces() []Iface {
	return []Iface{
		NewIface(0, "lan0", arpLanMAC, netip.MustParsePrefix("192.168.1.1/24"), 1500),
		NewIface(1, "wan0", arpWanMAC, netip.MustParsePrefix("203.0.113.2/24"), 1500),
	}
}

// sent records what the ARP cache transmitted.
type sent struct {
	ifIndex int
	frame   []byte
}

type arpHarness struct {
	a      *ARP
	clock  *pipeline.Virtual
	tx     []sent
	failed []*packet.Packet
}

func newARPHarness(t testing.TB, cfg ARPConfig) *arpHarness {
	h := &arpHarness{clock: pipeline.NewVirtual(time.Unix(1_700_000_000, 0))}
	cfg.Transmit = func(ifIndex int, frame []byte) {
		h.tx = append(h.tx, sent{ifIndex, append([]byte(nil), frame...)})
	}
	cfg.Failed = func(p *packet.Packet) { h.failed = append(h.failed, p) }
	h.a = NewARP(arpIfaces(), cfg)
	return h
}

func (h *arpHarness) now() int64 { return h.clock.Now() }

func (h *arpHarness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.a.Tick(h.now())
}

func (h *arpHarness) takeTx() []sent {
	t := h.tx
	h.tx = nil
	return t
}

// arpFrame builds an Ethernet/ARP frame with gopacket.
func arpFrame(t testing.TB, ethDst [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(sha[:]), DstMAC: net.HardwareAddr(ethDst[:]), EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: sha[:], SourceProtAddress: spa[:], DstHwAddress: tha[:], DstProtAddress: tpa[:]}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, a); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// decodeARP checks a frame with gopacket and returns its layers.
func decodeARP(t testing.TB, frame []byte) (*layers.Ethernet, *layers.ARP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || a == nil {
		t.Fatalf("not an ARP frame: %x (%v)", frame, p.ErrorLayer())
	}
	return eth, a
}

func wantARP(t testing.TB, frame []byte, ethDst [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) {
	t.Helper()
	eth, a := decodeARP(t, frame)
	if !bytes.Equal(eth.DstMAC, ethDst[:]) || !bytes.Equal(eth.SrcMAC, sha[:]) || a.Operation != op ||
		!bytes.Equal(a.SourceHwAddress, sha[:]) || !bytes.Equal(a.SourceProtAddress, spa[:]) ||
		!bytes.Equal(a.DstHwAddress, tha[:]) || !bytes.Equal(a.DstProtAddress, tpa[:]) {
		t.Fatalf("ARP frame\n got eth %v>%v op %d %v/%v -> %v/%v\nwant eth %x>%x op %d %x/%v -> %x/%v",
			eth.SrcMAC, eth.DstMAC, a.Operation, net.HardwareAddr(a.SourceHwAddress), net.IP(a.SourceProtAddress),
			net.HardwareAddr(a.DstHwAddress), net.IP(a.DstProtAddress), sha, ethDst, op, sha, spa, tha, tpa)
	}
}

func (h *arpHarness) entry(t testing.TB, ifIndex int, ip [4]byte) (Neighbor, bool) {
	for _, n := range h.a.Entries() {
		if n.IfIndex == ifIndex && n.IP == ip {
			return n, true
		}
	}
	return Neighbor{}, false
}

func heldPacket(ifIndex int, nextHop [4]byte, tag byte) *packet.Packet {
	p := packet.New([]byte{0x45, 0, 0, 20, 0, tag})
	p.OutIf = int16(ifIndex)
	p.NextHop = nextHop
	return p
}

func TestARPAnswersRequestForOwnAddress(t *testing.T) {
	tests := []struct {
		name      string
		ethDst    [6]byte
		spa, tpa  [4]byte
		ifIndex   int
		wantReply bool
		wantLearn bool
	}{
		{name: "broadcast request for us", ethDst: header.BroadcastMAC, spa: arpHostIP, tpa: arpLanIP, wantReply: true, wantLearn: true},
		{name: "unicast request for us", ethDst: arpLanMAC, spa: arpHostIP, tpa: arpLanIP, wantReply: true, wantLearn: true},
		{name: "request for another host", ethDst: header.BroadcastMAC, spa: arpHostIP, tpa: arpHostIP2},
		{name: "request for our address on another interface", ethDst: header.BroadcastMAC, spa: arpHostIP, tpa: [4]byte{203, 0, 113, 2}},
		{name: "frame for another station", ethDst: arpHost2, spa: arpHostIP, tpa: arpLanIP},
		{name: "off-subnet sender answered, not learned", ethDst: header.BroadcastMAC, spa: [4]byte{10, 0, 0, 1}, tpa: arpLanIP, wantReply: true},
		{name: "sender claims our address", ethDst: header.BroadcastMAC, spa: arpLanIP, tpa: arpLanIP},
		{name: "unknown interface", ethDst: header.BroadcastMAC, spa: arpHostIP, tpa: arpLanIP, ifIndex: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newARPHarness(t, ARPConfig{})
			req := arpFrame(t, tt.ethDst, layers.ARPRequest, arpHostMAC, tt.spa, [6]byte{}, tt.tpa)
			reply := h.a.Input(tt.ifIndex, req, h.now())
			if (reply != nil) != tt.wantReply {
				t.Fatalf("reply = %x, want one: %v", reply, tt.wantReply)
			}
			if tt.wantReply {
				wantARP(t, reply, arpHostMAC, layers.ARPReply, arpLanMAC, arpLanIP, arpHostMAC, tt.spa)
				if len(reply) != header.ARPFrameSize {
					t.Errorf("reply length %d", len(reply))
				}
			}
			n, ok := h.entry(t, 0, tt.spa)
			if ok != tt.wantLearn {
				t.Fatalf("learned = %v (%+v), want %v", ok, n, tt.wantLearn)
			}
			if ok && (n.State != NeighStale || n.MAC != arpHostMAC) {
				t.Fatalf("entry %+v, want STALE at host MAC", n)
			}
			if len(h.tx) != 0 {
				t.Fatalf("transmitted %d frames; answers go back through Input's result", len(h.tx))
			}
		})
	}
}

func TestARPProbeIsDefended(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	// RFC 5227 probe: sender address 0.0.0.0.
	req := arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, [4]byte{}, [6]byte{}, arpLanIP)
	reply := h.a.Input(0, req, h.now())
	if reply == nil {
		t.Fatal("probe for our address not answered")
	}
	wantARP(t, reply, arpHostMAC, layers.ARPReply, arpLanMAC, arpLanIP, arpHostMAC, [4]byte{})
	if len(h.a.Entries()) != 0 {
		t.Fatalf("learned from a probe: %+v", h.a.Entries())
	}
}

func TestARPIgnoresBogus(t *testing.T) {
	good := arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP)
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	tests := []struct {
		name  string
		frame []byte
	}{
		{name: "truncated", frame: good[:30]},
		{name: "not ARP ethertype", frame: mut(func(b []byte) { b[13] = 0 })},
		{name: "hardware type", frame: mut(func(b []byte) { b[15] = 6 })},
		{name: "protocol type", frame: mut(func(b []byte) { b[16] = 0x86 })},
		{name: "hlen", frame: mut(func(b []byte) { b[18] = 8 })},
		{name: "opcode 3", frame: mut(func(b []byte) { b[21] = 3 })},
		{name: "multicast sender MAC", frame: mut(func(b []byte) { b[22] = 0x01 })},
		{name: "our own MAC as sender", frame: mut(func(b []byte) { copy(b[22:28], arpLanMAC[:]) })},
		{name: "multicast sender IP", frame: mut(func(b []byte) { b[28] = 224 })},
		{name: "broadcast sender IP", frame: mut(func(b []byte) { copy(b[28:32], []byte{192, 168, 1, 255}) })},
		{name: "vlan tagged", frame: append(append(append([]byte(nil), good[:12]...), 0x81, 0, 0, 5), good[12:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newARPHarness(t, ARPConfig{})
			if r := h.a.Input(0, tt.frame, h.now()); r != nil {
				t.Fatalf("answered: %x", r)
			}
			if e := h.a.Entries(); len(e) != 0 {
				t.Fatalf("learned: %+v", e)
			}
			if h.a.Counters().Ignored != 1 {
				t.Fatalf("counters %+v", h.a.Counters())
			}
		})
	}
}

func TestARPResolveRequestHoldRelease(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	if _, ok := h.a.Resolve(0, arpHostIP, h.now()); ok {
		t.Fatal("resolved an unknown neighbour")
	}
	tx := h.takeTx()
	if len(tx) != 1 || tx[0].ifIndex != 0 {
		t.Fatalf("transmitted %+v, want one request on lan0", tx)
	}
	wantARP(t, tx[0].frame, header.BroadcastMAC, layers.ARPRequest, arpLanMAC, arpLanIP, [6]byte{}, arpHostIP)

	p1, p2 := heldPacket(0, arpHostIP, 1), heldPacket(0, arpHostIP, 2)
	for _, p := range []*packet.Packet{p1, p2} {
		if _, ok := h.a.Resolve(0, arpHostIP, h.now()); ok {
			t.Fatal("resolved while incomplete")
		}
		if ev := h.a.Hold(p); ev != nil {
			t.Fatalf("evicted %v", ev)
		}
	}
	if tx := h.takeTx(); len(tx) != 0 {
		t.Fatalf("a second Resolve within RetransTime sent %d more requests", len(tx))
	}
	if n, _ := h.entry(t, 0, arpHostIP); n.State != NeighIncomplete || n.Held != 2 {
		t.Fatalf("entry %+v", n)
	}
	if r := h.a.Release(nil); len(r) != 0 {
		t.Fatalf("released %d before the answer", len(r))
	}

	h.clock.Advance(300 * time.Millisecond)
	rep := arpFrame(t, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP)
	if r := h.a.Input(0, rep, h.now()); r != nil {
		t.Fatal("answered a reply")
	}
	if !h.a.Pending() {
		t.Fatal("nothing pending after the reply")
	}
	got := h.a.Release(nil)
	if len(got) != 2 || got[0] != p1 || got[1] != p2 {
		t.Fatalf("released %v, want p1 p2 in order", got)
	}
	mac, ok := h.a.Resolve(0, arpHostIP, h.now())
	if !ok || mac != arpHostMAC {
		t.Fatalf("Resolve = %x %v", mac, ok)
	}
	if n, _ := h.entry(t, 0, arpHostIP); n.State != NeighReachable {
		t.Fatalf("state %v, want REACHABLE", n.State)
	}
}

func TestARPUnsolicitedReplyCreatesNothing(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	rep := arpFrame(t, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP)
	h.a.Input(0, rep, h.now())
	garp := arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpHostIP)
	h.a.Input(0, garp, h.now())
	if e := h.a.Entries(); len(e) != 0 {
		t.Fatalf("unsolicited ARP planted %+v", e)
	}
	// But a gratuitous ARP updates an entry we have (a host changed NIC).
	h.a.Input(0, arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP), h.now())
	h.a.Input(0, arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHost2, arpHostIP, [6]byte{}, arpHostIP), h.now())
	if n, _ := h.entry(t, 0, arpHostIP); n.MAC != arpHost2 {
		t.Fatalf("gratuitous ARP did not update: %+v", n)
	}
}

func TestARPReachableStaleProbeExpiry(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	h.a.Resolve(0, arpHostIP, h.now())
	h.a.Input(0, arpFrame(t, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP), h.now())
	h.takeTx()

	h.advance(29 * time.Second)
	if n, _ := h.entry(t, 0, arpHostIP); n.State != NeighReachable {
		t.Fatalf("at 29 s: %v, want REACHABLE", n.State)
	}
	h.advance(time.Second)
	if n, _ := h.entry(t, 0, arpHostIP); n.State != NeighStale {
		t.Fatalf("at 30 s: %v, want STALE", n.State)
	}
	// Using a stale entry works and sends a unicast probe.
	if mac, ok := h.a.Resolve(0, arpHostIP, h.now()); !ok || mac != arpHostMAC {
		t.Fatal("stale entry not usable")
	}
	tx := h.takeTx()
	if len(tx) != 1 {
		t.Fatalf("probes sent: %d", len(tx))
	}
	wantARP(t, tx[0].frame, arpHostMAC, layers.ARPRequest, arpLanMAC, arpLanIP, [6]byte{}, arpHostIP)
	// The answer makes it reachable again.
	h.a.Input(0, arpFrame(t, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP), h.now())
	if n, _ := h.entry(t, 0, arpHostIP); n.State != NeighReachable || n.Age != 0 {
		t.Fatalf("after probe reply: %+v", n)
	}
	// Unused, it goes stale and is removed 20 minutes after the last
	// confirmation, not before.
	h.advance(20*time.Minute - time.Second)
	if n, ok := h.entry(t, 0, arpHostIP); !ok || n.State != NeighStale {
		t.Fatalf("at 20 min - 1 s: %+v %v", n, ok)
	}
	h.advance(time.Second)
	if _, ok := h.entry(t, 0, arpHostIP); ok {
		t.Fatal("entry outlived 20 minutes")
	}
}

func TestARPProbeUnansweredRemovesEntry(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	h.a.Input(0, arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP), h.now())
	if _, ok := h.a.Resolve(0, arpHostIP, h.now()); !ok { // STALE -> PROBE
		t.Fatal("learned entry not usable")
	}
	h.advance(time.Second)
	h.advance(time.Second)
	if n, ok := h.entry(t, 0, arpHostIP); !ok || n.State != NeighProbe {
		t.Fatalf("%+v %v", n, ok)
	}
	h.advance(time.Second)
	if _, ok := h.entry(t, 0, arpHostIP); ok {
		t.Fatal("unanswered probes kept the entry")
	}
	tx := h.takeTx()
	if len(tx) != 3 {
		t.Fatalf("%d probes, want 3", len(tx))
	}
	for _, s := range tx {
		wantARP(t, s.frame, arpHostMAC, layers.ARPRequest, arpLanMAC, arpLanIP, [6]byte{}, arpHostIP)
	}
}

func TestARPFailureAfterThreeTries(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	h.a.Resolve(0, arpHostIP2, h.now())
	p := heldPacket(0, arpHostIP2, 9)
	h.a.Hold(p)
	h.advance(999 * time.Millisecond)
	if len(h.tx) != 1 {
		t.Fatalf("retried early: %d", len(h.tx))
	}
	h.advance(time.Millisecond)
	h.advance(time.Second)
	if len(h.tx) != 3 || len(h.failed) != 0 {
		t.Fatalf("after 2 s: %d requests, %d failed", len(h.tx), len(h.failed))
	}
	h.advance(time.Second)
	if len(h.tx) != 3 {
		t.Fatalf("%d requests, want exactly 3", len(h.tx))
	}
	for _, s := range h.tx {
		wantARP(t, s.frame, header.BroadcastMAC, layers.ARPRequest, arpLanMAC, arpLanIP, [6]byte{}, arpHostIP2)
	}
	if len(h.failed) != 1 || h.failed[0] != p || p.Drop != packet.DropARPFailed {
		t.Fatalf("failed %v (drop %v)", h.failed, p.Drop)
	}
	if _, ok := h.entry(t, 0, arpHostIP2); ok {
		t.Fatal("failed entry kept")
	}
	if c := h.a.Counters(); c.Failed != 1 || c.RequestsOut != 3 {
		t.Fatalf("counters %+v", c)
	}
	// The next packet starts a new resolution.
	h.tx = nil
	h.a.Resolve(0, arpHostIP2, h.now())
	if len(h.tx) != 1 {
		t.Fatal("no new request after failure")
	}
}

func TestARPQueueBound(t *testing.T) {
	h := newARPHarness(t, ARPConfig{QueueLen: 4})
	h.a.Resolve(1, [4]byte{203, 0, 113, 1}, h.now())
	var held []*packet.Packet
	var evicted []*packet.Packet
	for i := 0; i < 7; i++ {
		p := heldPacket(1, [4]byte{203, 0, 113, 1}, byte(i))
		held = append(held, p)
		if ev := h.a.Hold(p); ev != nil {
			evicted = append(evicted, ev)
		}
	}
	if len(evicted) != 3 || evicted[0] != held[0] || evicted[2] != held[2] {
		t.Fatalf("evicted %v, want the 3 oldest", evicted)
	}
	for _, p := range evicted {
		if p.Drop != packet.DropQueueFull {
			t.Fatalf("evicted with %v", p.Drop)
		}
	}
	h.a.Input(1, arpFrame(t, arpWanMAC, layers.ARPReply, arpHostMAC, [4]byte{203, 0, 113, 1}, arpWanMAC, [4]byte{203, 0, 113, 2}), h.now())
	got := h.a.Release(nil)
	if len(got) != 4 || got[0] != held[3] || got[3] != held[6] {
		t.Fatalf("released %v", got)
	}
}

func TestARPHoldWithoutResolution(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	p := heldPacket(0, arpHostIP, 1)
	if ev := h.a.Hold(p); ev != p || p.Drop != packet.DropARPFailed {
		t.Fatalf("Hold without a resolution under way: %v %v", ev, p.Drop)
	}
}

func TestARPResolveSpecialAddresses(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	tests := []struct {
		name   string
		ip     [4]byte
		wantOK bool
		mac    [6]byte
	}{
		{name: "limited broadcast", ip: [4]byte{255, 255, 255, 255}, wantOK: true, mac: header.BroadcastMAC},
		{name: "directed broadcast", ip: [4]byte{192, 168, 1, 255}, wantOK: true, mac: header.BroadcastMAC},
		{name: "own address", ip: arpLanIP},
		{name: "multicast", ip: [4]byte{224, 0, 0, 1}},
		{name: "unspecified", ip: [4]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac, ok := h.a.Resolve(0, tt.ip, h.now())
			if ok != tt.wantOK || mac != tt.mac {
				t.Fatalf("Resolve = %x %v", mac, ok)
			}
			if len(h.takeTx()) != 0 {
				t.Fatal("sent a request")
			}
		})
	}
}

func TestARPAnnounce(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	h.a.Announce(h.now())
	tx := h.takeTx()
	if len(tx) != 2 {
		t.Fatalf("%d announcements, want one per interface", len(tx))
	}
	wantARP(t, tx[0].frame, header.BroadcastMAC, layers.ARPRequest, arpLanMAC, arpLanIP, [6]byte{}, arpLanIP)
	wantARP(t, tx[1].frame, header.BroadcastMAC, layers.ARPRequest, arpWanMAC, [4]byte{203, 0, 113, 2}, [6]byte{}, [4]byte{203, 0, 113, 2})
	h.advance(time.Second)
	if len(h.tx) != 0 {
		t.Fatal("second announcement too early")
	}
	h.advance(time.Second)
	h.advance(10 * time.Second)
	if len(h.takeTx()) != 2 {
		t.Fatal("want exactly one second round of announcements, 2 s later")
	}
}

func TestARPMaxEntries(t *testing.T) {
	h := newARPHarness(t, ARPConfig{MaxEntries: 2})
	for i := byte(10); i < 14; i++ {
		h.a.Resolve(0, [4]byte{192, 168, 1, i}, h.now())
	}
	if n := len(h.a.Entries()); n != 2 {
		t.Fatalf("%d entries, bound 2", n)
	}
}

func TestEncap(t *testing.T) {
	b := make([]byte, 20)
	if n := Encap(b, arpLanMAC, arpHostMAC, header.EtherTypeIPv4); n != 14 {
		t.Fatalf("n = %d", n)
	}
	want := append(append(append([]byte(nil), arpHostMAC[:]...), arpLanMAC[:]...), 0x08, 0x00)
	if !bytes.Equal(b[:14], want) {
		t.Fatalf("%x", b[:14])
	}
	if Encap(b[:13], arpLanMAC, arpHostMAC, 0x800) != 0 {
		t.Fatal("short buffer accepted")
	}
}

func TestDeriveMAC(t *testing.T) {
	a, b := DeriveMAC("lan0"), DeriveMAC("wan0")
	if a == b || a[0] != 0x02 || a != DeriveMAC("lan0") {
		t.Fatalf("%x %x", a, b)
	}
	if ifc := NewIface(0, "x", [6]byte{}, netip.MustParsePrefix("10.0.0.1/8"), 0); ifc.MAC != DeriveMAC("x") || ifc.MTU != DefaultMTU {
		t.Fatalf("%+v", ifc)
	}
}

func TestARPNoAllocs(t *testing.T) {
	h := newARPHarness(t, ARPConfig{})
	h.a.Input(0, arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP), h.now())
	h.a.Resolve(0, arpHostIP, h.now())
	h.a.Input(0, arpFrame(t, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP), h.now())
	req := arpFrame(t, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP)
	buf := make([]byte, len(req))
	now := h.now()
	if a := testing.AllocsPerRun(200, func() {
		if _, ok := h.a.Resolve(0, arpHostIP, now); !ok {
			t.Fatal("miss")
		}
	}); a != 0 {
		t.Fatalf("Resolve hit allocates %v", a)
	}
	if a := testing.AllocsPerRun(200, func() {
		copy(buf, req)
		if h.a.Input(0, buf, now) == nil {
			t.Fatal("no reply")
		}
	}); a != 0 {
		t.Fatalf("Input allocates %v", a)
	}
}

func BenchmarkARPResolveHit(b *testing.B) {
	h := newARPHarness(b, ARPConfig{})
	h.a.Resolve(0, arpHostIP, h.now())
	h.a.Input(0, arpFrame(b, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP), h.now())
	now := h.now()
	b.ReportAllocs()
	for b.Loop() {
		h.a.Resolve(0, arpHostIP, now)
	}
}

func BenchmarkARPInputRequest(b *testing.B) {
	h := newARPHarness(b, ARPConfig{})
	req := arpFrame(b, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP)
	buf := make([]byte, len(req))
	now := h.now()
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, req)
		h.a.Input(0, buf, now)
	}
}

// FuzzARPInput feeds arbitrary frames to Input, interleaved with Resolve,
// Hold and Tick, and checks the invariants: no panic, a reply is a
// well-formed ARP reply from our address to the requester, the cache stays
// within its bounds, and only on-link unicast senders are learned.
func FuzzARPInput(f *testing.F) {
	f.Add(arpFrame(f, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpLanIP), uint8(0), uint16(0))
	f.Add(arpFrame(f, arpLanMAC, layers.ARPReply, arpHostMAC, arpHostIP, arpLanMAC, arpLanIP), uint8(0), uint16(100))
	f.Add(arpFrame(f, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, [4]byte{}, [6]byte{}, arpLanIP), uint8(1), uint16(5000))
	f.Add(arpFrame(f, header.BroadcastMAC, layers.ARPRequest, arpHostMAC, arpHostIP, [6]byte{}, arpHostIP), uint8(0), uint16(30000))
	f.Add([]byte{}, uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, frame []byte, ifIndex uint8, advanceMs uint16) {
		h := newARPHarness(t, ARPConfig{QueueLen: 2, MaxEntries: 4})
		h.a.Resolve(0, arpHostIP, h.now())
		h.a.Hold(heldPacket(0, arpHostIP, 1))
		in := append([]byte(nil), frame...)
		reply := h.a.Input(int(ifIndex%3), in, h.now())
		if reply != nil {
			ifc := arpIfaces()[ifIndex%3]
			if len(reply) != header.ARPFrameSize {
				t.Fatalf("reply length %d", len(reply))
			}
			e := header.Ethernet(reply)
			p := header.ARP(reply[14:])
			if p.Validate() != header.ReasonNone || p.Op() != header.ARPReply || e.Source() != ifc.MAC ||
				p.SenderProtocolAddress() != ifc.IP() || e.Destination() != p.TargetHardwareAddress() {
				t.Fatalf("bad reply %x", reply)
			}
			q := header.ARP(frame[14:])
			if p.TargetHardwareAddress() != q.SenderHardwareAddress() || p.TargetProtocolAddress() != q.SenderProtocolAddress() {
				t.Fatalf("reply not to the requester: %x", reply)
			}
		}
		for _, n := range h.a.Entries() {
			ifc := arpIfaces()[n.IfIndex]
			if !ifc.OnLink(n.IP) || n.IP == ifc.IP() || n.MAC[0]&1 != 0 {
				t.Fatalf("learned bogus %+v", n)
			}
		}
		h.advance(time.Duration(advanceMs) * time.Millisecond * 100)
		h.a.Release(nil)
		if len(h.a.Entries()) > 4 {
			t.Fatal("cache over its bound")
		}
	})
}

// TestARPConcurrent drives the cache from several goroutines at once, as
// the dataplane's workers and ticker do (run with -race).
func TestARPConcurrent(t *testing.T) {
	var mu sync.Mutex
	frames := 0
	a := NewARP(arpIfaces(), ARPConfig{
		Transmit: func(int, []byte) { mu.Lock(); frames++; mu.Unlock() },
		Failed:   func(*packet.Packet) {},
	})
	clock := pipeline.NewVirtual(time.Unix(1e9, 0))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for i := 0; i < 2000; i++ {
				ip := [4]byte{192, 168, 1, byte(2 + (i+w)%50)}
				if _, ok := a.Resolve(0, ip, clock.Now()); !ok {
					if ev := a.Hold(heldPacket(0, ip, byte(i))); ev != nil && ev.Drop == packet.DropNone {
						t.Error("evicted without a reason")
					}
				}
				mac := [6]byte{0x02, 0, 0, 0, byte(w), byte(i)}
				n := copy(buf, arpFrame(t, arpLanMAC, layers.ARPReply, mac, ip, arpLanMAC, arpLanIP))
				a.Input(0, buf[:n], clock.Now())
				a.Release(nil)
				if i%100 == 0 {
					clock.Advance(300 * time.Millisecond)
					a.Tick(clock.Now())
				}
			}
		}()
	}
	wg.Wait()
	if len(a.Entries()) == 0 || frames == 0 {
		t.Fatalf("entries %d, frames %d", len(a.Entries()), frames)
	}
}
