package ipfrag

import (
	"encoding/binary"

	"fwd/header"
	"fwd/packet"
)

// MinMTU is the smallest MTU IPv4 allows (RFC 791: "Every internet module
// must be able to forward a datagram of 68 octets without further
// fragmentation"): a 60-byte header and 8 bytes of data.
const MinMTU = 68

// EgressSize returns the largest datagram pkt may leave as on a link of
// MTU mtu: the MTU, or the largest fragment fwd received when it
// reassembled pkt in transit and that was smaller (Linux's
// IPCB(skb)->frag_max_size: fwd never sends fragments larger than the
// sender chose).
func EgressSize(pkt *packet.Packet, mtu int) int {
	if m := int(pkt.MaxFrag); m != 0 && m < mtu {
		return m
	}
	return mtu
}

// fragSizes returns the header length of the first fragment, that of the
// others (options whose copy flag is set, RFC 791 §3.1), and the data per
// fragment of each, or ok false when the datagram cannot be fragmented to
// mtu (malformed, or mtu too small for 8 bytes of data).
func fragSizes(dgram []byte, mtu int) (hl, hl2, d0, dn, tl int, ok bool) {
	if len(dgram) < header.IPv4MinSize || dgram[0]>>4 != 4 {
		return
	}
	ip := header.IPv4(dgram)
	hl = ip.HeaderLength()
	tl = int(ip.TotalLength())
	if hl < header.IPv4MinSize || tl < hl || tl > len(dgram) {
		return
	}
	if header.ValidateOptions(dgram[header.IPv4MinSize:hl]) != header.ReasonNone {
		return
	}
	hl2 = header.IPv4MinSize + copiedLen(dgram[header.IPv4MinSize:hl])
	d0 = (mtu - hl) &^ 7
	dn = (mtu - hl2) &^ 7
	if d0 < 8 || dn < 8 {
		return
	}
	return hl, hl2, d0, dn, tl, true
}

// copiedLen is len(header.CopiedOptions(nil, opts)) without building it.
func copiedLen(opts []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == header.IPv4OptEnd {
			break
		}
		if t == header.IPv4OptNOP {
			i++
			continue
		}
		l := int(opts[i+1])
		if t&0x80 != 0 {
			n += l
		}
		i += l
	}
	return (n + 3) &^ 3
}

// Count returns how many fragments Fragment makes of dgram for mtu: 1
// when it fits, 0 when it cannot be fragmented.
func Count(dgram []byte, mtu int) int {
	if len(dgram) >= header.IPv4MinSize && int(header.IPv4(dgram).TotalLength()) <= mtu {
		return 1
	}
	hl, _, d0, dn, tl, ok := fragSizes(dgram, mtu)
	if !ok {
		return 0
	}
	rest := tl - hl - d0
	return 1 + (rest+dn-1)/dn
}

// Fragment cuts the IPv4 datagram dgram into fragments of at most mtu
// bytes (RFC 791 §3.2, "An Example Fragmentation Procedure") and writes
// them to dst, reslicing dst[i] to each fragment's length; it returns how
// many it wrote. The first fragment carries every option; the others
// carry those whose copy flag is set. Data per fragment is a multiple of
// 8; identification, TOS, TTL, protocol, addresses and DF are kept, MF
// is set on all but the last (and on the last too when dgram was itself a
// non-last fragment), offsets count from dgram's own offset, and every
// header checksum is computed anew. The transport header and payload are
// copied untouched.
//
// Fragment does not look at DF: the caller decides (the mtu stage answers
// DF datagrams with ICMP frag-needed before they reach the egress; a
// datagram fwd reassembled in transit is cut to EgressSize even with DF,
// as Linux does). It returns 0 — and writes nothing a caller should send —
// when dgram fits in mtu, is malformed, mtu is below what 8 bytes of data
// need, or dst has too few buffers or one with a capacity below mtu.
// Fragment allocates nothing.
//
// The egress (TAP write, capture output) calls it as:
//
//	size := ipfrag.EgressSize(pkt, mtu)
//	if len(pkt.Data) > size {
//		n := ipfrag.Fragment(bufs, pkt.Data, size)
//		// write bufs[:n]
//	}
func Fragment(dst [][]byte, dgram []byte, mtu int) int {
	if len(dgram) >= header.IPv4MinSize && int(header.IPv4(dgram).TotalLength()) <= mtu {
		return 0
	}
	hl, hl2, d0, dn, tl, ok := fragSizes(dgram, mtu)
	if !ok {
		return 0
	}
	payload := tl - hl
	need := 1 + (payload-d0+dn-1)/dn
	if need > len(dst) {
		return 0
	}
	for i := 0; i < need; i++ {
		if cap(dst[i]) < mtu {
			return 0
		}
	}
	ip := header.IPv4(dgram)
	ff := ip.FlagsFragmentOffset()
	baseOff := int(ff&0x1fff) * 8
	origMF := ff&header.IPv4FlagMF != 0
	keep := ff & (header.IPv4FlagDF | header.IPv4FlagEvil)
	data := dgram[hl:tl]

	var copied [40]byte
	opts := header.CopiedOptions(copied[:0], dgram[header.IPv4MinSize:hl])

	off := 0
	for i := 0; i < need; i++ {
		fhl, size := hl2, dn
		if i == 0 {
			fhl, size = hl, d0
		}
		last := off+size >= payload
		if last {
			size = payload - off
		}
		b := dst[i][:fhl+size]
		if i == 0 {
			copy(b, dgram[:hl])
		} else {
			copy(b, dgram[:header.IPv4MinSize])
			copy(b[header.IPv4MinSize:], opts)
			b[0] = 0x40 | uint8(fhl/4)
		}
		flags := keep | uint16((baseOff+off)/8)
		if !last || origMF {
			flags |= header.IPv4FlagMF
		}
		binary.BigEndian.PutUint16(b[2:], uint16(fhl+size))
		binary.BigEndian.PutUint16(b[6:], flags)
		copy(b[fhl:], data[off:off+size])
		header.IPv4(b).UpdateChecksum()
		dst[i] = b
		off += size
	}
	return need
}
