package header_test

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"fwd/header"
)

// refChecksum is the plain RFC 1071 sum, one 16-bit word at a time, that
// the unrolled header.Checksum must match.
func refChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestChecksumReference(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	for i := 0; i < 5000; i++ {
		n := r.Intn(2000)
		if i < 64 {
			n = i // every short length, including the odd tails
		}
		b := randBytes(r, n)
		if r.Intn(10) == 0 { // long runs of 0xff stress the carries
			for j := range b {
				b[j] = 0xff
			}
		}
		init := uint16(r.Intn(65536))
		if got, want := header.Checksum(b, init), refChecksum(b, init); got != want {
			t.Fatalf("len %d initial %#04x: Checksum = %#04x, want %#04x", n, init, got, want)
		}
		// Summing in two pieces split at an even offset is the same.
		if n > 0 {
			k := r.Intn(n+1) &^ 1
			if got, want := header.Checksum(b[k:], header.Checksum(b[:k], init)), refChecksum(b, init); got != want {
				t.Fatalf("len %d split %d: %#04x, want %#04x", n, k, got, want)
			}
			if got, want := header.ChecksumCombine(header.Checksum(b[:k], 0), header.Checksum(b[k:], init)), refChecksum(b, init); got != want {
				t.Fatalf("len %d ChecksumCombine at %d: %#04x, want %#04x", n, k, got, want)
			}
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 250}
	ph := []byte{192, 0, 2, 1, 198, 51, 100, 250, 0, header.ProtoUDP, 0x12, 0x34}
	if got, want := header.PseudoHeaderChecksum(header.ProtoUDP, src, dst, 0x1234), refChecksum(ph, 0); got != want {
		t.Fatalf("PseudoHeaderChecksum = %#04x, want %#04x", got, want)
	}
}

// TestRFC1624Example is the worked example of RFC 1624 §4: a field changes
// from 0x5555 to 0x3285 where the rest of the header sums to 0xCD7A. The
// recomputed checksum is ~(0xCD7A + 0x3285) = ~0xFFFF = 0x0000; RFC 1141's
// eqn. 2 gives the wrong 0xFFFF, eqn. 3 the right 0x0000.
func TestRFC1624Example(t *testing.T) {
	if got := header.ChecksumUpdate2(0xDD2F, 0x5555, 0x3285); got != 0x0000 {
		t.Fatalf("ChecksumUpdate2(0xDD2F, 0x5555, 0x3285) = %#04x, want 0x0000", got)
	}
	// The same on a real header: the ID is the field m, and the
	// flags/fragment word is chosen so that the rest of the header sums to
	// 0xCD7A.
	b := make([]byte, header.IPv4MinSize)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: 20, TTL: 64, Protocol: header.ProtoUDP, Src: [4]byte{10, 0, 0, 1}, Dst: [4]byte{10, 0, 0, 2}})
	binary.BigEndian.PutUint16(b[10:], 0) // checksum
	binary.BigEndian.PutUint16(b[4:], 0)  // ID
	frag := header.ChecksumCombine(0xCD7A, ^header.Checksum(b, 0))
	binary.BigEndian.PutUint16(b[6:], frag)
	if s := header.Checksum(b, 0); s != 0xCD7A {
		t.Fatalf("setup: rest sums to %#04x, want 0xCD7A", s)
	}
	binary.BigEndian.PutUint16(b[4:], 0x5555)
	ip.UpdateChecksum()
	if ip.Checksum() != 0xDD2F {
		t.Fatalf("setup: checksum %#04x, want 0xDD2F", ip.Checksum())
	}
	ip.SetID(0x3285)
	if ip.Checksum() != 0x0000 || ip.CalculateChecksum() != 0x0000 {
		t.Fatalf("after SetID: checksum %#04x, recomputed %#04x, want 0x0000", ip.Checksum(), ip.CalculateChecksum())
	}
	if header.Checksum(b, 0) != 0xffff {
		t.Fatal("header does not verify")
	}
}

// randIP builds a valid random IPv4 header (with options) followed by an
// l4 of n bytes of random data, protocol proto.
func randIP(r *rand.Rand, proto uint8, l4 int) []byte {
	opts := randBytes(r, 4*r.Intn(11))
	for i := range opts {
		opts[i] = header.IPv4OptNOP
	}
	hl := header.IPv4MinSize + len(opts)
	b := make([]byte, hl+l4)
	r.Read(b[hl:])
	header.IPv4(b).Encode(&header.IPv4Fields{
		TOS: uint8(r.Intn(256)), TotalLength: uint16(len(b)), ID: uint16(r.Intn(65536)),
		Flags: uint16(r.Intn(2)) * header.IPv4FlagDF, TTL: uint8(r.Intn(256)), Protocol: proto,
		Src: [4]byte(randBytes(r, 4)), Dst: [4]byte(randBytes(r, 4)), Options: opts,
	})
	return b
}

// randWord returns a random 16-bit value, often one of the values that
// exercise the 0x0000/0xffff corner.
func randWord(r *rand.Rand) uint16 {
	switch r.Intn(8) {
	case 0:
		return 0
	case 1:
		return 0xffff
	}
	return uint16(r.Intn(65536))
}

func rand4(r *rand.Rand) [4]byte {
	if r.Intn(8) == 0 {
		return [4]byte{0xff, 0xff, 0xff, 0xff}
	}
	return [4]byte(randBytes(r, 4))
}

func TestIncrementalIPv4(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for i := 0; i < 20000; i++ {
		b := randIP(r, header.ProtoTCP, 0)
		ip := header.IPv4(b)
		for j := 0; j < 8; j++ {
			op := r.Intn(8)
			switch op {
			case 0:
				ip.SetTTL(uint8(r.Intn(256)))
			case 1:
				if ip.TTL() == 0 {
					continue
				}
				ttl := ip.TTL()
				ip.DecrementTTL()
				if ip.TTL() != ttl-1 {
					t.Fatalf("DecrementTTL: %d -> %d", ttl, ip.TTL())
				}
			case 2:
				ip.SetSourceAddressWithChecksumUpdate(rand4(r))
			case 3:
				ip.SetDestinationAddressWithChecksumUpdate(rand4(r))
			case 4:
				ip.SetTotalLength(randWord(r))
			case 5:
				ip.SetID(randWord(r))
			case 6:
				ip.SetTOS(uint8(r.Intn(256)))
			case 7:
				ip.SetFlagsFragmentOffset(randWord(r))
			}
			if got, want := ip.Checksum(), ip.CalculateChecksum(); got != want {
				t.Fatalf("iteration %d op %d: incremental %#04x, recomputed %#04x\n% x", i, op, got, want, b)
			}
			if header.Checksum(b[:ip.HeaderLength()], 0) != 0xffff {
				t.Fatalf("iteration %d op %d: header does not verify", i, op)
			}
		}
	}
}

func TestIncrementalTCP(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for i := 0; i < 20000; i++ {
		b := randIP(r, header.ProtoTCP, header.TCPMinSize+r.Intn(40))
		ip := header.IPv4(b)
		tc := header.TCP(ip.Payload())
		tc.Encode(&header.TCPFields{SrcPort: randWord(r), DstPort: randWord(r), Seq: r.Uint32(), Flags: header.TCPFlagACK})
		tc.SetChecksum(tc.CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()))
		for j := 0; j < 6; j++ {
			op := r.Intn(4)
			switch op {
			case 0:
				tc.SetSourcePortWithChecksumUpdate(randWord(r))
			case 1:
				tc.SetDestinationPortWithChecksumUpdate(randWord(r))
			case 2: // SNAT: the address and the pseudo header
				old, a := ip.SourceAddress(), rand4(r)
				ip.SetSourceAddressWithChecksumUpdate(a)
				tc.UpdateChecksumPseudoAddress(old, a)
			case 3: // DNAT
				old, a := ip.DestinationAddress(), rand4(r)
				ip.SetDestinationAddressWithChecksumUpdate(a)
				tc.UpdateChecksumPseudoAddress(old, a)
			}
			src, dst := ip.SourceAddress(), ip.DestinationAddress()
			if got, want := tc.Checksum(), tc.CalculateChecksum(src, dst); got != want {
				t.Fatalf("iteration %d op %d: incremental %#04x, recomputed %#04x", i, op, got, want)
			}
			if !tc.IsChecksumValid(src, dst) || ip.Checksum() != ip.CalculateChecksum() {
				t.Fatalf("iteration %d op %d: checksums do not verify", i, op)
			}
		}
	}
}

func TestIncrementalUDP(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	for i := 0; i < 20000; i++ {
		b := randIP(r, header.ProtoUDP, header.UDPSize+r.Intn(40))
		ip := header.IPv4(b)
		u := header.UDP(ip.Payload())
		u.Encode(randWord(r), randWord(r), uint16(len(ip.Payload())))
		noSum := r.Intn(4) == 0 // RFC 768: zero means no checksum was sent
		if !noSum {
			u.SetChecksum(u.CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()))
		}
		for j := 0; j < 6; j++ {
			op := r.Intn(4)
			switch op {
			case 0:
				u.SetSourcePortWithChecksumUpdate(randWord(r))
			case 1:
				u.SetDestinationPortWithChecksumUpdate(randWord(r))
			case 2:
				old, a := ip.SourceAddress(), rand4(r)
				ip.SetSourceAddressWithChecksumUpdate(a)
				u.UpdateChecksumPseudoAddress(old, a)
			case 3:
				old, a := ip.DestinationAddress(), rand4(r)
				ip.SetDestinationAddressWithChecksumUpdate(a)
				u.UpdateChecksumPseudoAddress(old, a)
			}
			src, dst := ip.SourceAddress(), ip.DestinationAddress()
			if noSum {
				if u.Checksum() != 0 {
					t.Fatalf("iteration %d op %d: zero checksum became %#04x", i, op, u.Checksum())
				}
				continue
			}
			if got, want := u.Checksum(), u.CalculateChecksum(src, dst); got != want {
				t.Fatalf("iteration %d op %d: incremental %#04x, recomputed %#04x", i, op, got, want)
			}
			if u.Checksum() == 0 || !u.IsChecksumValid(src, dst) {
				t.Fatalf("iteration %d op %d: checksum %#04x does not verify", i, op, u.Checksum())
			}
		}
	}
}

// TestUDPComputedZero drives a UDP checksum to the value that computes as
// zero: both the full computation and the incremental update must send
// 0xffff (RFC 768), and a TCP checksum in the same spot stays 0x0000.
func TestUDPComputedZero(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for i := 0; i < 1000; i++ {
		b := randIP(r, header.ProtoUDP, header.UDPSize+r.Intn(20))
		ip := header.IPv4(b)
		src, dst := ip.SourceAddress(), ip.DestinationAddress()
		u := header.UDP(ip.Payload())
		u.Encode(randWord(r), randWord(r), uint16(len(ip.Payload())))
		u.SetChecksum(u.CalculateChecksum(src, dst))
		// The sum of everything but the source port (checksum field zero).
		old := u.SourcePort()
		binary.BigEndian.PutUint16(u[0:], 0)
		cs := u.Checksum()
		u.SetChecksum(0)
		rest := header.Checksum(u, header.PseudoHeaderChecksum(header.ProtoUDP, src, dst, u.Length()))
		binary.BigEndian.PutUint16(u[0:], old)
		u.SetChecksum(cs)
		// A port of ^rest makes the sum 0xffff, the checksum ^0xffff = 0.
		u.SetSourcePortWithChecksumUpdate(^rest)
		if u.Checksum() != 0xffff || u.CalculateChecksum(src, dst) != 0xffff {
			t.Fatalf("iteration %d: incremental %#04x, full %#04x, want 0xffff", i, u.Checksum(), u.CalculateChecksum(src, dst))
		}
		if !u.IsChecksumValid(src, dst) {
			t.Fatalf("iteration %d: 0xffff does not verify", i)
		}
		// And back to a normal value.
		u.SetSourcePortWithChecksumUpdate(old)
		if u.Checksum() != u.CalculateChecksum(src, dst) {
			t.Fatalf("iteration %d: from 0xffff: incremental %#04x, full %#04x", i, u.Checksum(), u.CalculateChecksum(src, dst))
		}

		// TCP: the same construction yields 0x0000, which TCP sends as is.
		ip[9] = header.ProtoTCP
		ip.UpdateChecksum()
		tb := make([]byte, header.TCPMinSize+r.Intn(20))
		r.Read(tb)
		tc := header.TCP(tb)
		tc.Encode(&header.TCPFields{SrcPort: randWord(r), DstPort: randWord(r), Seq: r.Uint32()})
		tc.SetChecksum(tc.CalculateChecksum(src, dst))
		old = tc.SourcePort()
		cs = tc.Checksum()
		binary.BigEndian.PutUint16(tb[0:], 0)
		tc.SetChecksum(0)
		rest = header.Checksum(tb, header.PseudoHeaderChecksum(header.ProtoTCP, src, dst, uint16(len(tb))))
		binary.BigEndian.PutUint16(tb[0:], old)
		tc.SetChecksum(cs)
		tc.SetSourcePortWithChecksumUpdate(^rest)
		if tc.Checksum() != 0 || tc.CalculateChecksum(src, dst) != 0 || !tc.IsChecksumValid(src, dst) {
			t.Fatalf("iteration %d: TCP incremental %#04x, full %#04x, want 0", i, tc.Checksum(), tc.CalculateChecksum(src, dst))
		}
	}
}

func TestIncrementalICMP(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	for i := 0; i < 20000; i++ {
		m := header.ICMPv4(randBytes(r, header.ICMPv4Size+r.Intn(60)))
		m.Encode(header.ICMPEcho, 0, r.Uint32())
		m.SetChecksum(m.CalculateChecksum())
		for j := 0; j < 4; j++ {
			op := r.Intn(2)
			switch op {
			case 0:
				id := randWord(r)
				m.SetIdentWithChecksumUpdate(id)
				if m.Ident() != id {
					t.Fatalf("Ident = %d, want %d", m.Ident(), id)
				}
			case 1:
				typ := []uint8{header.ICMPEcho, header.ICMPEchoReply}[r.Intn(2)]
				m.SetType(typ)
				if m.Type() != typ {
					t.Fatalf("Type = %d, want %d", m.Type(), typ)
				}
			}
			if got, want := m.Checksum(), m.CalculateChecksum(); got != want {
				t.Fatalf("iteration %d op %d: incremental %#04x, recomputed %#04x", i, op, got, want)
			}
			if !m.IsChecksumValid() {
				t.Fatalf("iteration %d op %d: does not verify", i, op)
			}
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	buf := make([]byte, 1500)
	rand.New(rand.NewSource(1)).Read(buf)
	for _, n := range []int{20, 40, 1500} {
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			var s uint16
			for b.Loop() {
				s += header.Checksum(buf[:n], 0)
			}
			sink16 = s
		})
	}
}

func BenchmarkIncremental(b *testing.B) {
	pkt := randIP(rand.New(rand.NewSource(1)), header.ProtoTCP, header.TCPMinSize)
	ip := header.IPv4(pkt)
	tc := header.TCP(ip.Payload())
	tc.SetChecksum(tc.CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()))
	addrs := [2][4]byte{{10, 0, 0, 1}, {203, 0, 113, 7}}
	b.Run("update2", func(b *testing.B) {
		b.ReportAllocs()
		var c uint16 = 0x1234
		for i := 0; b.Loop(); i++ {
			c = header.ChecksumUpdate2(c, uint16(i), uint16(i+1))
		}
		sink16 = c
	})
	b.Run("ttl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ip.DecrementTTL()
		}
	})
	b.Run("snat", func(b *testing.B) { // address + port, IP and TCP checksums
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			old, a := ip.SourceAddress(), addrs[i&1]
			ip.SetSourceAddressWithChecksumUpdate(a)
			tc.UpdateChecksumPseudoAddress(old, a)
			tc.SetSourcePortWithChecksumUpdate(uint16(i))
		}
	})
}

var sink16 uint16

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

// FuzzChecksum compares the unrolled checksum and the IPv4 header sum with
// the reference.
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0xff}, uint16(0xffff))
	f.Add(make([]byte, 61), uint16(1))
	f.Add(mustHex("4500 001c 0001 0000 4011 6ccc 0a00 0001 0a00 0002"), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		if got, want := header.Checksum(b, init), refChecksum(b, init); got != want {
			t.Fatalf("Checksum = %#04x, want %#04x", got, want)
		}
		if len(b) >= 20 {
			hl := min(len(b), 60) &^ 3
			if got, want := header.IPv4HeaderSum(b, hl), refChecksum(b[:hl], 0); got != want {
				t.Fatalf("ipv4HeaderSum(%d) = %#04x, want %#04x", hl, got, want)
			}
			if b[0]>>4 == 4 { // a non-zero sum, as Validate guarantees
				if got, want := header.IPv4HeaderOK(b, hl), refChecksum(b[:hl], 0) == 0xffff; got != want {
					t.Fatalf("ipv4HeaderChecksumOK(%d) = %v, want %v", hl, got, want)
				}
			}
		}
	})
}
