package header_test

import (
	"encoding/hex"
	"math/rand"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/header"
)

// mustHex decodes spaced hex ("0800 4500 ...").
func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	macA = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
	ipA  = [4]byte{192, 168, 1, 1}
	ipB  = [4]byte{192, 168, 1, 20}
)

func TestEthernet(t *testing.T) {
	tests := []struct {
		name      string
		frame     []byte
		reason    header.Reason
		etherType uint16
		off       int
		tags      int
		vlan      uint16
		inner     uint16
		prio      uint8
		skipGP    bool // gopacket does not know the TPID
	}{
		{
			name: "untagged ipv4",
			// dst, src, type 0x0800, then 2 payload bytes
			frame:     mustHex("0200 0000 000b  0200 0000 000a  0800  4500"),
			etherType: header.EtherTypeIPv4, off: 14,
		},
		{
			name:      "untagged arp, header only",
			frame:     mustHex("ffff ffff ffff  0200 0000 000a  0806"),
			etherType: header.EtherTypeARP, off: 14,
		},
		{
			name: "802.1Q vlan 100 prio 5",
			// TPID 8100, TCI a064 (PCP 5, DEI 0, VID 100), type 0800
			frame:     mustHex("0200 0000 000b  0200 0000 000a  8100 a064  0800  4500"),
			etherType: header.EtherTypeIPv4, off: 18, tags: 1, vlan: 100, prio: 5,
		},
		{
			name: "802.1ad qinq s-tag 10 c-tag 4094",
			// TPID 88a8 TCI 000a, TPID 8100 TCI 0ffe, type 0806
			frame:     mustHex("0200 0000 000b  0200 0000 000a  88a8 000a  8100 0ffe  0806"),
			etherType: header.EtherTypeARP, off: 22, tags: 2, vlan: 10, inner: 4094,
		},
		{
			name:      "old qinq 9100 then 8100",
			frame:     mustHex("0200 0000 000b  0200 0000 000a  9100 0001  8100 0002  0800"),
			etherType: header.EtherTypeIPv4, off: 22, tags: 2, vlan: 1, inner: 2, skipGP: true,
		},
		{
			name:  "three tags: the third TPID is the type",
			frame: mustHex("0200 0000 000b  0200 0000 000a  88a8 0001  8100 0002  8100 0003  0800"),
			// Not IPv4: the caller drops it.
			etherType: header.EtherTypeVLAN, off: 22, tags: 2, vlan: 1, inner: 2,
		},
		{
			name:      "tag exactly fits, empty payload",
			frame:     mustHex("0200 0000 000b  0200 0000 000a  8100 0064  0800"),
			etherType: header.EtherTypeIPv4, off: 18, tags: 1, vlan: 100,
		},
		{name: "empty", frame: nil, reason: header.ReasonTruncated},
		{name: "13 bytes", frame: mustHex("0200 0000 000b  0200 0000 000a  08"), reason: header.ReasonTruncated},
		{name: "tag cut", frame: mustHex("0200 0000 000b  0200 0000 000a  8100 0064  08"), reason: header.ReasonTruncated},
		{name: "tag without type", frame: mustHex("0200 0000 000b  0200 0000 000a  8100 0064"), reason: header.ReasonTruncated},
		{name: "second tag cut", frame: mustHex("0200 0000 000b  0200 0000 000a  88a8 0064  8100 00"), reason: header.ReasonTruncated},
		{name: "second tag without type", frame: mustHex("0200 0000 000b  0200 0000 000a  88a8 0064  8100 0001"), reason: header.ReasonTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := header.Ethernet(tt.frame)
			if r := e.Validate(); r != tt.reason {
				t.Fatalf("Validate = %v, want %v", r, tt.reason)
			}
			if tt.reason != header.ReasonNone {
				return
			}
			eq(t, "Destination", e.Destination(), [6]byte(tt.frame[0:6]))
			eq(t, "Source", e.Source(), [6]byte(tt.frame[6:12]))
			eq(t, "EtherType", e.EtherType(), tt.etherType)
			eq(t, "PayloadOffset", e.PayloadOffset(), tt.off)
			eq(t, "NumTags", e.NumTags(), tt.tags)
			eq(t, "VLANID", e.VLANID(), tt.vlan)
			eq(t, "InnerVLANID", e.InnerVLANID(), tt.inner)
			eq(t, "Priority", e.Priority(), tt.prio)
			eq(t, "len(Payload)", len(e.Payload()), len(tt.frame)-tt.off)

			// gopacket agrees on the type and the tags.
			p := gopacket.NewPacket(tt.frame, layers.LayerTypeEthernet, gopacket.Default)
			var vids []uint16
			for _, l := range p.Layers() {
				if d, ok := l.(*layers.Dot1Q); ok {
					vids = append(vids, d.VLANIdentifier)
				}
			}
			if !tt.skipGP && tt.tags > 0 && (len(vids) < tt.tags || vids[0] != tt.vlan) {
				t.Errorf("gopacket tags %v, want outer %d", vids, tt.vlan)
			}
		})
	}
}

func TestEncodeEthernet(t *testing.T) {
	b := make([]byte, 64)
	if n := header.EncodeEthernet(b, macB, macA, header.EtherTypeIPv4); n != header.EthernetMinSize {
		t.Fatalf("EncodeEthernet = %d", n)
	}
	e := header.Ethernet(b)
	eq(t, "Validate", e.Validate(), header.ReasonNone)
	eq(t, "Destination", e.Destination(), macB)
	eq(t, "Source", e.Source(), macA)
	eq(t, "EtherType", e.EtherType(), header.EtherTypeIPv4)
	eq(t, "Type", e.Type(), header.EtherTypeIPv4)
	e.SetDestination(header.BroadcastMAC)
	e.SetSource(macB)
	eq(t, "Destination after set", e.Destination(), header.BroadcastMAC)
	eq(t, "Source after set", e.Source(), macB)

	if n := header.EncodeEthernetVLAN(b, macB, macA, 6, 4000, header.EtherTypeARP); n != 18 {
		t.Fatalf("EncodeEthernetVLAN = %d", n)
	}
	eq(t, "VLAN EtherType", e.EtherType(), header.EtherTypeARP)
	eq(t, "VLANID", e.VLANID(), 4000)
	eq(t, "Priority", e.Priority(), 6)
	eq(t, "Type", e.Type(), header.EtherTypeVLAN)
	p := gopacket.NewPacket(b[:18+28], layers.LayerTypeEthernet, gopacket.Default)
	d, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if !ok {
		t.Fatal("gopacket: no Dot1Q layer")
	}
	eq(t, "gopacket VLANIdentifier", d.VLANIdentifier, 4000)
	eq(t, "gopacket Priority", d.Priority, 6)
	eq(t, "gopacket Type", uint16(d.Type), header.EtherTypeARP)

	if header.EncodeEthernet(b[:13], macB, macA, 1) != 0 || header.EncodeEthernetVLAN(b[:17], macB, macA, 0, 1, 1) != 0 {
		t.Error("encoders wrote into a short buffer")
	}
}

func TestARP(t *testing.T) {
	tests := []struct {
		name   string
		pkt    []byte
		reason header.Reason
		op     uint16
		grat   bool
	}{
		{
			name: "request",
			// htype 1, ptype 0800, hlen 6, plen 4, op 1, sha, spa, tha 0, tpa
			pkt: mustHex("0001 0800 06 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0114"),
			op:  header.ARPRequest,
		},
		{
			name: "reply with trailing padding",
			pkt:  mustHex("0001 0800 06 04 0002  0200 0000 000b  c0a8 0114  0200 0000 000a  c0a8 0101  0000 0000"),
			op:   header.ARPReply,
		},
		{
			name: "gratuitous",
			pkt:  mustHex("0001 0800 06 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0101"),
			op:   header.ARPRequest, grat: true,
		},
		{name: "truncated", pkt: mustHex("0001 0800 06 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 01"), reason: header.ReasonTruncated},
		{name: "empty", reason: header.ReasonTruncated},
		{name: "ieee802 htype", pkt: mustHex("0006 0800 06 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0114"), reason: header.ReasonBadARP},
		{name: "ipv6 ptype", pkt: mustHex("0001 86dd 06 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0114"), reason: header.ReasonBadARP},
		{name: "hlen 8", pkt: mustHex("0001 0800 08 04 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0114"), reason: header.ReasonBadARP},
		{name: "plen 16", pkt: mustHex("0001 0800 06 10 0001  0200 0000 000a  c0a8 0101  0000 0000 0000  c0a8 0114"), reason: header.ReasonBadARP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := header.ARP(tt.pkt)
			if r := a.Validate(); r != tt.reason {
				t.Fatalf("Validate = %v, want %v", r, tt.reason)
			}
			if tt.reason != header.ReasonNone {
				return
			}
			g := &layers.ARP{}
			if err := g.DecodeFromBytes(tt.pkt, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			eq(t, "HardwareType", a.HardwareType(), uint16(g.AddrType))
			eq(t, "ProtocolType", a.ProtocolType(), uint16(g.Protocol))
			eq(t, "HardwareAddressLength", a.HardwareAddressLength(), g.HwAddressSize)
			eq(t, "ProtocolAddressLength", a.ProtocolAddressLength(), g.ProtAddressSize)
			eq(t, "Op", a.Op(), g.Operation)
			eq(t, "Op (table)", a.Op(), tt.op)
			eq(t, "SenderHardwareAddress", a.SenderHardwareAddress(), [6]byte(g.SourceHwAddress))
			eq(t, "SenderProtocolAddress", a.SenderProtocolAddress(), [4]byte(g.SourceProtAddress))
			eq(t, "TargetHardwareAddress", a.TargetHardwareAddress(), [6]byte(g.DstHwAddress))
			eq(t, "TargetProtocolAddress", a.TargetProtocolAddress(), [4]byte(g.DstProtAddress))
			eq(t, "IsGratuitous", a.IsGratuitous(), tt.grat)
		})
	}
}

// decodeARPFrame decodes an Ethernet+ARP frame with gopacket.
func decodeARPFrame(t *testing.T, b []byte) (*layers.Ethernet, *layers.ARP) {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("gopacket: layers %v", p.Layers())
	}
	return eth, arp
}

func TestBuildARP(t *testing.T) {
	buf := make([]byte, 128)
	for i := range buf {
		buf[i] = 0xee // builders must overwrite what was there
	}
	t.Run("request", func(t *testing.T) {
		n := header.BuildARPRequest(buf, macA, ipA, ipB)
		if n != header.ARPFrameSize {
			t.Fatalf("n = %d, want %d", n, header.ARPFrameSize)
		}
		eth, arp := decodeARPFrame(t, buf[:n])
		eq(t, "eth dst", [6]byte(eth.DstMAC), header.BroadcastMAC)
		eq(t, "eth src", [6]byte(eth.SrcMAC), macA)
		eq(t, "op", arp.Operation, layers.ARPRequest)
		eq(t, "sha", [6]byte(arp.SourceHwAddress), macA)
		eq(t, "spa", [4]byte(arp.SourceProtAddress), ipA)
		eq(t, "tha", [6]byte(arp.DstHwAddress), [6]byte{})
		eq(t, "tpa", [4]byte(arp.DstProtAddress), ipB)
		a := header.ARP(header.Ethernet(buf[:n]).Payload())
		eq(t, "Validate", a.Validate(), header.ReasonNone)
		eq(t, "IsGratuitous", a.IsGratuitous(), false)
	})
	t.Run("reply", func(t *testing.T) {
		n := header.BuildARPReply(buf, macB, ipB, macA, ipA)
		if n != header.ARPFrameSize {
			t.Fatalf("n = %d", n)
		}
		eth, arp := decodeARPFrame(t, buf[:n])
		eq(t, "eth dst", [6]byte(eth.DstMAC), macA)
		eq(t, "eth src", [6]byte(eth.SrcMAC), macB)
		eq(t, "op", arp.Operation, layers.ARPReply)
		eq(t, "sha", [6]byte(arp.SourceHwAddress), macB)
		eq(t, "spa", [4]byte(arp.SourceProtAddress), ipB)
		eq(t, "tha", [6]byte(arp.DstHwAddress), macA)
		eq(t, "tpa", [4]byte(arp.DstProtAddress), ipA)
	})
	t.Run("gratuitous", func(t *testing.T) {
		n := header.BuildGratuitousARP(buf, macA, ipA)
		eth, arp := decodeARPFrame(t, buf[:n])
		eq(t, "eth dst", [6]byte(eth.DstMAC), header.BroadcastMAC)
		eq(t, "op", arp.Operation, layers.ARPRequest)
		eq(t, "spa", [4]byte(arp.SourceProtAddress), ipA)
		eq(t, "tpa", [4]byte(arp.DstProtAddress), ipA)
		eq(t, "IsGratuitous", header.ARP(buf[14:n]).IsGratuitous(), true)
	})
	t.Run("answer a request", func(t *testing.T) {
		// The reply to gopacket's request, built as the doc comment says.
		req := serialize(t,
			&layers.Ethernet{SrcMAC: net.HardwareAddr(macA[:]), DstMAC: net.HardwareAddr(header.BroadcastMAC[:]), EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: macA[:], SourceProtAddress: ipA[:], DstHwAddress: make([]byte, 6), DstProtAddress: ipB[:]})
		e := header.Ethernet(req)
		if e.Validate() != header.ReasonNone || e.EtherType() != header.EtherTypeARP {
			t.Fatal("request frame")
		}
		r := header.ARP(e.Payload())
		if r.Validate() != header.ReasonNone || r.Op() != header.ARPRequest {
			t.Fatal("request")
		}
		n := header.BuildARPReply(buf, macB, r.TargetProtocolAddress(), r.SenderHardwareAddress(), r.SenderProtocolAddress())
		_, arp := decodeARPFrame(t, buf[:n])
		eq(t, "spa", [4]byte(arp.SourceProtAddress), ipB)
		eq(t, "tha", [6]byte(arp.DstHwAddress), macA)
	})
	t.Run("short buffer", func(t *testing.T) {
		short := make([]byte, header.ARPFrameSize-1)
		if header.BuildARPRequest(short, macA, ipA, ipB) != 0 || header.BuildARPReply(short, macA, ipA, macB, ipB) != 0 ||
			header.BuildGratuitousARP(short, macA, ipA) != 0 {
			t.Fatal("builder wrote into a short buffer")
		}
	})
	t.Run("allocs", func(t *testing.T) {
		n := testing.AllocsPerRun(100, func() {
			header.BuildARPRequest(buf, macA, ipA, ipB)
			header.BuildARPReply(buf, macA, ipA, macB, ipB)
			a := header.ARP(buf[14:])
			_ = a.Validate()
			_ = a.SenderProtocolAddress()
			e := header.Ethernet(buf)
			_ = e.Validate()
			_ = e.EtherType()
		})
		if n != 0 {
			t.Fatalf("%v allocs per run, want 0", n)
		}
	})
}

// TestEthernetRandom checks random tagged frames built by gopacket.
func TestEthernetRandom(t *testing.T) {
	r := rand.New(rand.NewSource(20))
	for i := 0; i < 2000; i++ {
		src, dst := randBytes(r, 6), randBytes(r, 6)
		tags := r.Intn(3)
		ls := []gopacket.SerializableLayer{}
		var vids []uint16
		first := layers.EthernetTypeIPv4
		if tags > 0 {
			first = []layers.EthernetType{layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ}[r.Intn(2)]
		}
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: first})
		for k := 0; k < tags; k++ {
			vid := uint16(r.Intn(4096))
			vids = append(vids, vid)
			next := layers.EthernetTypeIPv4
			if k+1 < tags {
				next = layers.EthernetTypeDot1Q
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: vid, Priority: uint8(r.Intn(8)), Type: next})
		}
		ls = append(ls, gopacket.Payload(randBytes(r, r.Intn(30))))
		b := serialize(t, ls...)
		e := header.Ethernet(b)
		if e.Validate() != header.ReasonNone {
			t.Fatalf("%d: Validate", i)
		}
		eq(t, "EtherType", e.EtherType(), header.EtherTypeIPv4)
		eq(t, "NumTags", e.NumTags(), tags)
		eq(t, "PayloadOffset", e.PayloadOffset(), 14+4*tags)
		eq(t, "Source", e.Source(), [6]byte(src))
		eq(t, "Destination", e.Destination(), [6]byte(dst))
		if tags > 0 {
			eq(t, "VLANID", e.VLANID(), vids[0])
		}
		if tags > 1 {
			eq(t, "InnerVLANID", e.InnerVLANID(), vids[1])
		}
		if t.Failed() {
			t.Fatalf("iteration %d: % x", i, b)
		}
	}
}

func BenchmarkARP(b *testing.B) {
	buf := make([]byte, 64)
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		n := header.BuildARPRequest(buf, macA, ipA, ipB)
		frame := buf[:n]
		var ip [4]byte
		for b.Loop() {
			e := header.Ethernet(frame)
			if e.Validate() != header.ReasonNone || e.EtherType() != header.EtherTypeARP {
				b.Fatal("frame")
			}
			a := header.ARP(e.Payload())
			if a.Validate() != header.ReasonNone {
				b.Fatal("arp")
			}
			ip = a.TargetProtocolAddress()
		}
		_ = ip
	})
	b.Run("build_reply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			header.BuildARPReply(buf, macB, ipB, macA, ipA)
		}
	})
}
