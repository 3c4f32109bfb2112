package ipfrag

import (
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
)

// FuzzReassembly feeds random fragment streams to a small reassembler.
// The input is a policy byte, then records of 5 bytes each:
//
//	id&3 | mf<<2 | raw<<3 (raw: take the record as a raw header mutation)
//	offset in 8-byte units (times 8 when the high bit is set)
//	length in bytes (times 8 when the high bit is set)
//	a seed for the data bytes
//	clock step in 100 ms units
//
// Invariants: no panic; memory never above the high threshold; every
// datagram that comes out is a valid, unfragmented IPv4 datagram whose
// every payload byte some fragment of the same datagram carried at that
// offset.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 1, 0, 8, 'a', 0, 0, 1, 8, 'b', 0})                           // reverse pair, drop
	f.Add([]byte{3, 4, 0, 24, 'a', 0, 4, 1, 16, 'b', 1, 0, 2, 8, 'c', 0})        // bsd, overlap
	f.Add([]byte{2, 4, 0, 0x83, 'x', 0, 0, 0x82, 8, 'y', 200, 4, 0, 16, 'z', 0}) // last, expiry
	f.Add([]byte{5, 12, 0, 7, 'r', 0, 4, 0xff, 0xff, 'q', 0})                    // raw, huge offset
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		pol := Policy(in[0] % uint8(numPolicies))
		const high = 48 << 10
		r := New(Config{Policy: pol, HighThresh: high, MaxFrags: 16, Timeout: time.Second})
		type given struct {
			id   uint16
			off  int
			data []byte
		}
		var log []given
		now := int64(0)
		out := make([]byte, 65536)
		for rec := in[1:]; len(rec) >= 5; rec = rec[5:] {
			id := uint16(rec[0] & 3)
			mf := rec[0]&4 != 0
			off := int(rec[1] & 0x7f)
			if rec[1]&0x80 != 0 {
				off *= 8
			}
			off *= 8
			n := int(rec[2] & 0x7f)
			if rec[2]&0x80 != 0 {
				n *= 8
			}
			data := make([]byte, n)
			for j := range data {
				data[j] = rec[3] + byte(j*7)
			}
			frag := mkFrag(id, off, mf, data)
			if rec[0]&8 != 0 {
				// Raw: corrupt the header's flags/offset and length.
				frag[6] ^= rec[3]
				frag[2] = rec[4]
				header.IPv4(frag).UpdateChecksum()
			}
			now += int64(rec[4]) * int64(100*time.Millisecond)
			log = append(log, given{id, off, data})
			nn, mx, st, why := r.Add(now, frag, 0, out)
			if m := r.Memory(); m > high {
				t.Fatalf("memory %d over %d", m, high)
			}
			switch st {
			case Dropped:
				if why == packet.DropNone {
					t.Fatal("dropped without a reason")
				}
			case Done:
				w := header.IPv4(out[:nn])
				if w.Validate() != header.ReasonNone || w.IsFragment() || int(w.TotalLength()) != nn {
					t.Fatalf("bad datagram out: %x", out[:nn])
				}
				if mx <= 0 || mx > len(frag)+65535 {
					t.Fatalf("max fragment %d", mx)
				}
				for x, c := range w.Payload() {
					ok := false
					for _, g := range log {
						if g.id == w.ID() && g.off <= x && x < g.off+len(g.data) && g.data[x-g.off] == c {
							ok = true
							break
						}
					}
					if !ok {
						t.Fatalf("byte %d (%#x) of datagram %d came from no fragment", x, c, w.ID())
					}
				}
			}
		}
		r.Expire(now + int64(time.Hour))
		if r.Queues() != 0 || r.Memory() != 0 {
			t.Fatalf("after expiry: %d queues, %d bytes", r.Queues(), r.Memory())
		}
	})
}
