package prefetch

import (
	"testing"
	"unsafe"
)

// Prefetching never faults or changes memory, whatever the span: a
// nil-adjacent or unmapped address is fine for the instruction, but Go
// code only ever passes real objects, so test those, of every size the
// branches of Span distinguish.
func TestSpanLeavesMemoryAlone(t *testing.T) {
	buf := make([]byte, 512)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, n := range []uintptr{1, 63, 64, 65, 128, 129, 192, 193, 256, 300} {
		for _, off := range []int{0, 1, 63} {
			Span(unsafe.Pointer(&buf[off]), n)
			Line(unsafe.Pointer(&buf[off]))
		}
	}
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatalf("byte %d changed to %d", i, buf[i])
		}
	}
}

func BenchmarkSpan(b *testing.B) {
	buf := make([]byte, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Span(unsafe.Pointer(&buf[0]), 208)
	}
}
