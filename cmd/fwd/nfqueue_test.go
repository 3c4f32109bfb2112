package main

import (
	"bytes"
	"testing"

	"fwd/header"
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
		index  int
		id     uint32
		change func(b []byte) []byte
		want   bool
	}{
		{name: "as the kernel sent it", batch: batch, index: 1, id: 8, want: true},
		{name: "first of the batch", batch: batch, index: 0, id: 7, want: true},
		{name: "one byte rewritten", batch: batch, index: 1, id: 8, change: func(b []byte) []byte { b[59] ^= 1; return b }, want: false},
		{name: "trimmed", batch: batch, index: 1, id: 8, change: func(b []byte) []byte { return b[:40] }, want: false},
		{name: "held from an earlier batch (another id at its index)", batch: batch, index: 1, id: 3, want: false},
		{name: "index past the batch", batch: batch, index: 2, id: 9, want: false},
		{name: "no batch running", batch: nil, index: 0, id: 7, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := packet.New(dgram())
			if tc.change != nil {
				p.Data = tc.change(p.Data)
			}
			p.Meta = queuedMeta(tc.id, tc.index, false)
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
	p.Meta = queuedMeta(1, 0, true)
	if n := testing.AllocsPerRun(100, func() { unchanged(batch, p) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// TestVerdictPartialChecksum: the kernel hands over offloaded packets with
// a partial L4 checksum (the pseudo-header sum). Unchanged, such a packet
// goes back without payload and untouched; changed (here the destination
// rewritten, with an incremental update of the partial field, as NAT does)
// it goes back with a whole, valid checksum.
func TestVerdictPartialChecksum(t *testing.T) {
	src, dst, newDst := [4]byte{192, 168, 1, 10}, [4]byte{203, 0, 113, 2}, [4]byte{192, 168, 1, 20}
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP} {
		for _, change := range []bool{false, true} {
			name := map[uint8]string{header.ProtoTCP: "tcp", header.ProtoUDP: "udp"}[proto]
			if change {
				name += "/rewritten"
			} else {
				name += "/unchanged"
			}
			t.Run(name, func(t *testing.T) {
				b := buildFlowPacket(proto, src, dst, 40000, 80)
				l4 := b[header.IPv4MinSize:]
				partial := header.PseudoHeaderChecksum(proto, src, dst, uint16(len(l4)))
				csumOff := map[uint8]int{header.ProtoTCP: 16, header.ProtoUDP: 6}[proto]
				l4[csumOff], l4[csumOff+1] = byte(partial>>8), byte(partial)
				batch := []nfqueue.Msg{{ID: 42, Payload: append([]byte(nil), b...)}}
				p := packet.New(b)
				p.Meta = queuedMeta(42, 0, true)
				if change {
					ip := header.IPv4(p.Data)
					ip.SetDestinationAddressWithChecksumUpdate(newDst)
					if proto == header.ProtoTCP {
						header.TCP(p.Data[20:]).UpdateChecksumPseudoAddress(dst, newDst)
					} else {
						header.UDP(p.Data[20:]).UpdateChecksumPseudoAddress(dst, newDst)
					}
				}
				got := (&verdictSink{batch: batch}).payload(p)
				if !change {
					if got != nil || !bytes.Equal(p.Data, batch[0].Payload) {
						t.Fatalf("unchanged packet: payload %d bytes, data changed %v", len(got), !bytes.Equal(p.Data, batch[0].Payload))
					}
					return
				}
				if got == nil {
					t.Fatal("rewritten packet sent without its payload")
				}
				seg := got[20:]
				var ok bool
				if proto == header.ProtoTCP {
					ok = header.TCP(seg).IsChecksumValid(src, newDst)
				} else {
					ok = header.UDP(seg).IsChecksumValid(src, newDst) && header.UDP(seg).Checksum() != 0
				}
				if !ok {
					t.Fatalf("checksum of the rewritten packet does not verify: % x", got)
				}
			})
		}
	}
}
