package prefetch

import "unsafe"

// Line starts loading the cache line holding p into every cache level.
//
//go:noescape
func Line(p unsafe.Pointer)

// Span starts loading the cache lines of the n bytes at p (at most 5
// lines: the first 256 bytes of the span, and its last byte).
//
//go:noescape
func Span(p unsafe.Pointer, n uintptr)
