package nat

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// udpDatagram builds a UDP datagram with a valid checksum.
func udpDatagram(src, dst [4]byte, sp, dp uint16, payload string) []byte {
	b := make([]byte, 28+len(payload))
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtoUDP, Src: src, Dst: dst})
	u := header.UDP(b[20:])
	u.Encode(sp, dp, uint16(8+len(payload)))
	copy(b[28:], payload)
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return b
}

// tcpSegment builds a TCP segment with a valid checksum.
func tcpSegment(src, dst [4]byte, sp, dp uint16, payload string) []byte {
	b := make([]byte, 40+len(payload))
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtoTCP, Src: src, Dst: dst})
	t := header.TCP(b[20:])
	t.Encode(&header.TCPFields{SrcPort: sp, DstPort: dp, Seq: 1, Ack: 2, DataOffset: 20, Flags: 0x10, Window: 1000})
	copy(b[40:], payload)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b
}

// addrs returns a source of random addresses.
func addrs(rng *rand.Rand) func() [4]byte {
	return func() [4]byte {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		return a
	}
}

// randomSegment is the i-th random test packet: UDP for even i (every
// fourth of those without a checksum), TCP for odd i.
func randomSegment(rng *rand.Rand, i int) []byte {
	r4 := addrs(rng)
	if i%2 == 0 {
		b := udpDatagram(r4(), r4(), uint16(rng.Uint32()), uint16(rng.Uint32()), "payload-"+string(rune('a'+i%26)))
		if i%8 == 0 {
			header.UDP(b[20:]).SetChecksum(0)
		}
		return b
	}
	return tcpSegment(r4(), r4(), uint16(rng.Uint32()), uint16(rng.Uint32()), "data")
}

// setEndFast gives what the header setters give.
func TestSetEndFastMatchesSetters(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	r4 := addrs(rng)
	for i := 0; i < 20000; i++ {
		udp := i%2 == 0
		src := i%4 < 2
		b := randomSegment(rng, i)
		a, port := r4(), uint16(rng.Uint32())
		if i%16 == 1 {
			a = header.IPv4(b).SourceAddress() // port only
		}
		fast := append([]byte(nil), b...)
		slow := append([]byte(nil), b...)
		setEndFast(fast, 20, udp, src, a, port)
		proto := packet.TCP
		if udp {
			proto = packet.UDP
		}
		if src {
			setSource(slow, 20, proto, a, port, true)
		} else {
			setDestination(slow, 20, proto, a, port, true)
		}
		ip := header.IPv4(fast)
		if ip.CalculateChecksum() != ip.Checksum() {
			t.Fatalf("case %d: IP checksum wrong", i)
		}
		ok := true
		if udp {
			ok = header.UDP(fast[20:]).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress())
			if header.UDP(b[20:]).Checksum() == 0 && header.UDP(fast[20:]).Checksum() != 0 {
				t.Fatalf("case %d: zero UDP checksum became non-zero", i)
			}
		} else {
			ok = header.TCP(fast[20:]).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress())
		}
		if !ok {
			t.Fatalf("case %d: transport checksum wrong", i)
		}
		for j := range fast {
			if fast[j] != slow[j] && !sameChecksum(fast, slow, j, udp) {
				t.Fatalf("case %d: byte %d differs: fast %x slow %x", i, j, fast, slow)
			}
		}
	}
}

// sameChecksum allows the checksum fields to differ only as +0/-0.
func sameChecksum(a, b []byte, j int, udp bool) bool {
	off := 20 + 16
	if udp {
		off = 20 + 6
	}
	for _, o := range []int{10, off} {
		if j == o || j == o+1 {
			x, y := binary.BigEndian.Uint16(a[o:]), binary.BigEndian.Uint16(b[o:])
			return x^y == 0xffff && (x == 0 || y == 0)
		}
	}
	return false
}

// newConn tracks the first packet of a UDP flow and returns its
// unconfirmed connection.
func newConn(tb testing.TB, ct *conntrack.Table, pkt *packet.Packet, b []byte) *conntrack.Conn {
	pkt.Reset()
	pkt.Load(b)
	if pkt.Parsed.Decode(pkt.Data) == 0 {
		tb.Fatal("bad datagram")
	}
	ct.Track(pkt)
	c, ok := pkt.CT.(*conntrack.Conn)
	if !ok || c.Confirmed() {
		tb.Fatalf("no new connection")
	}
	return c
}

// BenchmarkNewBinding90PercentFull is the cost of a new source NAT
// binding (mapping lookup, port search, conntrack clash check, mapping
// made) on an external address whose port range above 1023 is 90 % taken,
// for internal ports that are all taken already (no preservation).
func BenchmarkNewBinding90PercentFull(b *testing.B) {
	clock := pipeline.NewVirtual(time.Unix(1_700_000_000, 0))
	ct := conntrack.NewTable(conntrack.NewConfig(nil), clock)
	st := NewState(ct, Options{Seed: 1})
	defer st.Close()
	ext := [4]byte{203, 0, 113, 2}
	ps := newPortSet()
	st.pools[poolKey{ext, header.ProtoUDP}] = ps
	rng := rand.New(rand.NewPCG(1, 1))
	var taken []uint16
	for _, i := range rng.Perm(64512)[:58061] {
		p := uint16(1024 + i)
		ps.take(p)
		taken = append(taken, p)
	}
	const batch = 1024
	pkts := make([]*packet.Packet, batch)
	conns := make([]*conntrack.Conn, batch)
	dgrams := make([][]byte, batch)
	for j := range pkts {
		pkts[j] = packet.New(nil)
	}
	var made []*mapping
	seq := uint32(0)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		for _, m := range made {
			st.freeLocked(m)
		}
		made = made[:0]
		for j := range pkts {
			seq++
			src := [4]byte{10, byte(seq >> 16), byte(seq >> 8), byte(seq)}
			dgrams[j] = udpDatagram(src, [4]byte{198, 51, 100, 20}, taken[rng.IntN(len(taken))], 53, "q")
			conns[j] = newConn(b, ct, pkts[j], dgrams[j])
		}
		b.StartTimer()
		for j := 0; j < batch; j++ {
			if st.bindSource(conns[j], ext, ext, 0, 0, false, 0, clock.Now()) != bound {
				b.Fatal("not bound")
			}
		}
		b.StopTimer()
		for j := range conns {
			o := conns[j].Original()
			made = append(made, st.mappings[mapKey{intAddr: o.Src, intPort: o.SrcPort, lo: ext, hi: ext, proto: header.ProtoUDP}])
		}
		b.StartTimer()
	}
	b.StopTimer()
	if f := float64(ps.n) / 64512; f < 0.89 {
		b.Fatalf("range only %.2f full", f)
	}
}

// TestRewriteForward: the flowtable's one-pass rewrite (RewriteWith,
// with the checksum updates ForwardDeltas computes) gives the bytes
// that translating the destination, then the source, then decrementing
// the TTL give (checksums up to +0/-0), on random TCP and UDP packets,
// with and without a UDP checksum, with and without a change of port or
// address.
func TestRewriteForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	r4 := addrs(rng)
	for i := 0; i < 20000; i++ {
		udp := i%2 == 0
		b := randomSegment(rng, i)
		header.IPv4(b).SetTTL(uint8(2 + rng.IntN(250)))
		ip := header.IPv4(b)
		other := conntrack.Tuple{Src: r4(), Dst: r4(), SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32())}
		switch i % 5 {
		case 1: // SNAT only: the destination stays
			other.Src = ip.DestinationAddress()
			other.SrcPort = binary.BigEndian.Uint16(b[22:])
		case 2: // DNAT only
			other.Dst = ip.SourceAddress()
			other.DstPort = binary.BigEndian.Uint16(b[20:])
		case 3: // nothing changes but the TTL
			other.Src, other.Dst = ip.DestinationAddress(), ip.SourceAddress()
			other.SrcPort, other.DstPort = binary.BigEndian.Uint16(b[22:]), binary.BigEndian.Uint16(b[20:])
		}
		fast, slow := packet.New(b), packet.New(b)
		fast.Parsed.Decode(fast.Data)
		slow.Parsed.Decode(slow.Data)
		to := conntrack.Tuple{Src: other.Dst, Dst: other.Src, SrcPort: other.DstPort, DstPort: other.SrcPort}
		p := &fast.Parsed
		ipd, l4d := ForwardDeltas(&conntrack.Tuple{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}, &to)
		RewriteWith(fast, &to, ipd, l4d)
		translateDst(slow, &other)
		translateSrc(slow, &other)
		slow.IP().DecrementTTL()
		slow.Parsed.TTL--
		fip := fast.IP()
		if fip.CalculateChecksum() != fip.Checksum() {
			t.Fatalf("case %d: IP checksum wrong", i)
		}
		ok := true
		if udp {
			ok = header.UDP(fast.Data[20:]).IsChecksumValid(fip.SourceAddress(), fip.DestinationAddress())
		} else {
			ok = header.TCP(fast.Data[20:]).IsChecksumValid(fip.SourceAddress(), fip.DestinationAddress())
		}
		if !ok {
			t.Fatalf("case %d: transport checksum wrong", i)
		}
		for j := range fast.Data {
			if fast.Data[j] != slow.Data[j] && !sameChecksum(fast.Data, slow.Data, j, udp) {
				t.Fatalf("case %d: byte %d differs:\nfast %x\nslow %x", i, j, fast.Data, slow.Data)
			}
		}
		if fast.Parsed != slow.Parsed {
			t.Fatalf("case %d: Parsed differs:\nfast %+v\nslow %+v", i, fast.Parsed, slow.Parsed)
		}
	}
}
