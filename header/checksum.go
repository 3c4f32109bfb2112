package header

import "encoding/binary"

// Checksum returns the 16-bit one's complement sum of buf, folded and added
// to initial (RFC 1071). It is not complemented: callers store ^Checksum(...).
func Checksum(buf []byte, initial uint16) uint16 {
	sum := uint64(initial)
	// Sum 8 bytes at a time; the carries collect in the upper bits.
	for len(buf) >= 8 {
		v := binary.BigEndian.Uint64(buf)
		sum += v >> 48
		sum += (v >> 32) & 0xffff
		sum += (v >> 16) & 0xffff
		sum += v & 0xffff
		buf = buf[8:]
	}
	for len(buf) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(buf))
		buf = buf[2:]
	}
	if len(buf) == 1 {
		sum += uint64(buf[0]) << 8
	}
	return fold(sum)
}

func fold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = (sum >> 16) + (sum & 0xffff)
	}
	return uint16(sum)
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
func ChecksumUpdate4(hc uint16, old, new [4]byte) uint16 {
	sum := uint64(^hc)
	sum += uint64(^binary.BigEndian.Uint16(old[0:2]))
	sum += uint64(^binary.BigEndian.Uint16(old[2:4]))
	sum += uint64(binary.BigEndian.Uint16(new[0:2]))
	sum += uint64(binary.BigEndian.Uint16(new[2:4]))
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
