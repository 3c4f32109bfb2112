package nfqueue

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// pktMsg builds an NFQNL_MSG_PACKET as the kernel sends it
// (nfqnl_build_packet_message): nlmsghdr, nfgenmsg, then attributes.
func pktMsg(id uint32, hook uint8, extra func(b []byte) []byte) []byte {
	b, start := appendMsgHdr(nil, msgPacket, 0, 0, afINET, 0)
	var hdr [7]byte
	binary.BigEndian.PutUint32(hdr[0:4], id)
	binary.BigEndian.PutUint16(hdr[4:6], 0x0800)
	hdr[6] = hook
	b = appendAttr(b, attrPacketHdr, hdr[:])
	if extra != nil {
		b = extra(b)
	}
	finishMsg(b, start)
	return b
}

// A 28-byte IPv4/UDP datagram: 192.168.250.1:1000 > 192.168.250.1:9999, payload "hi".
var samplePayload = []byte{
	0x45, 0x00, 0x00, 0x1e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, // IPv4, DF, TTL 64, UDP
	192, 168, 250, 1, 192, 168, 250, 1,
	0x03, 0xe8, 0x27, 0x0f, 0x00, 0x0a, 0x00, 0x00, // UDP 1000 -> 9999, len 10, no checksum
	'h', 'i',
}

func TestParsePacket(t *testing.T) {
	full := func(b []byte) []byte {
		b = appendAttrU32(b, attrMark, 0x2a)
		b = appendAttrU32(b, attrInDev, 3)
		b = appendAttrU32(b, attrOutDev, 4)
		b = appendAttr(b, attrHWAddr, []byte{0, 6, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0})
		b = appendAttr(b, attrTimestamp, make([]byte, 16)) // skipped
		b = appendAttrU32(b, attrSKBInfo, skbGSO|skbCsumNotReady)
		b = appendAttrU32(b, attrCapLen, 3000)
		b = appendAttr(b, 0x7ff, []byte{1, 2, 3}) // unknown: skipped
		return appendAttr(b, attrPayload|0x4000, samplePayload)
	}
	for _, tc := range []struct {
		name    string
		msg     []byte
		kind    msgKind
		want    Msg
		wantErr error
	}{
		{
			name: "minimal", msg: pktMsg(7, HookOutput, func(b []byte) []byte { return appendAttr(b, attrPayload, samplePayload) }),
			kind: kindPacket, want: Msg{ID: 7, HWProtocol: 0x0800, Hook: HookOutput, Family: afINET, Payload: samplePayload},
		},
		{
			name: "all attributes", msg: pktMsg(0xfffffffe, HookForward, full), kind: kindPacket,
			want: Msg{ID: 0xfffffffe, HWProtocol: 0x0800, Hook: HookForward, Family: afINET, Mark: 0x2a, HasMark: true,
				InDev: 3, OutDev: 4, HWAddr: [8]byte{2, 0, 0, 0, 0, 1}, HWAddrLen: 6,
				CapLen: 3000, SKBInfo: skbGSO | skbCsumNotReady, Payload: samplePayload},
		},
		{
			name: "no packet header", kind: kindOther, wantErr: errNoHdr,
			msg: func() []byte {
				b, s := appendMsgHdr(nil, msgPacket, 0, 0, afINET, 0)
				b = appendAttr(b, attrPayload, samplePayload)
				finishMsg(b, s)
				return b
			}(),
		},
		{
			name: "short packet header", kind: kindOther, wantErr: errBadAttr,
			msg: func() []byte {
				b, s := appendMsgHdr(nil, msgPacket, 0, 0, afINET, 0)
				b = appendAttr(b, attrPacketHdr, []byte{0, 0, 0, 1})
				finishMsg(b, s)
				return b
			}(),
		},
		{
			name: "attribute overruns message", kind: kindOther, wantErr: errBadAttr,
			msg: func() []byte {
				b := pktMsg(1, 0, func(b []byte) []byte { return appendAttrU32(b, attrMark, 1) })
				binary.NativeEndian.PutUint16(b[len(b)-8:], 200) // the mark attribute claims 200 bytes
				return b
			}(),
		},
		{
			name: "hwaddr too long", kind: kindOther, wantErr: errBadAttr,
			msg: pktMsg(1, 0, func(b []byte) []byte { return appendAttr(b, attrHWAddr, []byte{0, 9, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}) }),
		},
		{
			name: "ack", kind: kindAck,
			msg: func() []byte {
				b := make([]byte, 36)
				binary.NativeEndian.PutUint32(b[0:4], 36)
				binary.NativeEndian.PutUint16(b[4:6], nlmsgError)
				return b
			}(),
		},
		{
			name: "verdict message is not a packet", kind: kindOther,
			msg: appendVerdict(nil, 0, false, 1, Accept, false, 0, nil),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, rest, err := nextMsg(tc.msg)
			if err != nil || len(rest) != 0 {
				t.Fatalf("nextMsg: %v, %d bytes left", err, len(rest))
			}
			var m Msg
			kind, _, _, err := classify(msg, &m)
			if err != tc.wantErr || kind != tc.kind {
				t.Fatalf("classify = %v, %v; want %v, %v", kind, err, tc.kind, tc.wantErr)
			}
			if kind != kindPacket {
				return
			}
			if !bytes.Equal(m.Payload, tc.want.Payload) {
				t.Errorf("payload % x", m.Payload)
			}
			m.Payload, tc.want.Payload = nil, nil
			if !reflect.DeepEqual(m, tc.want) {
				t.Errorf("got  %+v\nwant %+v", m, tc.want)
			}
		})
	}
}

func TestErrorReply(t *testing.T) {
	// NLMSG_ERROR -ENOENT echoing a verdict request with seq 9 (CAP_ACK: header only).
	b := make([]byte, 36)
	binary.NativeEndian.PutUint32(b[0:4], 36)
	binary.NativeEndian.PutUint16(b[4:6], nlmsgError)
	binary.NativeEndian.PutUint32(b[16:20], uint32(0xfffffffe)) // -2
	binary.NativeEndian.PutUint32(b[20:24], 16)
	binary.NativeEndian.PutUint32(b[28:32], 9)
	kind, errno, seq, err := classify(b, &Msg{})
	if kind != kindError || errno != 2 || seq != 9 || err != nil {
		t.Fatalf("classify = %v %d %d %v", kind, errno, seq, err)
	}
}

func TestVerdictEncoding(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batch   bool
		mark    bool
		payload []byte
		want    string // hex of the message after the 16-byte netlink header
	}{
		{name: "accept", want: "00 00 00 05" + " 0c 00 02 00 00 00 00 01 00 00 00 07"},
		{name: "batch with mark", batch: true, mark: true, want: "00 00 00 05" + " 0c 00 02 00 00 00 00 01 00 00 00 07" + " 08 00 03 00 00 00 00 2a"},
		{name: "payload padded", payload: []byte{1, 2, 3, 4, 5}, want: "00 00 00 05" + " 0c 00 02 00 00 00 00 01 00 00 00 07" + " 09 00 0a 00 01 02 03 04 05 00 00 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := appendVerdict(nil, 5, tc.batch, 7, Accept, tc.mark, 0x2a, tc.payload)
			if int(binary.NativeEndian.Uint32(b)) != len(b) || len(b)%4 != 0 {
				t.Fatalf("length %d of %d", binary.NativeEndian.Uint32(b), len(b))
			}
			typ := binary.NativeEndian.Uint16(b[4:6])
			wantTyp := uint16(nfnlSubsysQueue<<8 | msgVerdict)
			if tc.batch {
				wantTyp = nfnlSubsysQueue<<8 | msgVerdictBatch
			}
			if typ != wantTyp || binary.NativeEndian.Uint16(b[6:8]) != nlmFRequest {
				t.Errorf("type %#x flags %#x", typ, binary.NativeEndian.Uint16(b[6:8]))
			}
			if got := spacedHex(b[16:]); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
			if n := verdictSize(tc.mark, len(tc.payload), tc.payload != nil); n != len(b) {
				t.Errorf("verdictSize %d, encoded %d", n, len(b))
			}
		})
	}
}

func spacedHex(b []byte) string {
	const hx = "0123456789abcdef"
	var s []byte
	for i, c := range b {
		if i > 0 {
			s = append(s, ' ')
		}
		s = append(s, hx[c>>4], hx[c&15])
	}
	return string(s)
}

func TestParseNoAllocs(t *testing.T) {
	msg := pktMsg(7, HookOutput, func(b []byte) []byte { return appendAttr(b, attrPayload, samplePayload) })
	var m Msg
	n := testing.AllocsPerRun(1000, func() {
		mm, _, _ := nextMsg(msg)
		classify(mm, &m)
	})
	if n != 0 {
		t.Fatalf("parse allocates %v times", n)
	}
}

func TestFIFO(t *testing.T) {
	var f idFIFO
	for id := uint32(0xfffffffd); id != 3; id++ { // wraps
		f.push(id)
	}
	if f.live() != 6 || f.ids[f.first()] != 0xfffffffd {
		t.Fatalf("live %d first %d", f.live(), f.ids[f.first()])
	}
	if !f.markDone(0xffffffff) || f.markDone(0xffffffff) || f.markDone(99) {
		t.Fatal("markDone: want true once, false for done or unknown ids")
	}
	f.markDone(0xfffffffd)
	if p := f.first(); f.ids[p] != 0xfffffffe {
		t.Fatalf("first after done = %d", f.ids[p])
	}
	p := f.next(f.first())
	if f.ids[p] != 0 {
		t.Fatalf("next skips the tombstone: got %d", f.ids[p])
	}
	for _, id := range []uint32{0xfffffffe, 0, 1, 2} {
		f.markDone(id)
	}
	if f.first() != -1 || f.live() != 0 {
		t.Fatal("fifo not empty")
	}
	// Steady state: push/markDone cycles keep the capacity.
	allocs := testing.AllocsPerRun(100, func() {
		for i := uint32(0); i < 64; i++ {
			f.push(i)
		}
		for i := uint32(0); i < 64; i++ {
			f.markDone(i)
		}
		f.first()
	})
	if allocs != 0 {
		t.Errorf("fifo cycle allocates %v", allocs)
	}
	// A long-held id compacts, not grows, the slice.
	var g idFIFO
	g.push(1000000)
	for i := uint32(0); i < 10000; i++ {
		g.push(i)
		g.markDone(i)
		g.first()
	}
	if len(g.ids) > 600 || g.live() != 1 {
		t.Errorf("held id: %d slots, %d live", len(g.ids), g.live())
	}
}

// FuzzParsePacket feeds arbitrary receive buffers through the same split
// and classify loop ReadBatch runs. Invariants: no panic, the payload lies
// inside the buffer, every message split off is inside the buffer.
func FuzzParsePacket(f *testing.F) {
	f.Add(pktMsg(7, HookOutput, func(b []byte) []byte { return appendAttr(b, attrPayload, samplePayload) }))
	f.Add(pktMsg(1, HookPrerouting, func(b []byte) []byte {
		b = appendAttrU32(b, attrMark, 1)
		b = appendAttr(b, attrHWAddr, []byte{0, 6, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0})
		return appendAttr(b, attrPayload, samplePayload)
	}))
	f.Add(append(pktMsg(2, 1, nil), pktMsg(3, 2, nil)...))
	f.Add(appendVerdict(nil, 0, true, 9, Drop, true, 1, nil))
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, buf []byte) {
		rest := buf
		for len(rest) > 0 {
			msg, r, err := nextMsg(rest)
			if err != nil {
				break
			}
			if len(msg) < nlmsgHdrLen || len(r) >= len(rest) {
				t.Fatalf("nextMsg made no progress or returned a short message")
			}
			rest = r
			var m Msg
			kind, _, _, err := classify(msg, &m)
			if kind == kindPacket {
				if err != nil {
					t.Fatal("packet with error")
				}
				if len(m.Payload) > 0 && !inside(buf, m.Payload) {
					t.Fatal("payload outside the buffer")
				}
				if m.HWAddrLen > hwAddrMaxLen {
					t.Fatal("hwaddr length")
				}
			}
		}
	})
}

func inside(buf, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	b0 := &buf[0]
	for i := range buf {
		if &buf[i] == &sub[0] {
			return i+len(sub) <= len(buf) && b0 != nil
		}
	}
	return false
}
