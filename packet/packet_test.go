package packet

import (
	"bytes"
	"testing"
)

func TestPool(t *testing.T) {
	pl := NewPool()
	p := pl.Get()
	if len(p.Data) != 0 || p.InIf != NoIf || p.OutIf != NoIf || len(p.Buffer()) != Headroom+MaxSize {
		t.Fatalf("fresh packet: len(Data) %d InIf %d OutIf %d buffer %d", len(p.Data), p.InIf, p.OutIf, len(p.Buffer()))
	}
	p.Load(pktSYN)
	p.Parsed.Decode(p.Data)
	p.CT = &struct{ x int }{1}
	p.Mark, p.Hook, p.Drop, p.Note, p.Trace = 7, Forward, DropPolicy, "note", true
	p.InIf, p.OutIf = 1, 2
	pl.Put(p)
	if p.CT != nil || p.Data != nil {
		t.Fatal("Put kept pointers")
	}
	q := pl.Get()
	if q.CT != nil || q.Mark != 0 || q.Hook != HookNone || q.Drop != DropNone || q.Note != "" || q.Trace ||
		q.InIf != NoIf || q.OutIf != NoIf || len(q.Data) != 0 || q.Parsed != (Parsed{}) {
		t.Fatalf("Get returned a dirty packet: %+v", q)
	}
	if len(q.Buffer()) != Headroom+MaxSize {
		t.Fatal("buffer lost")
	}
}

func TestPoolNoAllocs(t *testing.T) {
	pl := NewPool()
	pl.Put(pl.Get()) // warm up
	n := testing.AllocsPerRun(1000, func() {
		p := pl.Get()
		p.Load(pktUDP)
		p.Parsed.Decode(p.Data)
		pl.Put(p)
	})
	if n != 0 {
		t.Fatalf("%v allocs per Get/Load/Decode/Put, want 0", n)
	}
}

func TestPacketData(t *testing.T) {
	p := New(pktUDP)
	if !bytes.Equal(p.Data, pktUDP) || &p.Data[0] != &p.Buffer()[Headroom] {
		t.Fatal("New/Load: Data is not the datagram at Headroom")
	}
	n := p.Parsed.Decode(p.Data)
	if n != len(pktUDP) {
		t.Fatalf("Decode = %d", n)
	}
	if !bytes.Equal(p.L4(), pktUDP[20:]) {
		t.Fatal("L4")
	}
	if p.Src().String() != "192.168.1.10" || p.Dst().String() != "198.51.100.20" {
		t.Fatalf("Src %v Dst %v", p.Src(), p.Dst())
	}
	if p.IP().TotalLength() != uint16(len(pktUDP)) {
		t.Fatal("IP view")
	}
	// A device writes at Headroom and calls SetData.
	copy(p.Buffer()[Headroom:], pktEcho)
	p.SetData(len(pktEcho))
	if !bytes.Equal(p.Data, pktEcho) {
		t.Fatal("SetData")
	}
	p.Reset()
	if p.Data != nil || p.InIf != NoIf || len(p.Buffer()) != Headroom+MaxSize {
		t.Fatal("Reset")
	}
}

func TestNames(t *testing.T) {
	for h := HookNone + 1; h < Hook(NumHooks); h++ {
		got, ok := ParseHook(h.String())
		if !ok || got != h {
			t.Errorf("ParseHook(%q) = %v, %v", h.String(), got, ok)
		}
		if !h.Mask().Has(h) || h.Mask().Has(h%Hook(NumHooks-1)+1) {
			t.Errorf("Mask of %v", h)
		}
	}
	if _, ok := ParseHook("none"); ok {
		t.Error(`ParseHook("none") ok`)
	}
	for s := CTNone + 1; s <= CTUntracked; s++ {
		got, ok := ParseCTState(s.String())
		if !ok || got != s {
			t.Errorf("ParseCTState(%q) = %v, %v", s.String(), got, ok)
		}
	}
	for _, tt := range []struct {
		p    Proto
		want string
	}{{Unknown, "unknown"}, {TCP, "tcp"}, {UDP, "udp"}, {ICMP, "icmp"}, {OtherProto, "other"}, {Fragment, "fragment"}} {
		if tt.p.String() != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.p, tt.p.String(), tt.want)
		}
	}
}
