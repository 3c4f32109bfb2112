package nat

import (
	"math/rand/v2"
	"testing"
)

// naivePick is the reference: a linear walk from start, wrapping to lo.
func naivePick(s *portSet, lo, hi, start uint16, pm parity) (uint16, bool) {
	if start < lo || start > hi {
		start = lo
	}
	ok := func(p int) bool {
		if s.taken(uint16(p)) {
			return false
		}
		switch pm {
		case evenParity:
			return p%2 == 0
		case oddParity:
			return p%2 == 1
		}
		return true
	}
	for p := int(start); p <= int(hi); p++ {
		if ok(p) {
			return uint16(p), true
		}
	}
	for p := int(lo); p < int(start); p++ {
		if ok(p) {
			return uint16(p), true
		}
	}
	return 0, false
}

func TestPortSetPick(t *testing.T) {
	for _, c := range []struct {
		name          string
		taken         [][2]uint16 // inclusive runs
		lo, hi, start uint16
		pm            parity
		want          uint16
		ok            bool
	}{
		{name: "empty set, start", lo: 1024, hi: 65535, start: 40000, pm: anyParity, want: 40000, ok: true},
		{name: "start below range", lo: 1024, hi: 65535, start: 5, pm: anyParity, want: 1024, ok: true},
		{name: "parity even", lo: 1024, hi: 65535, start: 40001, pm: evenParity, want: 40002, ok: true},
		{name: "parity odd", lo: 1024, hi: 65535, start: 40000, pm: oddParity, want: 40001, ok: true},
		{name: "skip a taken run across words", taken: [][2]uint16{{40000, 40300}}, lo: 1024, hi: 65535, start: 40000, pm: anyParity, want: 40301, ok: true},
		{name: "wrap to lo", taken: [][2]uint16{{60000, 65535}}, lo: 1024, hi: 65535, start: 61000, pm: anyParity, want: 1024, ok: true},
		{name: "wrap past taken low ports", taken: [][2]uint16{{60000, 65535}, {1024, 2047}}, lo: 1024, hi: 65535, start: 61000, pm: evenParity, want: 2048, ok: true},
		{name: "range of 10 full", taken: [][2]uint16{{20000, 20009}}, lo: 20000, hi: 20009, start: 20003, pm: anyParity, ok: false},
		{name: "only odd left", taken: [][2]uint16{{20000, 20008}}, lo: 20000, hi: 20009, start: 20000, pm: evenParity, ok: false},
		{name: "one port range", lo: 80, hi: 80, start: 80, pm: anyParity, want: 80, ok: true},
		{name: "top port", taken: [][2]uint16{{1024, 65534}}, lo: 1024, hi: 65535, start: 1024, pm: anyParity, want: 65535, ok: true},
		{name: "low range", taken: [][2]uint16{{1, 600}}, lo: 1, hi: 1023, start: 1, pm: evenParity, want: 602, ok: true},
		{name: "lo above hi", lo: 10, hi: 9, start: 10, pm: anyParity, ok: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newPortSet()
			for _, r := range c.taken {
				for p := int(r[0]); p <= int(r[1]); p++ {
					s.take(uint16(p))
				}
			}
			got, ok := s.pick(c.lo, c.hi, c.start, c.pm)
			if ok != c.ok || (ok && got != c.want) {
				t.Errorf("pick = %d, %v; want %d, %v", got, ok, c.want, c.ok)
			}
			ng, nok := naivePick(s, c.lo, c.hi, c.start, c.pm)
			if ng != got || nok != ok {
				t.Errorf("naive pick = %d, %v; fast %d, %v", ng, nok, got, ok)
			}
		})
	}
}

// The summary-bitmap search agrees with a linear walk on random sets at
// every fill level, for random ranges, starts and parities.
func TestPortSetPickMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, fill := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		s := newPortSet()
		for p := 0; p < 65536; p++ {
			if rng.Float64() < fill {
				s.take(uint16(p))
			}
		}
		for i := 0; i < 3000; i++ {
			lo := uint16(rng.IntN(65536))
			hi := lo + uint16(rng.IntN(65536-int(lo)))
			if rng.IntN(4) == 0 {
				hi = lo + uint16(rng.IntN(min(200, 65536-int(lo))))
			}
			start := uint16(rng.IntN(65536))
			pm := parity(rng.IntN(3))
			got, ok := s.pick(lo, hi, start, pm)
			ng, nok := naivePick(s, lo, hi, start, pm)
			if got != ng || ok != nok {
				t.Fatalf("fill %v [%d,%d] start %d parity %d: fast %d,%v naive %d,%v", fill, lo, hi, start, pm, got, ok, ng, nok)
			}
		}
		// Releasing and taking keeps the summaries right.
		for i := 0; i < 2000; i++ {
			p := uint16(rng.IntN(65536))
			if s.taken(p) {
				s.release(p)
			} else {
				s.take(p)
			}
		}
		for w := 0; w < 1024; w++ {
			free := ^s.used[w]
			if (free&evenMask != 0) != (s.hasEven[w>>6]&(1<<(w&63)) != 0) ||
				(free&oddMask != 0) != (s.hasOdd[w>>6]&(1<<(w&63)) != 0) {
				t.Fatalf("summary of word %d wrong", w)
			}
		}
	}
}

// With 60 000 of the 64 512 ports above 1023 taken, every pick finds a
// right port; the search is bounded by the summary (O(1)): it never looks
// at more than the two edge words, one summary pass and one word.
func TestPortSetNinetyPercentFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := newPortSet()
	perm := rng.Perm(64512)
	for _, i := range perm[:60000] {
		s.take(uint16(1024 + i))
	}
	if s.n != 60000 {
		t.Fatalf("n = %d", s.n)
	}
	for i := 0; i < 4000; i++ {
		start := uint16(1024 + rng.IntN(64512))
		pm := parity(1 + rng.IntN(2))
		p, ok := s.pick(1024, 65535, start, pm)
		if !ok {
			t.Fatalf("no port found with %d free", 64512-s.n)
		}
		if s.taken(p) || p < 1024 || (pm == evenParity) != (p%2 == 0) {
			t.Fatalf("bad pick %d", p)
		}
		s.take(p)
	}
	// All taken now but 512: still found.
	for s.n < 64512 {
		if _, ok := s.pick(1024, 65535, 1024, anyParity); !ok {
			t.Fatalf("no port found with %d free", 64512-s.n)
		}
		p, _ := s.pick(1024, 65535, uint16(1024+rng.IntN(64512)), anyParity)
		s.take(p)
	}
	if _, ok := s.pick(1024, 65535, 30000, anyParity); ok {
		t.Fatalf("a port found in a full range")
	}
}

func TestPortRange(t *testing.T) {
	for _, c := range []struct {
		name      string
		lo, hi, p uint16
		wlo, whi  uint16
	}{
		{"default, high port", 1, 65535, 40000, 1024, 65535},
		{"default, low port", 1, 65535, 500, 1, 1023},
		{"high range, low port", 20000, 20009, 500, 20000, 20009},
		{"low range, high port", 100, 200, 40000, 100, 200},
		{"straddling, high", 1000, 1100, 40000, 1024, 1100},
		{"straddling, low", 1000, 1100, 22, 1000, 1023},
	} {
		t.Run(c.name, func(t *testing.T) {
			lo, hi := portRange(c.lo, c.hi, c.p)
			if lo != c.wlo || hi != c.whi {
				t.Errorf("portRange(%d, %d, %d) = %d-%d, want %d-%d", c.lo, c.hi, c.p, lo, hi, c.wlo, c.whi)
			}
		})
	}
}

func BenchmarkPortSetPick90PercentFull(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := newPortSet()
	for _, i := range rng.Perm(64512)[:58061] {
		s.take(uint16(1024 + i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, _ := s.pick(1024, 65535, s.cursor, parity(1+i&1))
		s.take(p)
		s.release(p)
		s.cursor = p + 7919
	}
}
