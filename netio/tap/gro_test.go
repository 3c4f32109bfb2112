package tap

import (
	"bytes"
	"testing"

	"fwd/header"
)

// TestCoalesceUndoesSegment: cutting a super-frame with Segment and merging
// the segments again gives back the super-frame, byte for byte, with the
// virtio header the kernel would have sent.
func TestCoalesceUndoesSegment(t *testing.T) {
	tests := []struct {
		name    string
		payload int
		mss     int
		flags   uint8
		opts    bool
	}{
		{name: "remainder with psh", payload: 10000, mss: 1448, flags: 0x18, opts: true},
		{name: "exact multiple", payload: 4000, mss: 1000, flags: 0x10},
		{name: "largest", payload: 65535 - 20 - 32, mss: 1448, flags: 0x18, opts: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			super := buildTCP(t, tcpSpec{id: 100, seq: 0xffffff00, flags: tt.flags, opts: tt.opts, payload: payloadBytes(tt.payload)})
			l4 := 34
			partial(super, l4, 16, header.ProtoTCP)
			h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOTCPv4, GSOSize: uint16(tt.mss),
				CsumStart: uint16(l4), CsumOffset: 16}
			const off = 12
			bufs, sizes := makeBufs(64, off+2000)
			n, err := Segment(super, h, bufs, sizes, off)
			if err != nil {
				t.Fatal(err)
			}
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = bufs[i][:off+sizes[i]]
			}
			if k := coalesceRun(frames, off); k != n {
				t.Fatalf("run of %d, want all %d segments", k, n)
			}
			out := coalesce(make([]byte, 0, 70000), frames, off, n)
			var gh VirtioNetHdr
			gh.Decode(out)
			thl := int(super[l4+12]>>4) * 4
			h.HdrLen = uint16(l4 + thl)
			if gh != h {
				t.Fatalf("virtio header %+v, want %+v", gh, h)
			}
			if got := out[VirtioNetHdrLen:]; !bytes.Equal(got, super) {
				t.Fatalf("merged frame differs:\n got %x\nwant %x", got[:80], super[:80])
			}
		})
	}
}

func TestCoalesceRunStops(t *testing.T) {
	mk := func(seq uint32, flags uint8, n int) []byte {
		return buildTCP(t, tcpSpec{seq: seq, flags: flags, payload: payloadBytes(n)})
	}
	withOpts := buildTCP(t, tcpSpec{seq: 1100, flags: 0x10, opts: true, payload: payloadBytes(100)})
	otherPort := mk(1100, 0x10, 100)
	otherPort[34+1] ^= 1
	tests := []struct {
		name   string
		frames [][]byte
		want   int
	}{
		{name: "three in a row", frames: [][]byte{mk(1000, 0x10, 100), mk(1100, 0x10, 100), mk(1200, 0x10, 100)}, want: 3},
		{name: "short segment ends", frames: [][]byte{mk(1000, 0x10, 100), mk(1100, 0x10, 50), mk(1150, 0x10, 100)}, want: 2},
		{name: "psh ends", frames: [][]byte{mk(1000, 0x10, 100), mk(1100, 0x18, 100), mk(1200, 0x10, 100)}, want: 2},
		{name: "psh first merges nothing", frames: [][]byte{mk(1000, 0x18, 100), mk(1100, 0x10, 100)}, want: 1},
		{name: "gap", frames: [][]byte{mk(1000, 0x10, 100), mk(1101, 0x10, 100)}, want: 1},
		{name: "longer segment", frames: [][]byte{mk(1000, 0x10, 100), mk(1100, 0x10, 101)}, want: 1},
		{name: "fin", frames: [][]byte{mk(1000, 0x10, 100), mk(1100, 0x11, 100)}, want: 1},
		{name: "syn first", frames: [][]byte{mk(1000, 0x12, 100), mk(1100, 0x10, 100)}, want: 1},
		{name: "different options", frames: [][]byte{mk(1000, 0x10, 100), withOpts}, want: 1},
		{name: "different flow", frames: [][]byte{mk(1000, 0x10, 100), otherPort}, want: 1},
		{name: "no payload", frames: [][]byte{mk(1000, 0x10, 0), mk(1000, 0x10, 0)}, want: 1},
		{name: "tcp then udp", frames: [][]byte{mk(1000, 0x10, 100), buildUDP(t, 2, payloadBytes(100))}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesceRun(tt.frames, 0); got != tt.want {
				t.Fatalf("run = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCoalesceUDPUndoesSegment: datagrams Segment cuts from a USO
// super-frame merge back into it, byte for byte, with the virtio header
// the kernel would have sent.
func TestCoalesceUDPUndoesSegment(t *testing.T) {
	tests := []struct {
		name    string
		payload int
		seg     int
	}{
		{name: "small datagrams", payload: 64 * 64, seg: 64},
		{name: "remainder", payload: 10000, seg: 1400},
		{name: "largest", payload: 65535 - 28, seg: 1472},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			super := buildUDP(t, 7, payloadBytes(tt.payload))
			partial(super, 34, 6, header.ProtoUDP)
			h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOUDPL4, HdrLen: 42,
				GSOSize: uint16(tt.seg), CsumStart: 34, CsumOffset: 6}
			const off = 12
			bufs, sizes := makeBufs(64, off+2000)
			n, err := Segment(super, h, bufs, sizes, off)
			if err != nil {
				t.Fatal(err)
			}
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = bufs[i][:off+sizes[i]]
			}
			if k := coalesceRun(frames, off); k != n {
				t.Fatalf("run of %d, want all %d datagrams", k, n)
			}
			out := coalesce(make([]byte, 0, 70000), frames, off, n)
			var gh VirtioNetHdr
			gh.Decode(out)
			if gh != h {
				t.Fatalf("virtio header %+v, want %+v", gh, h)
			}
			if got := out[VirtioNetHdrLen:]; !bytes.Equal(got, super) {
				t.Fatalf("merged frame differs:\n got %x\nwant %x", got[:80], super[:80])
			}
		})
	}
}

func TestCoalesceUDPRunStops(t *testing.T) {
	mk := func(id uint16, n int) []byte { return buildUDP(t, id, payloadBytes(n)) }
	badSum := mk(2, 100)
	badSum[len(badSum)-1] ^= 1
	noSum := mk(2, 100)
	noSum[34+6], noSum[34+7] = 0, 0
	otherPort := mk(2, 100)
	otherPort[34+1] ^= 1
	df := func(id uint16) []byte {
		f := mk(id, 100)
		ip := header.IPv4(f[14:])
		ip[6] |= 0x40
		ip.UpdateChecksum()
		return f
	}
	many := make([][]byte, 70)
	for i := range many {
		many[i] = mk(uint16(i), 10)
	}
	tests := []struct {
		name   string
		frames [][]byte
		want   int
	}{
		{name: "three in a row", frames: [][]byte{mk(1, 100), mk(2, 100), mk(3, 100)}, want: 3},
		{name: "short datagram ends", frames: [][]byte{mk(1, 100), mk(2, 50), mk(3, 100)}, want: 2},
		{name: "longer datagram", frames: [][]byte{mk(1, 100), mk(2, 101)}, want: 1},
		{name: "id gap", frames: [][]byte{mk(1, 100), mk(3, 100)}, want: 1},
		{name: "df ids do not matter", frames: [][]byte{df(9), df(9), df(1)}, want: 3},
		{name: "bad checksum", frames: [][]byte{mk(1, 100), badSum}, want: 1},
		{name: "bad checksum first", frames: [][]byte{badSum, mk(3, 100)}, want: 1},
		{name: "no checksum", frames: [][]byte{mk(1, 100), noSum}, want: 1},
		{name: "different flow", frames: [][]byte{mk(1, 100), otherPort}, want: 1},
		{name: "empty payload", frames: [][]byte{mk(1, 0), mk(2, 0)}, want: 1},
		{name: "udp then tcp", frames: [][]byte{mk(1, 100), buildTCP(t, tcpSpec{seq: 1, flags: 0x10, payload: payloadBytes(100)})}, want: 1},
		{name: "at most 64", frames: many, want: maxUDPSegs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesceRun(tt.frames, 0); got != tt.want {
				t.Fatalf("run = %d, want %d", got, tt.want)
			}
		})
	}
}

func BenchmarkCoalesceUDP64(b *testing.B) {
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = buildUDP(b, uint16(i), payloadBytes(64))
	}
	dst := make([]byte, 0, 70000)
	b.SetBytes(64 * 64)
	b.ReportAllocs()
	for b.Loop() {
		k := coalesceRun(frames, 0)
		coalesce(dst, frames, 0, k)
	}
}

func BenchmarkCoalesce(b *testing.B) {
	super := buildTCP(b, tcpSpec{seq: 1, flags: 0x18, opts: true, payload: payloadBytes(64000)})
	bufs, sizes := makeBufs(64, 2000)
	n, _ := Segment(super, VirtioNetHdr{GSOType: VirtioNetHdrGSOTCPv4, GSOSize: 1448}, bufs, sizes, 0)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = bufs[i][:sizes[i]]
	}
	dst := make([]byte, 0, 70000)
	b.SetBytes(int64(len(super)))
	b.ReportAllocs()
	for b.Loop() {
		k := coalesceRun(frames, 0)
		coalesce(dst, frames, 0, k)
	}
}

// FuzzCoalesce cuts the input into frames at the given lengths, merges
// what coalesceRun accepts, and checks the super-frame: its datagram fits,
// and Segment at its GSO size gives back exactly the merged payloads.
func FuzzCoalesce(f *testing.F) {
	seg := func(seq uint32, flags uint8, n int) []byte {
		return buildTCP(f, tcpSpec{seq: seq, flags: flags, opts: true, payload: payloadBytes(n)})
	}
	a, b, c := seg(1000, 0x10, 40), seg(1040, 0x10, 40), seg(1080, 0x18, 10)
	f.Add(append(append(append([]byte(nil), a...), b...), c...), uint16(len(a)), uint16(len(b)))
	f.Add(append(append([]byte(nil), a...), a...), uint16(len(a)), uint16(len(a)))
	u1, u2, u3 := buildUDP(f, 1, payloadBytes(40)), buildUDP(f, 2, payloadBytes(40)), buildUDP(f, 3, payloadBytes(9))
	f.Add(append(append(append([]byte(nil), u1...), u2...), u3...), uint16(len(u1)), uint16(len(u2)))
	f.Fuzz(func(t *testing.T, in []byte, l0, l1 uint16) {
		var frames [][]byte
		for _, l := range []int{int(l0), int(l1), len(in)} {
			l = min(l, len(in))
			if l == 0 {
				break
			}
			frames = append(frames, in[:l])
			in = in[l:]
		}
		if len(frames) == 0 {
			return
		}
		k := coalesceRun(frames, 0)
		if k < 1 || k > len(frames) {
			t.Fatalf("run %d of %d frames", k, len(frames))
		}
		if k == 1 {
			return
		}
		var want []byte
		for _, fr := range frames[:k] {
			if s, ok := udpParse(fr); ok {
				want = append(want, fr[udpHdrLen:udpHdrLen+s.plen]...)
				continue
			}
			s, ok := groParse(fr)
			if !ok {
				t.Fatal("merged an unmergeable frame")
			}
			want = append(want, fr[s.hdrLen:s.hdrLen+s.plen]...)
		}
		out := coalesce(make([]byte, 0, VirtioNetHdrLen+14+maxCoalesced), frames, 0, k)
		var h VirtioNetHdr
		h.Decode(out)
		super := out[VirtioNetHdrLen:]
		if CompleteChecksum(append([]byte(nil), super...), int(h.CsumStart), int(h.CsumOffset)) != nil {
			t.Fatal("checksum offsets outside the super-frame")
		}
		bufs, sizes := makeBufs(k, 14+maxCoalesced)
		n, err := Segment(super, h, bufs, sizes, 0)
		if err != nil || n != k {
			t.Fatalf("Segment of the merged frame: %d, %v; want %d", n, err, k)
		}
		var got []byte
		for i := 0; i < n; i++ {
			got = append(got, bufs[i][int(h.HdrLen):sizes[i]]...)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("merged payload differs")
		}
	})
}

// TestReadPassesGSO: with SetPassGSO's types, a super-frame read is
// returned whole, its virtio header left before it with HdrLen made the
// header bytes and the checksum still partial; other types are cut.
func TestReadPassesGSO(t *testing.T) {
	super := buildUDP(t, 7, payloadBytes(5000))
	partial(super, 34, 6, header.ProtoUDP)
	tests := []struct {
		name  string
		pass  uint32
		wantN int
	}{
		{name: "udp passed", pass: PassUDP, wantN: 1},
		{name: "tcp only: cut", pass: PassTCP, wantN: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &Queue{vnet: true}
			q.pass.Store(tt.pass)
			const off = 16
			bufs, sizes := makeBufs(8, off+70000)
			h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: VirtioNetHdrGSOUDPL4, HdrLen: 128, GSOSize: 1400, CsumStart: 34, CsumOffset: 6}
			h.Encode(bufs[0][off-VirtioNetHdrLen:])
			copy(bufs[0][off:], super)
			q.rbufs, q.rsizes, q.roff = bufs, sizes, off
			n := q.frame(bufs[0][off:off+len(super)], bufs[0][off-VirtioNetHdrLen:off], 0)
			if n != tt.wantN {
				t.Fatalf("%d frames, want %d", n, tt.wantN)
			}
			if n != 1 {
				return
			}
			var got VirtioNetHdr
			got.Decode(bufs[0][off-VirtioNetHdrLen:])
			h.HdrLen = 42
			if got != h || sizes[0] != len(super) || !bytes.Equal(bufs[0][off:off+sizes[0]], super) {
				t.Fatalf("passed frame: header %+v, %d bytes", got, sizes[0])
			}
		})
	}
}
