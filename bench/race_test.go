//go:build race

package bench

// raceEnabled: under the race detector sync.Pool drops items on purpose,
// so pooled packets are allocated anew and allocation counts mean nothing.
const raceEnabled = true
