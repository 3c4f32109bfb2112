package main

import (
	"testing"

	"fwd/netio/nfqueue"
	"fwd/packet"
)

// TestVerdictPayloadUnchanged: an accept carries the datagram back only
// when the pipeline changed it, or when fwd cannot tell (the packet's
// message is not in the batch being run).
func TestVerdictPayloadUnchanged(t *testing.T) {
	dgram := func() []byte {
		b := make([]byte, 60)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	batch := []nfqueue.Msg{{ID: 7, Payload: dgram()}, {ID: 8, Payload: dgram()}}
	tests := []struct {
		name   string
		batch  []nfqueue.Msg
		meta   uint64
		change func(b []byte) []byte
		want   bool
	}{
		{name: "as the kernel sent it", batch: batch, meta: 1<<32 | 8, want: true},
		{name: "first of the batch", batch: batch, meta: 0<<32 | 7, want: true},
		{name: "one byte rewritten", batch: batch, meta: 1<<32 | 8, change: func(b []byte) []byte { b[59] ^= 1; return b }, want: false},
		{name: "trimmed", batch: batch, meta: 1<<32 | 8, change: func(b []byte) []byte { return b[:40] }, want: false},
		{name: "held from an earlier batch (another id at its index)", batch: batch, meta: 1<<32 | 3, want: false},
		{name: "index past the batch", batch: batch, meta: 2<<32 | 9, want: false},
		{name: "no batch running", batch: nil, meta: 0<<32 | 7, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := packet.New(dgram())
			if tc.change != nil {
				p.Data = tc.change(p.Data)
			}
			p.Meta = tc.meta
			if got := unchanged(tc.batch, p); got != tc.want {
				t.Fatalf("unchanged = %v, want %v", got, tc.want)
			}
			s := &verdictSink{batch: tc.batch}
			if got := s.payload(p); (got == nil) != tc.want {
				t.Fatalf("payload %d bytes, want none: %v", len(got), tc.want)
			}
		})
	}
}

func TestVerdictPayloadNoAllocs(t *testing.T) {
	b := make([]byte, 1500)
	batch := []nfqueue.Msg{{ID: 1, Payload: b}}
	p := packet.New(b)
	p.Meta = 1
	if n := testing.AllocsPerRun(100, func() { unchanged(batch, p) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
