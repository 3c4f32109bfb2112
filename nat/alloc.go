package nat

import "math/bits"

// portSet is the port space (or ICMP identifier space) of one external
// address for one protocol: which of the 65536 values a mapping holds.
//
// Layout: a bitmap of used ports (bit p%64 of word p/64) and, above it, two
// summary bitmaps with one bit per word: "this word has a free even port"
// and "this word has a free odd port". A search for a free port of a given
// parity in [lo, hi] looks at the two edge words directly and finds the
// first suitable word between them through the summary (at most 16
// summary words), so it costs O(1) however full the space is; with 60 000
// of the 64 512 ports above 1023 taken a pick is a few word operations.
type portSet struct {
	used    [1024]uint64
	hasEven [16]uint64 // bit w: word w has a free even port
	hasOdd  [16]uint64 // bit w: word w has a free odd port
	n       int        // ports taken
	cursor  uint16     // where the next sequential search starts
}

const (
	evenMask uint64 = 0x5555555555555555 // bit i <-> port 64w+i; even i is an even port
	oddMask  uint64 = 0xaaaaaaaaaaaaaaaa
)

// parity selects which ports a search accepts.
type parity uint8

const (
	anyParity parity = iota
	evenParity
	oddParity
)

func parityOf(p uint16) parity {
	if p&1 == 0 {
		return evenParity
	}
	return oddParity
}

func (pm parity) mask() uint64 {
	switch pm {
	case evenParity:
		return evenMask
	case oddParity:
		return oddMask
	}
	return ^uint64(0)
}

func newPortSet() *portSet {
	s := &portSet{}
	for i := range s.hasEven {
		s.hasEven[i] = ^uint64(0)
		s.hasOdd[i] = ^uint64(0)
	}
	return s
}

// taken reports whether port p is held.
func (s *portSet) taken(p uint16) bool { return s.used[p>>6]&(1<<(p&63)) != 0 }

// take marks p held.
func (s *portSet) take(p uint16) {
	w := p >> 6
	if s.used[w]&(1<<(p&63)) != 0 {
		return
	}
	s.used[w] |= 1 << (p & 63)
	s.n++
	s.summarise(w)
}

// release marks p free.
func (s *portSet) release(p uint16) {
	w := p >> 6
	if s.used[w]&(1<<(p&63)) == 0 {
		return
	}
	s.used[w] &^= 1 << (p & 63)
	s.n--
	s.summarise(w)
}

func (s *portSet) summarise(w uint16) {
	free := ^s.used[w]
	bit := uint64(1) << (w & 63)
	if free&evenMask != 0 {
		s.hasEven[w>>6] |= bit
	} else {
		s.hasEven[w>>6] &^= bit
	}
	if free&oddMask != 0 {
		s.hasOdd[w>>6] |= bit
	} else {
		s.hasOdd[w>>6] &^= bit
	}
}

// pick returns a free port in [lo, hi] of parity pm, searching upwards
// from start and wrapping to lo. ok is false when there is none.
func (s *portSet) pick(lo, hi, start uint16, pm parity) (uint16, bool) {
	if lo > hi {
		return 0, false
	}
	if start < lo || start > hi {
		start = lo
	}
	if p, ok := s.scan(start, hi, pm); ok {
		return p, true
	}
	if start > lo {
		return s.scan(lo, start-1, pm)
	}
	return 0, false
}

// scan returns the lowest free port of parity pm in [lo, hi] (lo <= hi).
func (s *portSet) scan(lo, hi uint16, pm parity) (uint16, bool) {
	m := pm.mask()
	wlo, whi := int(lo>>6), int(hi>>6)
	free := ^s.used[wlo] & m & (^uint64(0) << (lo & 63))
	if wlo == whi {
		free &= ^uint64(0) >> (63 - hi&63)
	}
	if free != 0 {
		return uint16(wlo<<6 + bits.TrailingZeros64(free)), true
	}
	if wlo == whi {
		return 0, false
	}
	if w := s.nextWord(wlo+1, whi-1, pm); w >= 0 {
		free = ^s.used[w] & m
		return uint16(w<<6 + bits.TrailingZeros64(free)), true
	}
	free = ^s.used[whi] & m & (^uint64(0) >> (63 - hi&63))
	if free != 0 {
		return uint16(whi<<6 + bits.TrailingZeros64(free)), true
	}
	return 0, false
}

// nextWord returns the first word index in [a, b] with a free port of
// parity pm, or -1.
func (s *portSet) nextWord(a, b int, pm parity) int {
	if a > b {
		return -1
	}
	for sw := a >> 6; sw <= b>>6; sw++ {
		var sum uint64
		switch pm {
		case evenParity:
			sum = s.hasEven[sw]
		case oddParity:
			sum = s.hasOdd[sw]
		default:
			sum = s.hasEven[sw] | s.hasOdd[sw]
		}
		if sw == a>>6 {
			sum &= ^uint64(0) << (a & 63)
		}
		if sw == b>>6 {
			sum &= ^uint64(0) >> (63 - b&63)
		}
		if sum != 0 {
			return sw<<6 + bits.TrailingZeros64(sum)
		}
	}
	return -1
}

// portRange returns the range a new port for an internal port p is taken
// from: the configured [lo, hi], split at 1024 so that a port below 1024
// maps below 1024 and one above maps above (RFC 4787 REQ-3 b, as Linux's
// nf_nat_l4proto_unique_tuple does). When the side of the split holding
// p is empty, the whole range is used.
func portRange(lo, hi, p uint16) (uint16, uint16) {
	if p < 1024 {
		if lo < 1024 {
			return lo, min(hi, 1023)
		}
		return lo, hi
	}
	if hi >= 1024 {
		return max(lo, 1024), hi
	}
	return lo, hi
}
