package pipeline

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"

	"fwd/packet"
)

// Stats are one runner's counters. Only its runner writes them; readers
// use atomic loads, so a CLI read never blocks the datapath.
type Stats struct {
	Drops [packet.NumDropReasons]atomic.Uint64
	IfIn  []atomic.Uint64 // by interface index; last slot is "local"
	IfOut []atomic.Uint64
}

func newStats(nIf int) *Stats {
	return &Stats{IfIn: make([]atomic.Uint64, nIf+1), IfOut: make([]atomic.Uint64, nIf+1)}
}

func (s *Stats) drop(r packet.DropReason) { s.Drops[r].Add(1) }

func (s *Stats) in(i int16) {
	if i >= 0 && int(i) < len(s.IfIn)-1 {
		s.IfIn[i].Add(1)
	}
}

func (s *Stats) out(i int16) {
	if i >= 0 && int(i) < len(s.IfOut)-1 {
		s.IfOut[i].Add(1)
	}
}

func (s *Stats) addTo(sn *Snapshot) {
	for i := range s.Drops {
		sn.Drops[i] += s.Drops[i].Load()
	}
	for i := range sn.IfIn {
		sn.IfIn[i] += s.IfIn[i].Load()
		sn.IfOut[i] += s.IfOut[i].Load()
	}
}

// Snapshot is a sum of counters at one moment.
type Snapshot struct {
	Drops [packet.NumDropReasons]uint64
	IfIn  []uint64
	IfOut []uint64
}

// Counter is one named value, as `--stats` prints it.
type Counter struct {
	Name  string
	Value uint64
}

// Counters lists the snapshot as named counters: drop.REASON for every
// non-zero drop reason, if.NAME.in/out for every interface.
func (s *Snapshot) Counters(ifNames []string) []Counter {
	var out []Counter
	for i, v := range s.Drops {
		if v != 0 {
			out = append(out, Counter{"drop." + packet.DropReason(i).String(), v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i, n := range ifNames {
		if i < len(s.IfIn) {
			out = append(out, Counter{"if." + n + ".in", s.IfIn[i]}, Counter{"if." + n + ".out", s.IfOut[i]})
		}
	}
	return out
}

// WriteCounters prints counters one a line as "name value".
func WriteCounters(w io.Writer, cs []Counter) {
	for _, c := range cs {
		fmt.Fprintf(w, "%s %d\n", c.Name, c.Value)
	}
}
