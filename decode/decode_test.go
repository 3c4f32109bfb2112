package decode

import (
	"testing"

	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

func TestParseStageTrimsAndDrops(t *testing.T) {
	dg := make([]byte, 28)
	header.IPv4(dg).Encode(&header.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: header.ProtoUDP, Src: [4]byte{10, 0, 0, 1}, Dst: [4]byte{10, 0, 0, 2}})
	header.UDP(dg[20:]).Encode(1, 2, 8)
	padded := append(append([]byte{}, dg...), 0, 0, 0, 0, 0, 0) // Ethernet padding
	s := &Stage{}
	p := packet.New(padded)
	if v := s.Process(p); v != pipeline.Continue || len(p.Data) != 28 || p.Parsed.Proto != packet.UDP {
		t.Fatalf("verdict %s len %d proto %s", v, len(p.Data), p.Parsed.Proto)
	}
	dg[10] ^= 1
	p = packet.New(dg)
	if v := s.Process(p); v != pipeline.Drop || p.Drop != packet.DropBadChecksum {
		t.Fatalf("bad checksum: verdict %s drop %s", v, p.Drop)
	}
	p = packet.New(dg[:10])
	if v := s.Process(p); v != pipeline.Drop || p.Drop != packet.DropTruncated {
		t.Fatalf("runt: verdict %s drop %s", v, p.Drop)
	}
}

func TestParseStageAllocatesNothing(t *testing.T) {
	dg := make([]byte, 28)
	header.IPv4(dg).Encode(&header.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: header.ProtoUDP})
	header.UDP(dg[20:]).Encode(1, 2, 8)
	p := packet.New(dg)
	s := &Stage{}
	if n := testing.AllocsPerRun(100, func() { p.Data = p.Buffer()[packet.Headroom : packet.Headroom+28]; s.Process(p) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
