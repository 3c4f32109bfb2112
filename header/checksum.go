package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit one's complement sum of buf, folded and added
// to initial (RFC 1071). It is not complemented: callers store ^Checksum(...).
//
// The sum is taken over little-endian 64-bit words with end-around carry
// and byte-swapped at the end: RFC 1071 §2 (B) shows the sum does not
// depend on byte order, and 2^64 ≡ 1 (mod 2^16-1), so a carry out of 64
// bits counts as 1. This avoids a byte swap per word.
func Checksum(buf []byte, initial uint16) uint16 {
	sum := uint64(bits.ReverseBytes16(initial))
	var c uint64
	for len(buf) >= 32 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(buf[0:8]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(buf[8:16]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(buf[16:24]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(buf[24:32]), c)
		buf = buf[32:]
	}
	for len(buf) >= 8 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(buf[0:8]), c)
		buf = buf[8:]
	}
	if len(buf) >= 4 {
		sum, c = bits.Add64(sum, uint64(binary.LittleEndian.Uint32(buf[0:4])), c)
		buf = buf[4:]
	}
	if len(buf) >= 2 {
		sum, c = bits.Add64(sum, uint64(binary.LittleEndian.Uint16(buf[0:2])), c)
		buf = buf[2:]
	}
	if len(buf) == 1 {
		// The odd byte is the high-order byte of a big-endian word, so the
		// low-order byte of a little-endian one.
		sum, c = bits.Add64(sum, uint64(buf[0]), c)
	}
	sum, c = bits.Add64(sum, 0, c)
	sum += c // cannot carry again: sum is 0 after an overflow of sum+c
	return bits.ReverseBytes16(fold(sum))
}

// fold reduces a 64-bit one's complement sum to 16 bits without branches.
func fold(sum uint64) uint16 {
	sum = sum>>32 + sum&0xffffffff // < 2^33
	sum = sum>>16 + sum&0xffff     // < 2^17 + 2^16
	sum = sum>>16 + sum&0xffff     // <= 0x10001
	sum = sum>>16 + sum&0xffff     // <= 0xffff
	return uint16(sum)
}

// ipv4HeaderSum is Checksum(b[:hl], 0) for an IPv4 header: hl is a
// multiple of 4 from 20 to 60 and b holds at least hl bytes. Up to fifteen
// 32-bit words never overflow a uint64, so no carries are tracked.
func ipv4HeaderSum(b []byte, hl int) uint16 {
	return bits.ReverseBytes16(fold(ipv4HeaderSum64(b, hl)))
}

// ipv4HeaderSum64 returns the unfolded sum of the header's 32-bit words,
// read little-endian. It is congruent to the one's complement sum modulo
// 0xffff (2^16 ≡ 1), whatever the byte order.
func ipv4HeaderSum64(b []byte, hl int) uint64 {
	_ = b[19]
	sum := (uint64(binary.LittleEndian.Uint32(b[0:4])) + uint64(binary.LittleEndian.Uint32(b[4:8]))) +
		(uint64(binary.LittleEndian.Uint32(b[8:12])) + uint64(binary.LittleEndian.Uint32(b[12:16]))) +
		uint64(binary.LittleEndian.Uint32(b[16:20]))
	for i := 20; i+4 <= hl && i+4 <= len(b); i += 4 {
		sum += uint64(binary.LittleEndian.Uint32(b[i : i+4]))
	}
	return sum
}

// ipv4HeaderChecksumOK reports whether an IPv4 header verifies: its one's
// complement sum is 0xffff (negative zero). The sum is never +0, since
// the version nibble is not zero, so verifying is a test for divisibility
// by 0xffff, which needs no folding.
func ipv4HeaderChecksumOK(b []byte, hl int) bool {
	return ipv4HeaderSum64(b, hl)%0xffff == 0
}

// ChecksumCombine adds two one's complement sums.
func ChecksumCombine(a, b uint16) uint16 {
	return fold(uint64(a) + uint64(b))
}

// ChecksumUpdate2 returns the checksum field value hc after a 16-bit word of
// the covered data changes from old to new. It is RFC 1624 eqn. 3:
//
//	HC' = ~(~HC + ~m + m')
func ChecksumUpdate2(hc, old, new uint16) uint16 {
	return ^fold(uint64(^hc) + uint64(^old) + uint64(new))
}

// ChecksumUpdate4 is ChecksumUpdate2 for a 32-bit field (an IPv4 address).
// The field is added as one 32-bit word: 2^16 ≡ 1 (mod 2^16-1), so that
// is the same as adding its two halves.
func ChecksumUpdate4(hc uint16, old, new [4]byte) uint16 {
	sum := uint64(^hc) + uint64(^binary.BigEndian.Uint32(old[:])) + uint64(binary.BigEndian.Uint32(new[:]))
	return ^fold(sum)
}

// PseudoHeaderChecksum returns the sum of the IPv4 pseudo header for a
// transport protocol (RFC 793 §3.1, RFC 768).
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, length uint16) uint16 {
	sum := uint64(binary.BigEndian.Uint16(src[0:2])) + uint64(binary.BigEndian.Uint16(src[2:4]))
	sum += uint64(binary.BigEndian.Uint16(dst[0:2])) + uint64(binary.BigEndian.Uint16(dst[2:4]))
	sum += uint64(proto) + uint64(length)
	return fold(sum)
}
