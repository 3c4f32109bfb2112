package conntrack

import "fwd/pipeline"

// reapPerTick is the slots one Tick visits in every shard whatever the
// traffic (ReapTick adds visits in proportion to it): at the devices'
// tick of 100 ms, 40 960 slots a second, so an idle table of a million
// entries is swept every half minute.
const reapPerTick = 4096 / numShards

// Tick implements pipeline.Ticker: it reaps expired entries a bounded
// amount at a time, more when more packets passed, so the table empties
// (DESTROY events fire, Count falls) whether traffic flows or not. Only
// the prerouting instance reaps: the table is shared, once a tick is
// enough.
func (s *Stage) Tick(now int64, out pipeline.Injector) {
	if s.t != nil && s.primary {
		s.t.ReapTick(reapPerTick)
	}
}

var _ pipeline.Ticker = (*Stage)(nil)
