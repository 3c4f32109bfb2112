package conntrack

import "sync/atomic"

// Each shard has two open-addressing indexes (linear probing,
// backward-shift deletion, so probes never meet tombstones):
//
// main holds the tuples of the shard's own connections in 4-byte slots:
//
//	 31      26  25   24   23                              0
//	+----------+-----+-----+--------------------------------+
//	|   tag    | sym | dir |        slab slot + 1            |
//	+----------+-----+-----+--------------------------------+
//
// tag is 6 more bits of the hash (a probe reads a Conn only when they
// agree); sym marks the one entry of a connection whose two tuples are
// mirror images and hash alike (no NAT), which serves both directions;
// dir marks a reply tuple. The slot's home position comes from the
// Conn's stored hash, so moving entries reads the Conn; the index is sized
// at creation so it rarely grows. At 1M connections main takes 8 bytes a
// connection and mostly stays in the CPU cache: a lookup then costs about
// one memory access, the Conn's.
//
// alias holds NATed reply tuples whose hash falls in this shard while
// their connection lives in another: 8-byte slots of 32 bits of hash and
// a ref naming the owning shard and slot.

const (
	mainTagShift = 26
	mainSym      = 1 << 25
	mainReply    = 1 << 24
	mainIdxMask  = 1<<24 - 1
)

func mainVal(h uint32, idx uint32, bits uint32) uint32 {
	return h>>mainTagShift<<mainTagShift | bits | (idx + 1)
}

func mainIdx(v uint32) uint32 { return v&mainIdxMask - 1 }

// mainHash returns the full hash of the entry v (from its Conn).
func (s *shard) mainHash(v uint32) uint32 {
	c := s.at(mainIdx(v))
	if v&mainReply != 0 {
		return c.hash[Reply]
	}
	return c.hash[Original]
}

// matchMain reports whether entry v (of connection c) is for tu, and in
// which direction.
func matchMain(c *Conn, v uint32, tu *Tuple) (int, bool) {
	switch {
	case v&mainSym != 0:
		if c.tuple[Original] == *tu {
			return Original, true
		}
		return Reply, c.tuple[Reply] == *tu
	case v&mainReply != 0:
		return Reply, c.tuple[Reply] == *tu
	}
	return Original, c.tuple[Original] == *tu
}

func (s *shard) insertMainLocked(h, v uint32) {
	if (s.used+1)*10 > len(s.main)*7 {
		s.growMainLocked()
	}
	m := uint32(len(s.main) - 1)
	n := 0
	for i := h & m; ; i = (i + 1) & m {
		if s.main[i] == 0 {
			atomic.StoreUint32(&s.main[i], v)
			s.used++
			if n >= chainTooLong {
				s.st.chainTooLong++
			}
			return
		}
		n++
	}
}

// growMainLocked doubles main. It reads every Conn of the shard for its
// hash, so it stops this shard (only) for a time bounded by its size;
// main is sized for max_entries, so this happens only when the shard
// holds far more than its share.
func (s *shard) growMainLocked() {
	old := s.main
	main := make([]uint32, 2*len(old))
	m := uint32(len(main) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		for i := s.mainHash(v) & m; ; i = (i + 1) & m {
			if main[i] == 0 {
				main[i] = v
				break
			}
		}
	}
	s.setMainLocked(main)
}

// setMainLocked installs main as the shard's index. The prefetcher reads
// the index without the lock: it finds the slice through mainp, and
// every store into a published index is atomic.
func (s *shard) setMainLocked(main []uint32) {
	s.main = main
	s.mainp.Store(&main)
}

func (s *shard) removeMainLocked(h, want uint32) {
	m := uint32(len(s.main) - 1)
	i := h & m
	for s.main[i] != want {
		if s.main[i] == 0 {
			return
		}
		i = (i + 1) & m
	}
	j := i
	for {
		j = (j + 1) & m
		v := s.main[j]
		if v == 0 {
			break
		}
		if k := s.mainHash(v) & m; inCyclic(i, k, j) {
			continue
		}
		atomic.StoreUint32(&s.main[i], v)
		i = j
	}
	atomic.StoreUint32(&s.main[i], 0)
	s.used--
}

// inCyclic reports whether k lies cyclically in (i, j]: an entry whose
// home is there may not move back to i.
func inCyclic(i, k, j uint32) bool {
	if i <= j {
		return i < k && k <= j
	}
	return i < k || k <= j
}

func (s *shard) insertAliasLocked(h, ref uint32) {
	if (s.aliasN+1)*8 > len(s.alias)*5 {
		old := s.alias
		alias := make([]uint64, 2*len(old))
		m := uint32(len(alias) - 1)
		for _, v := range old {
			if v == 0 {
				continue
			}
			for i := uint32(v>>32) & m; ; i = (i + 1) & m {
				if alias[i] == 0 {
					alias[i] = v
					break
				}
			}
		}
		s.setAliasLocked(alias)
	}
	m := uint32(len(s.alias) - 1)
	for i := h & m; ; i = (i + 1) & m {
		if s.alias[i] == 0 {
			atomic.StoreUint64(&s.alias[i], uint64(h)<<32|uint64(ref))
			s.aliasN++
			return
		}
	}
}

// setAliasLocked installs alias as the shard's alias index, published
// for the prefetcher as setMainLocked does main.
func (s *shard) setAliasLocked(alias []uint64) {
	s.alias = alias
	s.aliasp.Store(&alias)
}

func (s *shard) removeAliasLocked(h, ref uint32) {
	m := uint32(len(s.alias) - 1)
	want := uint64(h)<<32 | uint64(ref)
	i := h & m
	for s.alias[i] != want {
		if s.alias[i] == 0 {
			return
		}
		i = (i + 1) & m
	}
	j := i
	for {
		j = (j + 1) & m
		v := s.alias[j]
		if v == 0 {
			break
		}
		if inCyclic(i, uint32(v>>32)&m, j) {
			continue
		}
		atomic.StoreUint64(&s.alias[i], v)
		i = j
	}
	atomic.StoreUint64(&s.alias[i], 0)
	s.aliasN--
}
