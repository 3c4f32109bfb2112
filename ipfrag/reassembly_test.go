package ipfrag

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
)

var (
	tSrc = [4]byte{198, 51, 100, 7}
	tDst = [4]byte{203, 0, 113, 9}
)

// mkFrag builds a fragment of datagram id: a 20-byte header (protocol
// ICMP, TTL 64) and data at byte offset off, MF as given.
func mkFrag(id uint16, off int, mf bool, data []byte) []byte {
	b := make([]byte, 20+len(data))
	fl := uint16(off / 8)
	if mf {
		fl |= header.IPv4FlagMF
	}
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), ID: id, Flags: fl, TTL: 64,
		Protocol: header.ProtoICMP, Src: tSrc, Dst: tDst,
	})
	copy(b[20:], data)
	return b
}

func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// add feeds one fragment at time now and returns what Add said and, when
// done, the datagram.
func add(r *Reassembler, now int64, frag []byte) (Status, packet.DropReason, []byte, int) {
	out := make([]byte, 65536)
	n, mx, st, why := r.Add(now, frag, 0, out)
	return st, why, out[:n], mx
}

// checkWhole verifies a reassembled datagram's header against its first
// fragment's.
func checkWhole(t *testing.T, got []byte, payloadLen int) {
	t.Helper()
	ip := header.IPv4(got)
	if r := ip.Validate(); r != header.ReasonNone {
		t.Fatalf("reassembled datagram invalid: %v", r)
	}
	if int(ip.TotalLength()) != 20+payloadLen || len(got) != 20+payloadLen {
		t.Fatalf("length %d/%d, want %d", ip.TotalLength(), len(got), 20+payloadLen)
	}
	if ip.IsFragment() {
		t.Fatalf("still a fragment: %#x", ip.FlagsFragmentOffset())
	}
}

// novak is the Sturges/Novak overlap pattern of Suricata's defrag tests:
// nine original fragments, then seven that overlap them, then the last.
var novak = []struct {
	c   byte
	off int
	n   int
	mf  bool
}{
	{'A', 0, 24, true}, {'B', 32, 16, true}, {'C', 48, 24, true}, {'D', 80, 8, true},
	{'E', 104, 16, true}, {'F', 120, 24, true}, {'G', 144, 16, true}, {'H', 160, 16, true},
	{'I', 176, 8, true},
	{'J', 8, 32, true}, {'K', 48, 24, true}, {'L', 72, 24, true}, {'M', 96, 24, true},
	{'N', 128, 8, true}, {'O', 152, 8, true}, {'P', 160, 8, true},
	{'Q', 176, 16, false},
}

func TestNovakPolicies(t *testing.T) {
	// Expected bytes per policy, one letter per 8-byte block (Suricata's
	// DefragSturgesNovak*Test).
	tests := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"bsd", PolicyBSD, "AAAJJBCCCLLLMMMFFFGGHHIQ"},
		{"linux", PolicyLinux, "AAAJJBKKKLLLMMMFFFGGPHQQ"},
		{"windows", PolicyWindows, "AAAJBBCCCLLLMEEFFFGGHHIQ"},
		{"solaris", PolicySolaris, "AAAJBBCCCLLLMMMFFFGGHHIQ"},
		{"first", PolicyFirst, "AAAJBBCCCLDLMEEFFFGGHHIQ"},
		{"last", PolicyLast, "AJJJJBKKKLLLMMMFNFGOPHQQ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{Policy: tc.policy})
			for i, f := range novak {
				st, why, got, _ := add(r, 0, mkFrag(1, f.off, f.mf, fill(f.c, f.n)))
				if i < len(novak)-1 {
					if st != Held && st != Duplicate {
						t.Fatalf("fragment %c: %v %v", f.c, st, why)
					}
					continue
				}
				if st != Done {
					t.Fatalf("last fragment: %v %v", st, why)
				}
				checkWhole(t, got, 192)
				var want []byte
				for _, c := range tc.want {
					want = append(want, fill(byte(c), 8)...)
				}
				if !bytes.Equal(got[20:], want) {
					t.Fatalf("got  %s\nwant %s", blocks(got[20:]), tc.want)
				}
			}
			if r.Queues() != 0 || r.Counter.Overlaps.Load() == 0 {
				t.Fatalf("queues %d overlaps %d", r.Queues(), r.Counter.Overlaps.Load())
			}
		})
	}
	t.Run("drop", func(t *testing.T) {
		r := New(Config{Policy: PolicyDrop})
		for _, f := range novak[:9] {
			if st, why, _, _ := add(r, 0, mkFrag(1, f.off, f.mf, fill(f.c, f.n))); st != Held {
				t.Fatalf("fragment %c: %v %v", f.c, st, why)
			}
		}
		// J partly overlaps A and B: the whole datagram goes.
		st, why, _, _ := add(r, 0, mkFrag(1, 8, true, fill('J', 32)))
		if st != Dropped || why != packet.DropFragOverlap {
			t.Fatalf("J: %v %v", st, why)
		}
		if r.Queues() != 0 || r.Drops()[packet.DropFragOverlap] != 9 {
			t.Fatalf("queues %d, held drops %d", r.Queues(), r.Drops()[packet.DropFragOverlap])
		}
	})
}

// blocks renders data as one character per 8-byte block ('?' when mixed).
func blocks(b []byte) string {
	var s strings.Builder
	for i := 0; i+8 <= len(b); i += 8 {
		c := b[i]
		if !bytes.Equal(b[i:i+8], fill(c, 8)) {
			c = '?'
		}
		s.WriteByte(c)
	}
	return s.String()
}

func TestDropPolicyDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		frags [][3]int // off, len, mf
		want  []Status
		why   packet.DropReason
	}{
		{"exact duplicate kept out", [][3]int{{0, 16, 1}, {0, 16, 1}, {16, 8, 0}}, []Status{Held, Duplicate, Done}, 0},
		{"inside a run of two", [][3]int{{0, 16, 1}, {16, 16, 1}, {8, 16, 1}, {32, 8, 0}}, []Status{Held, Held, Duplicate, Done}, 0},
		{"partial overlap kills", [][3]int{{0, 16, 1}, {8, 16, 1}}, []Status{Held, Dropped}, packet.DropFragOverlap},
		{"spanning a hole kills", [][3]int{{0, 8, 1}, {16, 8, 1}, {0, 24, 1}}, []Status{Held, Held, Dropped}, packet.DropFragOverlap},
		{"duplicate last", [][3]int{{16, 8, 0}, {16, 8, 0}, {0, 16, 1}}, []Status{Held, Duplicate, Done}, 0},
		{"second last disagrees", [][3]int{{16, 8, 0}, {16, 16, 0}}, []Status{Held, Dropped}, packet.DropFragBadLength},
		{"data beyond the last", [][3]int{{16, 8, 0}, {24, 8, 1}}, []Status{Held, Dropped}, packet.DropFragBadLength},
		{"last before held data", [][3]int{{24, 8, 1}, {8, 8, 0}}, []Status{Held, Dropped}, packet.DropFragBadLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			for i, f := range tc.frags {
				data := make([]byte, f[1])
				for j := range data {
					data[j] = byte(f[0] + j)
				}
				st, why, got, _ := add(r, 0, mkFrag(7, f[0], f[2] == 1, data))
				if st != tc.want[i] {
					t.Fatalf("fragment %d: %v %v, want %v", i, st, why, tc.want[i])
				}
				if st == Dropped && why != tc.why {
					t.Fatalf("reason %v, want %v", why, tc.why)
				}
				if st == Done {
					for j, c := range got[20:] {
						if c != byte(j) {
							t.Fatalf("byte %d = %d", j, c)
						}
					}
				}
			}
		})
	}
}

func TestBadFragments(t *testing.T) {
	tests := []struct {
		name string
		frag []byte
		why  packet.DropReason
	}{
		{"zero length", mkFrag(1, 8, true, nil), packet.DropFragBadLength},
		{"zero length last", mkFrag(1, 8, false, nil), packet.DropFragBadLength},
		{"MF not a multiple of 8", mkFrag(1, 0, true, fill('x', 18)), packet.DropFragBadLength},
		{"past 65535", mkFrag(1, 65528, false, fill('x', 16)), packet.DropFragTooBig},
		{"truncated", mkFrag(1, 0, true, fill('x', 8))[:12], packet.DropTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			st, why, _, _ := add(r, 0, tc.frag)
			if st != Dropped || why != tc.why {
				t.Fatalf("%v %v, want dropped %v", st, why, tc.why)
			}
			if r.Queues() != 0 || r.Memory() != 0 {
				t.Fatalf("state kept: %d queues, %d bytes", r.Queues(), r.Memory())
			}
		})
	}
	t.Run("last fragment at the very end is fine", func(t *testing.T) {
		r := New(Config{})
		// 20 + 65512 + 3 = 65535.
		if st, why, _, _ := add(r, 0, mkFrag(1, 65512, false, fill('x', 3))); st != Held {
			t.Fatalf("%v %v", st, why)
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		r := New(Config{MaxFrags: 4})
		for i := 0; i < 4; i++ {
			if st, why, _, _ := add(r, 0, mkFrag(1, i*8, true, fill('x', 8))); st != Held {
				t.Fatalf("fragment %d: %v %v", i, st, why)
			}
		}
		st, why, _, _ := add(r, 0, mkFrag(1, 32, false, fill('x', 8)))
		if st != Dropped || why != packet.DropFragTooMany || r.Drops()[packet.DropFragTooMany] != 4 || r.Queues() != 0 {
			t.Fatalf("%v %v drops %v", st, why, r.Drops()[packet.DropFragTooMany])
		}
	})
	t.Run("too big once whole", func(t *testing.T) {
		r := New(Config{})
		// A first fragment with 40 bytes of options: 60 + 65512 + 3 > 65535.
		first := make([]byte, 60+8)
		opts := fill(header.IPv4OptNOP, 40)
		header.IPv4(first).Encode(&header.IPv4Fields{TotalLength: 68, ID: 1, Flags: header.IPv4FlagMF,
			TTL: 64, Protocol: 1, Src: tSrc, Dst: tDst, Options: opts})
		add(r, 0, first)
		for off := 8; off < 65512; off += 8192 {
			n := 8192
			if off+n > 65512 {
				n = 65512 - off
			}
			add(r, 0, mkFrag(1, off, true, fill('y', n)))
		}
		st, why, _, _ := add(r, 0, mkFrag(1, 65512, false, fill('z', 3)))
		if st != Dropped || why != packet.DropFragTooBig {
			t.Fatalf("%v %v", st, why)
		}
	})
}

// split cuts payload into fragments of datagram id at 8-byte multiples of
// size (the last may be shorter).
func split(id uint16, payload []byte, size int) [][]byte {
	var fr [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		fr = append(fr, mkFrag(id, off, end < len(payload), payload[off:end]))
	}
	return fr
}

func TestOrders(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	payload := make([]byte, 4000)
	rng.Read(payload)
	frags := split(9, payload, 8*37)
	tests := []struct {
		name  string
		order func([][]byte) [][]byte
	}{
		{"in order", func(f [][]byte) [][]byte { return f }},
		{"reverse", func(f [][]byte) [][]byte {
			o := append([][]byte(nil), f...)
			for i, j := 0, len(o)-1; i < j; i, j = i+1, j-1 {
				o[i], o[j] = o[j], o[i]
			}
			return o
		}},
		{"random", func(f [][]byte) [][]byte {
			o := append([][]byte(nil), f...)
			rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
			return o
		}},
		{"duplicates everywhere", func(f [][]byte) [][]byte {
			var o [][]byte
			for _, x := range f {
				o = append(o, x, x)
			}
			rng.Shuffle(len(o)-1, func(i, j int) { o[i], o[j] = o[j], o[i] })
			return o
		}},
	}
	for _, pol := range []Policy{PolicyDrop, PolicyFirst, PolicyLast, PolicyBSD, PolicyLinux, PolicyWindows, PolicySolaris} {
		for _, tc := range tests {
			t.Run(pol.String()+"/"+tc.name, func(t *testing.T) {
				r := New(Config{Policy: pol})
				order := tc.order(frags)
				done := 0
				for i, f := range order {
					st, why, got, mx := add(r, int64(i), f)
					switch st {
					case Done:
						done++
						checkWhole(t, got, len(payload))
						if !bytes.Equal(got[20:], payload) {
							t.Fatal("payload differs")
						}
						if mx != 20+8*37 {
							t.Fatalf("max fragment %d", mx)
						}
					case Dropped:
						t.Fatalf("fragment %d dropped: %v", i, why)
					}
				}
				// A datagram completes once; a duplicate arriving after
				// completion starts a new (incomplete) queue.
				if done != 1 {
					t.Fatalf("completed %d times", done)
				}
			})
		}
	}
}

func TestTimeout(t *testing.T) {
	local := func(a [4]byte) bool { return a == tDst }
	tests := []struct {
		name     string
		first    bool
		local    func([4]byte) bool
		wantICMP int
	}{
		{"first fragment, to fwd", true, local, 1},
		{"no first fragment, to fwd", false, local, 0},
		{"first fragment, in transit", true, func([4]byte) bool { return false }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{Timeout: 30 * time.Second, Local: tc.local})
			t0 := int64(1000 * time.Second)
			add(r, t0, mkFrag(5, 24, false, fill('c', 4)))
			if tc.first {
				add(r, t0+int64(time.Second), mkFrag(5, 0, true, fill('a', 16)))
			}
			if r.Expire(t0+int64(29*time.Second)) != 0 || r.Queues() != 1 {
				t.Fatal("expired early")
			}
			// The timer runs from the queue's creation, not the last fragment.
			if r.Expire(t0+int64(30*time.Second)) != 1 || r.Queues() != 0 || r.Memory() != 0 {
				t.Fatalf("not expired: %d queues, %d bytes", r.Queues(), r.Memory())
			}
			held := uint64(1)
			if tc.first {
				held = 2
			}
			if got := r.Drops()[packet.DropFragTimeout]; got != held {
				t.Fatalf("timeout drops %d want %d", got, held)
			}
			var ex [maxPending]Expired
			n := r.TakeExpired(ex[:])
			if n != tc.wantICMP {
				t.Fatalf("%d ICMP quotes, want %d", n, tc.wantICMP)
			}
			if n == 1 {
				q := ex[0].Data[:ex[0].Len]
				if ex[0].Len != 36 || !bytes.Equal(q[20:], fill('a', 16)) || header.IPv4(q).FragmentOffset() != 0 || !header.IPv4(q).More() {
					t.Fatalf("quote %x", q)
				}
			}
		})
	}
	t.Run("late fragment after expiry starts afresh", func(t *testing.T) {
		r := New(Config{Timeout: time.Second})
		add(r, 0, mkFrag(5, 0, true, fill('a', 16)))
		st, _, _, _ := add(r, int64(2*time.Second), mkFrag(5, 16, false, fill('b', 4)))
		if st != Held || r.Queues() != 1 || r.Drops()[packet.DropFragTimeout] != 1 {
			t.Fatalf("%v queues %d", st, r.Queues())
		}
	})
}

func TestMemoryBound(t *testing.T) {
	const high = 256 << 10
	r := New(Config{HighThresh: high, LowThresh: high / 2})
	rng := rand.New(rand.NewSource(2))
	completed := 0
	for i := 0; i < 20000; i++ {
		// An incomplete datagram: a first fragment and a far one.
		id := uint16(i)
		add(r, int64(i), mkFrag(id, 0, true, fill('x', 64)))
		add(r, int64(i), mkFrag(id, 8*rng.Intn(4000), true, fill('y', 8)))
		if m := r.Memory(); m > high {
			t.Fatalf("memory %d over %d after %d datagrams", m, high, i)
		}
		if i%100 == 0 {
			// A whole datagram still gets through.
			pl := fill(byte(i), 3000)
			var got []byte
			for _, f := range split(uint16(50000+i%1000), pl, 1480) {
				var st Status
				st, _, got, _ = add(r, int64(i), f)
				if st == Done {
					completed++
					if !bytes.Equal(got[20:], pl) {
						t.Fatal("payload differs")
					}
				}
			}
		}
	}
	if completed != 200 {
		t.Fatalf("%d of 200 whole datagrams passed", completed)
	}
	if r.Drops()[packet.DropFragMemory] == 0 || r.Counter.Evicted.Load() == 0 {
		t.Fatal("no evictions counted")
	}
}

func TestNoAllocs(t *testing.T) {
	r := New(Config{})
	pl := fill('p', 2900)
	two := split(1, pl, 1480)
	many := split(2, make([]byte, 45*64), 64)
	out := make([]byte, 65536)
	run := func(frags [][]byte) {
		for _, f := range frags {
			r.Add(0, f, 0, out)
		}
	}
	run(two)
	run(many)
	for _, tc := range []struct {
		name  string
		frags [][]byte
	}{{"2 fragments", two}, {"45 fragments", many}} {
		if a := testing.AllocsPerRun(200, func() { run(tc.frags) }); a != 0 {
			t.Errorf("%s: %v allocs per datagram", tc.name, a)
		}
	}
}

func BenchmarkReassemble(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
		size int
	}{{"2frags", 2, 1480}, {"45frags", 45, 1480}} {
		b.Run(tc.name, func(b *testing.B) {
			r := New(Config{})
			frags := split(1, make([]byte, tc.n*tc.size-tc.size/2), tc.size)
			if len(frags) != tc.n {
				b.Fatalf("%d fragments", len(frags))
			}
			out := make([]byte, 65536)
			b.ReportAllocs()
			b.SetBytes(int64(tc.n*tc.size - tc.size/2))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, f := range frags {
					r.Add(0, f, 0, out)
				}
			}
		})
	}
}

// TestConcurrent runs several workers against one reassembler, as the
// runners of a pipeline do, with expiry ticking alongside (run with -race).
func TestConcurrent(t *testing.T) {
	r := New(Config{HighThresh: 1 << 20, Timeout: time.Second})
	done := make(chan int)
	for w := 0; w < 4; w++ {
		go func(w int) {
			out := make([]byte, 65536)
			whole := 0
			for i := 0; i < 300; i++ {
				pl := fill(byte(w), 3000)
				for _, f := range split(uint16(w*1000+i), pl, 1480) {
					if _, _, st, _ := r.Add(int64(i), f, 0, out); st == Done {
						whole++
					}
				}
			}
			done <- whole
		}(w)
	}
	go func() {
		for i := 0; i < 100; i++ {
			r.Expire(int64(i))
			r.Memory()
		}
		done <- -1
	}()
	total := 0
	for i := 0; i < 5; i++ {
		if n := <-done; n > 0 {
			total += n
		}
	}
	if total != 1200 || r.Queues() != 0 {
		t.Fatalf("%d datagrams, %d queues left", total, r.Queues())
	}
}
