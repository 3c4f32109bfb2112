package main

// Wiring of the stage packages into the commands: the counters they keep
// outside the pipeline, the ICMP error generator, refragmentation at the
// egress. Plugins register their stages themselves (plugins.go links them);
// this file is for what a command, not a stage, has to call.

import (
	"fwd/icmperr"
	"fwd/ipfrag"
	"fwd/packet"
	"fwd/pipeline"
)

func init() {
	envSetups = append(envSetups, func(env *pipeline.Env) error {
		icmperr.Install(env)
		return nil
	})
	extraDropSources = append(extraDropSources, func(env *pipeline.Env) (d [packet.NumDropReasons]uint64) {
		if g := icmperr.FromEnv(env); g != nil {
			d = g.Drops()
		}
		return d
	}, func(env *pipeline.Env) (d [packet.NumDropReasons]uint64) {
		if env.Lookup("ipfrag.reassembler") == nil {
			return d
		}
		if r, err := ipfrag.FromEnv(env); err == nil {
			d = r.Drops()
		}
		return d
	})
	extraCounterSources = append(extraCounterSources, func(env *pipeline.Env) []pipeline.Counter {
		if env.Lookup("ipfrag.reassembler") == nil {
			return nil
		}
		r, err := ipfrag.FromEnv(env)
		if err != nil {
			return nil
		}
		return []pipeline.Counter{{Name: "frag.memory", Value: uint64(r.Memory())}, {Name: "frag.queues", Value: uint64(r.Queues())}}
	})
	refragment = func(pkt *packet.Packet, mtu int) [][]byte {
		size := ipfrag.EgressSize(pkt, mtu)
		n := ipfrag.Count(pkt.Data, size)
		if n <= 1 {
			return nil
		}
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = make([]byte, 0, size)
		}
		return bufs[:ipfrag.Fragment(bufs, pkt.Data, size)]
	}
}
