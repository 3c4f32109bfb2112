//go:build !amd64

package prefetch

import "unsafe"

// Line starts loading the cache line holding p (a no-op here).
func Line(p unsafe.Pointer) {}

// Span starts loading the cache lines of the n bytes at p (a no-op here).
func Span(p unsafe.Pointer, n uintptr) {}
