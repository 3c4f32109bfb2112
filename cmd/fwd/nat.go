package main

import (
	"fwd/nat"
	"fwd/pipeline"
)

// The NAT counters (nat.mappings, nat.bindings, ...) in --stats.
func init() {
	extraCounterSources = append(extraCounterSources, func(env *pipeline.Env) []pipeline.Counter {
		st, ok := env.Lookup(nat.StateKey).(*nat.State)
		if !ok {
			return nil
		}
		var out []pipeline.Counter
		for _, c := range st.Stats().Counters() {
			out = append(out, pipeline.Counter{Name: "nat." + c.Name, Value: c.Value})
		}
		return out
	})
}
