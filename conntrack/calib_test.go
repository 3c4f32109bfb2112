package conntrack

import (
	"sync"
	"testing"
)

// BenchmarkCalibrate is a mutex lock and unlock plus a murmur mix: about
// 15 ns on an idle modern core. Compare the other numbers with it on a
// loaded machine.
func BenchmarkCalibrate(b *testing.B) {
	var mu sync.Mutex
	x := uint64(1)
	for i := 0; i < b.N; i++ {
		mu.Lock()
		x = mix(x + uint64(i))
		mu.Unlock()
	}
	sinkCalib = x
}

var sinkCalib uint64

// BenchmarkRandomAccess reads one random cache line of a 256 MB array:
// the floor for a lookup in a table much larger than the caches.
func BenchmarkRandomAccess(b *testing.B) {
	a := make([]uint64, 32<<20)
	for i := range a {
		a[i] = uint64(i)
	}
	x := uint64(12345)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each address depends on the last load: latency, not
		// throughput.
		x = mix(x + a[x&(32<<20-1)])
	}
	sinkCalib = x
}
