package conntrack

import (
	"sync/atomic"
)

// EventType is a kind of table event; the values are bits so a
// subscription can ask for several (conntrack -E -e NEW,UPDATES,DESTROY).
type EventType uint8

const (
	EventNew     EventType = 1 << iota // a connection was confirmed
	EventUpdate                        // its TCP state or its status (SEEN_REPLY, ASSURED) changed
	EventDestroy                       // it was deleted, expired or evicted
	EventAll     = EventNew | EventUpdate | EventDestroy
)

func (e EventType) String() string {
	switch e {
	case EventNew:
		return "NEW"
	case EventUpdate:
		return "UPDATE"
	case EventDestroy:
		return "DESTROY"
	}
	return "UNKNOWN"
}

// Event is one change to the table, with a copy of the entry after it.
type Event struct {
	Type  EventType
	Time  int64 // pipeline clock, ns
	Entry Entry
}

// Subscription receives events on C, a bounded channel. The datapath
// never waits for a reader: when C is full the event is dropped and
// counted (conntrack -E reports ENOBUFS in the same case). C is never
// closed; after Close no more events are sent.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	mask    EventType
	t       *Table
	dropped atomic.Uint64
}

// Subscribe returns a subscription to the events in mask with room for
// buf events.
func (t *Table) Subscribe(buf int, mask EventType) *Subscription {
	if buf <= 0 {
		buf = 1024
	}
	if mask == 0 {
		mask = EventAll
	}
	ch := make(chan Event, buf)
	s := &Subscription{C: ch, c: ch, mask: mask, t: t}
	t.subMu.Lock()
	old := *t.subs.Load()
	nw := append(append(make([]*Subscription, 0, len(old)+1), old...), s)
	t.subs.Store(&nw)
	t.subMu.Unlock()
	return s
}

// Dropped returns how many events were lost because C was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops the subscription.
func (s *Subscription) Close() {
	t := s.t
	t.subMu.Lock()
	old := *t.subs.Load()
	nw := make([]*Subscription, 0, len(old))
	for _, x := range old {
		if x != s {
			nw = append(nw, x)
		}
	}
	t.subs.Store(&nw)
	t.subMu.Unlock()
}

// emitLocked sends an event about c to every subscriber that wants it.
// The caller holds c's home shard lock. It costs one atomic load when
// nobody listens.
func (t *Table) emitLocked(typ EventType, c *Conn, now int64) {
	subs := *t.subs.Load()
	if len(subs) == 0 || c.flags&cfConfirmed == 0 {
		return
	}
	var ev Event
	ev.Type, ev.Time = typ, now
	t.snapshotLocked(c, &ev.Entry)
	for _, s := range subs {
		if s.mask&typ == 0 {
			continue
		}
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}
