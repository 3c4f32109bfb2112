// Package pipeline runs packets through fwd's stages.
//
// It holds the Stage interface and the Verdict set, the registry where
// stages, matches, targets and devices register by dotted ID, the one stage
// order (order.go), the batch runner with its per-reason drop counters and
// tracing, and the Clock every stage takes time from.
//
// Allocation: Run allocates nothing in steady state (its scratch slices grow
// to the largest batch once). Buffers: the runner never frees packets; it
// hands each one to an Output, which owns it from then on. Goroutines: none;
// each worker goroutine owns one Runner.
package pipeline
