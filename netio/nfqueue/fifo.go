package nfqueue

// idFIFO holds the ids of packets read from the socket and not yet given a
// verdict, oldest first. Receive order is id order (the kernel numbers
// packets with ++id_sequence and the socket is FIFO), which is what makes a
// batch verdict safe: NFQNL_MSG_VERDICT_BATCH with id X applies to every
// packet the kernel still holds with an id up to X, and the kernel holds
// exactly the packets in this FIFO (plus later ones still in the socket
// buffer, which all have larger ids).
//
// Entries are tombstoned (done) when a verdict is given out of order and
// dropped from the front lazily. Steady state allocates nothing: the slices
// keep their capacity.
type idFIFO struct {
	ids  []uint32
	done []bool
	head int // ids[:head] are gone
	dead int // tombstones in ids[head:]
}

func (f *idFIFO) push(id uint32) {
	if f.head == len(f.ids) {
		f.ids, f.done, f.head, f.dead = f.ids[:0], f.done[:0], 0, 0
	} else if n := len(f.ids) - f.head; f.head+f.dead >= 256 && (f.head+f.dead)*2 >= len(f.ids) {
		// Mostly gone or tombstoned (e.g. one packet held long while
		// thousands pass): keep the live entries, in order.
		w := 0
		for i := f.head; i < f.head+n; i++ {
			if !f.done[i] {
				f.ids[w], f.done[w] = f.ids[i], false
				w++
			}
		}
		f.ids, f.done, f.head, f.dead = f.ids[:w], f.done[:w], 0, 0
	}
	f.ids = append(f.ids, id)
	f.done = append(f.done, false)
}

// first returns the position of the oldest live entry, or -1.
func (f *idFIFO) first() int {
	for f.head < len(f.ids) && f.done[f.head] {
		f.head++
		f.dead--
	}
	if f.head == len(f.ids) {
		return -1
	}
	return f.head
}

// next returns the position of the next live entry after pos, or -1.
func (f *idFIFO) next(pos int) int {
	for pos++; pos < len(f.ids); pos++ {
		if !f.done[pos] {
			return pos
		}
	}
	return -1
}

// markDone tombstones id; it reports whether id was outstanding. The scan
// starts at the front, where in-order callers find their id at once.
func (f *idFIFO) markDone(id uint32) bool {
	for i := f.head; i < len(f.ids); i++ {
		if f.ids[i] == id && !f.done[i] {
			f.done[i] = true
			f.dead++
			return true
		}
	}
	return false
}

// setDone tombstones the live entry at pos.
func (f *idFIFO) setDone(pos int) {
	f.done[pos] = true
	f.dead++
}

// live returns the number of outstanding ids.
func (f *idFIFO) live() int { return len(f.ids) - f.head - f.dead }
