package conntrack

import "fwd/pipeline"

// reapPerTick bounds the slots one Tick visits, so a timer never holds a
// shard lock for long (no stop-the-world sweep). At the devices' tick of
// 100 ms this visits 40 960 slots a second: a table of a million entries is
// swept every half minute even when no packet arrives to reap as it goes.
const reapPerTick = 4096

// Tick implements pipeline.Ticker: it reaps expired entries a bounded
// amount at a time, so an idle table empties (DESTROY events fire, Count
// falls) even when no lookup passes by. Only the prerouting instance reaps:
// the table is shared, once a tick is enough.
func (s *Stage) Tick(now int64, out pipeline.Injector) {
	if s.t != nil && s.primary {
		s.t.Reap(reapPerTick)
	}
}

var _ pipeline.Ticker = (*Stage)(nil)
