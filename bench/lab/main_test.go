package main

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// groCmsg builds the control message the kernel attaches with UDP_GRO:
// the segment size as an int.
func groCmsg(seg uint32) []byte {
	b := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], seg)
	return b
}

func TestGROSegment(t *testing.T) {
	other := groCmsg(9)
	(*unix.Cmsghdr)(unsafe.Pointer(&other[0])).Type = unix.UDP_SEGMENT
	tests := []struct {
		name string
		oob  []byte
		want uint64
	}{
		{name: "gro", oob: groCmsg(1400), want: 1400},
		{name: "after another message", oob: append(other, groCmsg(64)...), want: 64},
		{name: "none", oob: nil, want: 0},
		{name: "truncated", oob: groCmsg(1400)[:unix.SizeofCmsghdr], want: 0},
		{name: "length past the end", oob: func() []byte { b := groCmsg(1); b[0] = 0xff; return b }(), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := groSegment(tt.oob); got != tt.want {
				t.Fatalf("groSegment = %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzGROSegment: any control bytes give an answer, never a panic.
func FuzzGROSegment(f *testing.F) {
	f.Add(groCmsg(1400))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) { groSegment(oob) })
}
