// Package prefetch asks the CPU to start loading memory a program will
// read soon, without waiting for it: the software prefetch instructions
// VPP issues for the next packets of a vector. Go has no portable
// intrinsic for them, so amd64 has a few lines of assembly and every other
// architecture a no-op (correct, only slower).
//
// A prefetch never faults and never changes what a program computes, so
// it may be given an address whose memory is being written under a lock
// elsewhere: it is not a Go memory read (the race detector does not see
// it) and its only effect is on timing.
package prefetch
