package header_test

import (
	"math/rand"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/header"
)

// ipv4Seeds are valid and malformed datagrams for the fuzzers.
func ipv4Seeds() [][]byte {
	r := rand.New(rand.NewSource(30))
	var s [][]byte
	for i := 0; i < 4; i++ {
		s = append(s, randIP(r, header.ProtoTCP, header.TCPMinSize+r.Intn(20)))
	}
	s = append(s,
		// 20-byte header, UDP, total length 28, with a bad checksum.
		mustHex("4500 001c 0001 0000 4011 0000 0a00 0001 0a00 0002  0035 0035 0008 0000"),
		// IHL 6 with a router alert option.
		mustHex("4600 0018 0000 0000 4002 0000 0a00 0001 e000 0001  9404 0000"),
		// Option length running past the header.
		mustHex("4600 0018 0000 0000 4002 0000 0a00 0001 e000 0001  0708 0000"),
		mustHex("4f00"),
		mustHex("6000 0000 0000 0000 0000 0000 0000 0000 0000 0000"),
	)
	for _, b := range s {
		if len(b) >= header.IPv4MinSize && b[0]>>4 == 4 && int(b[0]&0xf)*4 <= len(b) {
			header.IPv4(b).UpdateChecksum()
		}
	}
	return s
}

// FuzzIPv4 validates arbitrary bytes; when valid, every accessor and
// setter must work without panicking, offsets stay within the slice, the
// checksum verifies after each setter, and gopacket decodes it too.
func FuzzIPv4(f *testing.F) {
	for _, s := range ipv4Seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := header.IPv4(b)
		if ip.Validate() != header.ReasonNone {
			return
		}
		hl, tl := ip.HeaderLength(), int(ip.TotalLength())
		if hl < header.IPv4MinSize || hl > header.IPv4MaxSize || hl > tl || tl > len(b) {
			t.Fatalf("valid but hl %d tl %d len %d", hl, tl, len(b))
		}
		if len(ip.Options()) != hl-header.IPv4MinSize || len(ip.Payload()) != tl-hl {
			t.Fatal("Options/Payload lengths")
		}
		if ip.CalculateChecksum() != ip.Checksum() {
			t.Fatal("valid header whose checksum does not recompute")
		}
		_, _, _, _, _ = ip.TOS(), ip.ID(), ip.FragmentOffset(), ip.More(), ip.DontFragment()
		_, _, _, _ = ip.IsFragment(), ip.TTL(), ip.Protocol(), ip.FlagsFragmentOffset()
		_, _ = ip.Src(), ip.Dst()
		optsOK := header.ValidateOptions(ip.Options()) == header.ReasonNone
		if optsOK {
			c := header.CopiedOptions(nil, ip.Options())
			if len(c)%4 != 0 || len(c) > len(ip.Options())+3 {
				t.Fatalf("CopiedOptions len %d from %d", len(c), len(ip.Options()))
			}
			// gopacket reads every datagram we accept.
			var g layers.IPv4
			if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("we accept, gopacket: %v", err)
			}
		}
		// Setters keep the header valid.
		c := append([]byte(nil), b...)
		v := header.IPv4(c)
		v.DecrementTTL()
		v.SetTOS(v.TOS() ^ 0xff)
		v.SetID(^v.ID())
		v.SetFlagsFragmentOffset(v.FlagsFragmentOffset() ^ header.IPv4FlagDF)
		v.SetSourceAddressWithChecksumUpdate(v.DestinationAddress())
		v.SetDestinationAddressWithChecksumUpdate([4]byte{255, 255, 255, 255})
		if r := v.Validate(); r != header.ReasonNone {
			t.Fatalf("after setters: %v", r)
		}
		if v.Checksum() != v.CalculateChecksum() {
			t.Fatal("after setters: checksum differs from recomputation")
		}
	})
}

// FuzzIPv4Options checks ValidateOptions against gopacket's option walk:
// both reject exactly the same lists.
func FuzzIPv4Options(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 0})
	f.Add([]byte{0x94, 4, 0, 0})
	f.Add([]byte{7, 7, 4, 0, 0, 0, 0, 0})
	f.Add([]byte{7, 9, 4})
	f.Add([]byte{0x44, 1})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		opts = append(opts, make([]byte, (4-len(opts)%4)%4)...)
		b := make([]byte, header.IPv4MinSize+len(opts))
		header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 1, Options: opts})
		ours := header.ValidateOptions(opts) == header.ReasonNone
		var g layers.IPv4
		theirs := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil
		if ours != theirs {
			t.Fatalf("ValidateOptions ok=%v, gopacket ok=%v for % x", ours, theirs, opts)
		}
	})
}

// FuzzTCPOptions parses arbitrary option bytes: no panic, at most 4 SACK
// blocks, a second parse gives the same result (the struct is reset), and
// the TCP view accessors stay in bounds.
func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}) // Linux SYN
	f.Add([]byte{1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8})
	f.Add([]byte{5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 26})
	f.Add([]byte{2, 3, 1})
	f.Add([]byte{2})
	f.Add([]byte{2, 0})
	f.Add([]byte{8, 10, 1, 2, 3})
	f.Add([]byte{0, 2, 4, 5, 0xb4})
	f.Add([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})                                      // NOP NOP TS
	f.Add([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}) // + SACK
	f.Fuzz(func(t *testing.T, opts []byte) {
		var o, o2 header.TCPOptions
		header.ParseTCPOptions(opts, &o)
		if o.NumSACK > 4 {
			t.Fatalf("NumSACK %d", o.NumSACK)
		}
		o2 = header.TCPOptions{MSS: 1, NumSACK: 3, Malformed: true, HasTimestamp: true}
		header.ParseTCPOptions(opts, &o2)
		if o != o2 {
			t.Fatalf("parse depends on the previous contents: %+v vs %+v", o, o2)
		}
		var w header.TCPOptions
		header.ParseTCPOptionsWalk(opts, &w)
		if o != w {
			t.Fatalf("fast path %+v, walk %+v", o, w)
		}
		for i := o.NumSACK; i < 4; i++ {
			if o.SACK[i] != (header.SACKBlock{}) {
				t.Fatal("SACK block beyond NumSACK set")
			}
		}
		// As the options of a segment.
		if len(opts) > 40 {
			return
		}
		pad := (4 - len(opts)%4) % 4
		seg := make([]byte, header.TCPMinSize+len(opts)+pad)
		tc := header.TCP(seg)
		tc.Encode(&header.TCPFields{DataOffset: uint8(len(seg))})
		copy(seg[header.TCPMinSize:], opts)
		if tc.Validate() != header.ReasonNone {
			t.Fatal("Validate")
		}
		if len(tc.Options()) != len(opts)+pad || len(tc.Payload()) != 0 {
			t.Fatal("Options/Payload")
		}
	})
}

// FuzzARP reads arbitrary bytes as an Ethernet frame carrying ARP: no
// panic, offsets within the frame, and a reply built from a valid request
// validates and mirrors it.
func FuzzARP(f *testing.F) {
	buf := make([]byte, 64)
	n := header.BuildARPRequest(buf, macA, ipA, ipB)
	f.Add(append([]byte(nil), buf[:n]...))
	n = header.BuildGratuitousARP(buf, macB, ipB)
	f.Add(append([]byte(nil), buf[:n]...))
	f.Add(mustHex("ffff ffff ffff  0200 0000 000a  8100 0064  0806  0001 0800 0604 0001 0200 0000 000a c0a8 0101 0000 0000 0000 c0a8 0114"))
	f.Add(mustHex("ffff ffff ffff  0200 0000 000a  88a8 0064  8100 0001 0806  0001 0800 0604 0002"))
	f.Add(mustHex("ffff ffff ffff  0200 0000 000a  8100"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		e := header.Ethernet(frame)
		if e.Validate() != header.ReasonNone {
			return
		}
		off := e.PayloadOffset()
		if off > len(frame) || off < header.EthernetMinSize || off > header.EthernetMaxHeader {
			t.Fatalf("PayloadOffset %d, len %d", off, len(frame))
		}
		_, _, _, _, _ = e.Destination(), e.Source(), e.EtherType(), e.VLANID(), e.InnerVLANID()
		_, _ = e.Priority(), e.NumTags()
		a := header.ARP(e.Payload())
		if a.Validate() != header.ReasonNone {
			return
		}
		if a.HardwareType() != 1 || a.ProtocolType() != header.EtherTypeIPv4 || a.HardwareAddressLength() != 6 || a.ProtocolAddressLength() != 4 {
			t.Fatal("Validate accepted a non Ethernet/IPv4 ARP")
		}
		var out [header.ARPFrameSize]byte
		n := header.BuildARPReply(out[:], macB, a.TargetProtocolAddress(), a.SenderHardwareAddress(), a.SenderProtocolAddress())
		re := header.Ethernet(out[:n])
		ra := header.ARP(re.Payload())
		if re.Validate() != header.ReasonNone || re.EtherType() != header.EtherTypeARP || ra.Validate() != header.ReasonNone {
			t.Fatal("built reply does not validate")
		}
		if ra.Op() != header.ARPReply || ra.TargetHardwareAddress() != a.SenderHardwareAddress() ||
			ra.TargetProtocolAddress() != a.SenderProtocolAddress() || ra.SenderProtocolAddress() != a.TargetProtocolAddress() {
			t.Fatal("reply does not mirror the request")
		}
	})
}
