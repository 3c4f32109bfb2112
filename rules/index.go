package rules

import (
	"slices"
)

// run is a stretch of consecutive rules of one chain, [start, end). A run
// with an index shares one lookup on field among its rules; a run without
// one is walked rule by rule.
type run struct {
	start, end int
	field      Field
	idx        *index
}

// index maps a key (address or port) to the rules of a run whose index
// match accepts it, in rule order. The key space is cut into segments at
// every interval end; each segment has its list of candidate rules. A
// direct table on the key's top bits (bucket) narrows the segment search to
// a few entries, so a lookup costs about the same for 10 or 100 000 rules.
type index struct {
	shift  uint8    // bucket = key >> shift
	bucket []uint32 // first segment that may hold keys of each bucket; len buckets+1
	starts []uint32 // segment start keys, ascending, starts[0] == 0
	off    []uint32 // candidates of segment i: cands[off[i]:off[i+1]]
	cands  []int32  // rule indexes in the chain, ascending within a segment
}

// lookup returns the candidate rules for key k.
func (x *index) lookup(k uint32) []int32 {
	b := k >> x.shift
	lo, hi := int(x.bucket[b]), int(x.bucket[b+1])
	// The segment holding k is the last one in [lo, hi] starting at or
	// before k.
	for lo < hi {
		m := int(uint(lo+hi+1) >> 1)
		if x.starts[m] <= k {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return x.cands[x.off[lo]:x.off[lo+1]]
}

type ivRule struct {
	iv   Interval
	rule int32
}

// maxCandFactor bounds the candidate lists: nested intervals (a /0 and many
// /32s) repeat outer rules in every segment; past this factor the run is
// walked linearly instead.
const maxCandFactor = 8

// buildIndex builds the index of items over a key space of width bits.
func buildIndex(items []ivRule, bits uint8, nrules int) *index {
	type event struct {
		at    uint64 // key where it happens (hi+1 may be 1<<32)
		rule  int32
		start bool
	}
	ev := make([]event, 0, 2*len(items))
	for _, it := range items {
		ev = append(ev, event{uint64(it.iv.Lo), it.rule, true}, event{uint64(it.iv.Hi) + 1, it.rule, false})
	}
	slices.SortFunc(ev, func(a, b event) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	limit := uint64(1) << bits
	x := &index{}
	active := map[int32]int{}
	var cur []int32 // sorted active rules
	x.starts = append(x.starts, 0)
	x.off = append(x.off, 0)
	i := 0
	for i < len(ev) {
		at := ev[i].at
		for ; i < len(ev) && ev[i].at == at; i++ {
			e := ev[i]
			if e.start {
				if active[e.rule] == 0 {
					p, _ := slices.BinarySearch(cur, e.rule)
					cur = slices.Insert(cur, p, e.rule)
				}
				active[e.rule]++
			} else {
				active[e.rule]--
				if active[e.rule] == 0 {
					delete(active, e.rule)
					p, _ := slices.BinarySearch(cur, e.rule)
					cur = slices.Delete(cur, p, p+1)
				}
			}
		}
		if at >= limit {
			break
		}
		if at == 0 {
			// The first segment starts here: replace its (empty) list.
			x.cands = append(x.cands[:0], cur...)
			continue
		}
		x.off = append(x.off, uint32(len(x.cands)))
		x.starts = append(x.starts, uint32(at))
		x.cands = append(x.cands, cur...)
		if len(x.cands) > maxCandFactor*nrules+1024 {
			return nil
		}
	}
	x.off = append(x.off, uint32(len(x.cands)))
	// Buckets on the top 16 bits of the key.
	x.shift = 0
	if bits > 16 {
		x.shift = bits - 16
	}
	nb := int(limit >> x.shift)
	x.bucket = make([]uint32, nb+1)
	seg := 0
	for b := 0; b <= nb; b++ {
		k := uint64(b) << x.shift
		if k >= limit {
			x.bucket[b] = uint32(len(x.starts) - 1)
			continue
		}
		for seg+1 < len(x.starts) && uint64(x.starts[seg+1]) <= k {
			seg++
		}
		x.bucket[b] = uint32(seg)
	}
	return x
}
