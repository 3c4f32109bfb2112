package ipfrag

import (
	"bytes"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	"fwd/header"
	"fwd/icmperr"
	"fwd/packet"
	"fwd/pipeline"
)

// optCopied is a router alert (copy flag set); optNotCopied a record
// route (copy flag clear), padded with a NOP.
var (
	optCopied    = []byte{0x94, 4, 0, 0}
	optNotCopied = []byte{0x07, 7, 4, 0, 0, 0, 0, header.IPv4OptNOP}
)

// mkDatagram builds a whole datagram with n payload bytes, the given
// options and flags.
func mkDatagram(rng *rand.Rand, n int, opts []byte, flags uint16) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl+n)
	header.IPv4(b).Encode(&header.IPv4Fields{TOS: 0x10, TotalLength: uint16(hl + n), ID: uint16(rng.Intn(65536)),
		Flags: flags, TTL: 33, Protocol: header.ProtoUDP, Src: tSrc, Dst: tDst, Options: opts})
	rng.Read(b[hl:])
	if n >= 8 {
		// A valid UDP header (no checksum) so the datagram parses.
		header.UDP(b[hl:]).Encode(uint16(rng.Intn(65536)), 9, uint16(n))
	}
	return b
}

func bufs(n, size int) [][]byte {
	d := make([][]byte, n)
	for i := range d {
		d[i] = make([]byte, size)
	}
	return d
}

func TestFragmentRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 400; i++ {
		var opts []byte
		switch i % 3 {
		case 1:
			opts = optCopied
		case 2:
			opts = append(append([]byte{}, optNotCopied...), optCopied...)
		}
		mtu := 68 + rng.Intn(9000-68+1)
		maxPayload := 65535 - 20 - len(opts)
		n := 1 + rng.Intn(maxPayload)
		if i%4 == 0 {
			n = 1 + rng.Intn(3*mtu) // mostly a few fragments
		}
		var flags uint16
		if i%5 == 0 {
			flags = header.IPv4FlagDF
		}
		dg := mkDatagram(rng, n, opts, flags)
		want := Count(dg, mtu)
		dst := bufs(want+1, mtu)
		got := Fragment(dst, dg, mtu)
		if len(dg) <= mtu {
			if got != 0 || want != 1 {
				t.Fatalf("fits: Fragment %d Count %d", got, want)
			}
			continue
		}
		if got != want || got < 2 {
			t.Fatalf("size %d mtu %d: %d fragments, Count %d", len(dg), mtu, got, want)
		}
		hl := 20 + len(opts)
		copiedHL := 20
		if len(opts) > 0 {
			copiedHL = 24
		}
		r := New(Config{MaxFrags: 1 << 16, HighThresh: 1 << 30})
		order := rng.Perm(got)
		var whole []byte
		for k, j := range order {
			f := dst[j]
			ip := header.IPv4(f)
			if ip.Validate() != header.ReasonNone || len(f) > mtu || int(ip.TotalLength()) != len(f) {
				t.Fatalf("fragment %d invalid (len %d mtu %d)", j, len(f), mtu)
			}
			wantHL := copiedHL
			if j == 0 {
				wantHL = hl
			}
			if ip.HeaderLength() != wantHL {
				t.Fatalf("fragment %d header %d want %d", j, ip.HeaderLength(), wantHL)
			}
			if j > 0 && len(opts) > 0 && !bytes.Equal(ip.Options(), optCopied) {
				t.Fatalf("fragment %d options %x", j, ip.Options())
			}
			if ip.More() != (j < got-1) || ip.DontFragment() != (flags != 0) || ip.ID() != header.IPv4(dg).ID() {
				t.Fatalf("fragment %d flags %#x", j, ip.FlagsFragmentOffset())
			}
			if j < got-1 && len(ip.Payload())%8 != 0 {
				t.Fatalf("fragment %d payload %d", j, len(ip.Payload()))
			}
			out := make([]byte, 65536)
			nn, mx, st, why := r.Add(int64(k), f, 0, out)
			if st == Dropped {
				t.Fatalf("fragment %d dropped: %v", j, why)
			}
			if st == Done {
				whole = out[:nn]
				if mx > mtu {
					t.Fatalf("max fragment %d > mtu %d", mx, mtu)
				}
			}
		}
		if !bytes.Equal(whole, dg) {
			t.Fatalf("round trip differs: size %d mtu %d opts %d", len(dg), mtu, len(opts))
		}
	}
}

func TestFragmentGopacket(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	dg := mkDatagram(rng, 3000, optCopied, 0)
	dst := bufs(4, 1500)
	n := Fragment(dst, dg, 1500)
	if n != 3 {
		t.Fatalf("%d fragments", n)
	}
	off := 0
	for i, f := range dst[:n] {
		p := gopacket.NewPacket(f, layers.LayerTypeIPv4, gopacket.Default)
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok || p.ErrorLayer() != nil {
			t.Fatalf("fragment %d: gopacket cannot decode", i)
		}
		if int(ip.FragOffset)*8 != off || (ip.Flags&layers.IPv4MoreFragments != 0) != (i < n-1) {
			t.Fatalf("fragment %d: off %d flags %v", i, ip.FragOffset, ip.Flags)
		}
		if header.Checksum(f[:ip.IHL*4], 0) != 0xffff {
			t.Fatalf("fragment %d: checksum", i)
		}
		off += len(ip.Payload)
	}
	if off != 3000 {
		t.Fatalf("payload total %d", off)
	}
}

func TestFragmentRefuses(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	dg := mkDatagram(rng, 3000, nil, 0)
	tests := []struct {
		name string
		dst  [][]byte
		dg   []byte
		mtu  int
	}{
		{"fits", bufs(4, 4000), dg, 3100},
		{"too few buffers", bufs(2, 1500), dg, 1500},
		{"buffer too small", append(bufs(2, 1500), make([]byte, 100)), dg, 1500},
		{"mtu below 8 bytes of data", bufs(500, 100), dg, 27},
		{"malformed", bufs(4, 1500), dg[:10], 1500},
		{"total length beyond the slice", bufs(4, 1500), dg[:2000], 1500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := Fragment(tc.dst, tc.dg, tc.mtu); n != 0 {
				t.Fatalf("wrote %d", n)
			}
		})
	}
	// 68 always works, even with 40 bytes of copied options.
	opts := bytes.Repeat(optCopied, 10)
	big := mkDatagram(rng, 200, opts, 0)
	if n := Fragment(bufs(64, 68), big, 68); n != 25 {
		t.Fatalf("mtu 68 with 40 bytes of options: %d fragments", n)
	}
}

func TestFragmentNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	dg := mkDatagram(rng, 8980, optCopied, 0)
	dst := bufs(8, 1500)
	if a := testing.AllocsPerRun(100, func() { Fragment(dst, dg, 1500) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func BenchmarkFragment(b *testing.B) {
	rng := rand.New(rand.NewSource(7))
	dg := mkDatagram(rng, 8980, nil, 0)
	dst := bufs(8, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for i := 0; i < b.N; i++ {
		if Fragment(dst, dg, 1500) != 7 {
			b.Fatal("fragments")
		}
	}
}

// collect is a pipeline.Injector that keeps what it is given.
type collect struct {
	pool *packet.Pool
	got  []*packet.Packet
}

func (c *collect) NewPacket() *packet.Packet { return c.pool.Get() }
func (c *collect) Inject(p *packet.Packet)   { c.got = append(c.got, p) }

func testEnv() *pipeline.Env {
	c := config.Default()
	c.Interfaces = []config.Interface{
		{Index: 0, Name: "lan", Addr: netip.MustParsePrefix("192.168.1.1/24"), MTU: 1500},
		{Index: 1, Name: "wan", Addr: netip.MustParsePrefix("203.0.113.2/24"), MTU: 576},
	}
	return &pipeline.Env{Config: c, Clock: pipeline.NewVirtual(time.Unix(5000, 0)), Pool: packet.NewPool()}
}

func parsed(t *testing.T, b []byte, inIf int16) *packet.Packet {
	t.Helper()
	p := packet.New(b)
	if p.Parsed.Decode(p.Data) == 0 {
		t.Fatalf("invalid: %v", p.Parsed.Reason)
	}
	p.InIf = inIf
	return p
}

func TestMTUStage(t *testing.T) {
	env := testEnv()
	g := icmperr.Install(env)
	st := new(MTU)
	if err := st.Provision(&pipeline.Context{Env: env, Hook: packet.Postrouting}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(8))
	tests := []struct {
		name    string
		size    int
		flags   uint16
		maxFrag uint16
		want    pipeline.Verdict
	}{
		{"fits", 556, header.IPv4FlagDF, 0, pipeline.Continue},
		{"DF too big", 1000, header.IPv4FlagDF, 0, pipeline.Reject},
		{"no DF too big: the egress fragments", 1000, 0, 0, pipeline.Continue},
		{"reassembled, fragments fit", 3000, header.IPv4FlagDF, 500, pipeline.Continue},
		{"reassembled, fragments too big", 3000, header.IPv4FlagDF, 1000, pipeline.Reject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parsed(t, mkDatagram(rng, tc.size-20, nil, tc.flags), 0)
			p.OutIf = 1
			p.MaxFrag = tc.maxFrag
			v := st.Process(p)
			if v != tc.want {
				t.Fatalf("verdict %v", v)
			}
			if v != pipeline.Reject {
				return
			}
			if p.Drop != packet.DropMTU || p.RejectWith != packet.RejectFragNeeded {
				t.Fatalf("%v %v", p.Drop, p.RejectWith)
			}
			inj := &collect{pool: env.Pool}
			env.Rejecter(p, inj)
			if len(inj.got) != 1 {
				t.Fatal("no answer")
			}
			e := inj.got[0].Data
			ic := header.ICMPv4(e[20:])
			if ic.Type() != header.ICMPDestUnreach || ic.Code() != header.ICMPFragNeeded || ic.MTU() != 576 {
				t.Fatalf("type %d code %d mtu %d", ic.Type(), ic.Code(), ic.MTU())
			}
			if header.IPv4(e).SourceAddress() != [4]byte{192, 168, 1, 1} || header.IPv4(e).DestinationAddress() != tSrc {
				t.Fatal("addresses")
			}
		})
	}
	if g.Sent.Load() != 2 {
		t.Fatalf("sent %d", g.Sent.Load())
	}
	if EgressSize(&packet.Packet{MaxFrag: 500}, 1500) != 500 || EgressSize(&packet.Packet{}, 1500) != 1500 ||
		EgressSize(&packet.Packet{MaxFrag: 9000}, 1500) != 1500 {
		t.Fatal("EgressSize")
	}
}

func TestMTUStageKernelRoutes(t *testing.T) {
	// NFQUEUE mode: a GSO super-packet (64 000 bytes, DF) bound for the
	// 576-byte interface passes; the kernel segments it after the verdict.
	env := testEnv()
	env.KernelRoutes = true
	icmperr.Install(env)
	st := new(MTU)
	if err := st.Provision(&pipeline.Context{Env: env, Hook: packet.Postrouting}); err != nil {
		t.Fatal(err)
	}
	p := parsed(t, mkDatagram(rand.New(rand.NewSource(9)), 64000, nil, header.IPv4FlagDF), 0)
	p.OutIf = 1
	if v := st.Process(p); v != pipeline.Continue || p.Drop != packet.DropNone {
		t.Fatalf("verdict %v, drop %v; want continue", v, p.Drop)
	}
}

func TestDefragStage(t *testing.T) {
	env := testEnv()
	env.Config.Fragments.Timeout = 10 * time.Second
	icmperr.Install(env)
	d := new(Defrag)
	if err := d.Provision(&pipeline.Context{Env: env, Hook: packet.Prerouting}); err != nil {
		t.Fatal(err)
	}
	clk := env.Clock.(*pipeline.Virtual)
	rng := rand.New(rand.NewSource(9))

	// A whole datagram passes untouched.
	p := parsed(t, mkDatagram(rng, 100, nil, 0), 0)
	if d.Process(p) != pipeline.Continue || p.MaxFrag != 0 {
		t.Fatal("whole datagram")
	}

	// Fragments are stolen; the last one comes out whole, in its own
	// buffer, with MaxFrag and a fresh parse.
	dg := mkDatagram(rng, 2000, nil, 0)
	frags := bufs(3, 1000)
	n := Fragment(frags, dg, 1000)
	var last *packet.Packet
	for i := n - 1; i >= 0; i-- {
		last = parsed(t, frags[i], 0)
		v := d.Process(last)
		if i > 0 && v != pipeline.Stolen {
			t.Fatalf("fragment %d: %v", i, v)
		}
		if i == 0 && v != pipeline.Continue {
			t.Fatalf("last: %v %v", v, last.Drop)
		}
	}
	if !bytes.Equal(last.Data, dg) || last.MaxFrag != 996 || last.Parsed.Proto != packet.UDP || last.Parsed.Length != 2020 {
		t.Fatalf("reassembled %d bytes, maxfrag %d, proto %v", len(last.Data), last.MaxFrag, last.Parsed.Proto)
	}
	if &last.Data[0] != &last.Buffer()[packet.Headroom] {
		t.Fatal("not rewritten in place")
	}

	// A bad fragment is dropped under its reason.
	bad := parsed(t, mkFrag(1, 0, true, fill('x', 12)), 0)
	if d.Process(bad) != pipeline.Drop || bad.Drop != packet.DropFragBadLength {
		t.Fatalf("bad fragment: %v", bad.Drop)
	}

	// Expiry: the datagram to fwd's own address with its first fragment
	// is answered on Tick with time exceeded code 1; one in transit is not.
	toUs := mkDatagram(rng, 3000, nil, 0)
	header.IPv4(toUs).SetDestinationAddressWithChecksumUpdate([4]byte{192, 168, 1, 1})
	transit := mkDatagram(rng, 3000, nil, 0)
	for _, dgm := range [][]byte{toUs, transit} {
		fr := bufs(4, 1500)
		Fragment(fr, dgm, 1500)
		d.Process(parsed(t, fr[0], 0)) // first fragment only
	}
	inj := &collect{pool: env.Pool}
	d.Tick(clk.Now(), inj)
	if len(inj.got) != 0 {
		t.Fatal("answered before the timeout")
	}
	clk.Advance(10 * time.Second)
	d.Tick(clk.Now(), inj)
	if len(inj.got) != 1 {
		t.Fatalf("%d answers, want 1", len(inj.got))
	}
	e := inj.got[0].Data
	ic := header.ICMPv4(header.IPv4(e).Payload())
	if ic.Type() != header.ICMPTimeExceeded || ic.Code() != header.ICMPReassemblyTimeout ||
		header.IPv4(e).DestinationAddress() != tSrc || header.IPv4(e).SourceAddress() != [4]byte{192, 168, 1, 1} {
		t.Fatalf("answer type %d code %d", ic.Type(), ic.Code())
	}
	if q := header.IPv4(ic.Payload()); q.ID() != header.IPv4(toUs).ID() || !q.More() || len(e) != 576 {
		t.Fatalf("quote: id %d, total %d", q.ID(), len(e))
	}
	if d.Reassembler().Drops()[packet.DropFragTimeout] != 2 || d.Reassembler().Queues() != 0 {
		t.Fatal("expiry counters")
	}
}

func TestDefragStageNoAllocs(t *testing.T) {
	env := testEnv()
	d := new(Defrag)
	if err := d.Provision(&pipeline.Context{Env: env, Hook: packet.Prerouting}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(10))
	dg := mkDatagram(rng, 2000, nil, 0)
	frags := bufs(3, 1500)
	n := Fragment(frags, dg, 1500)
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New(frags[i])
	}
	run := func() {
		for i, p := range pkts {
			p.Load(frags[i])
			p.Parsed.Decode(p.Data)
			d.Process(p)
		}
	}
	run()
	if a := testing.AllocsPerRun(200, run); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func TestConfigFrom(t *testing.T) {
	c := config.Default()
	c.Fragments.Overlap = "windows"
	cfg, err := ConfigFrom(c)
	if err != nil || cfg.Policy != PolicyWindows || cfg.Timeout != 30*time.Second || cfg.HighThresh != 4<<20 || cfg.MaxFrags != 64 {
		t.Fatalf("%+v %v", cfg, err)
	}
	c.Fragments.Overlap = "macos"
	if _, err := ConfigFrom(c); err == nil {
		t.Fatal("unknown policy accepted")
	}
	r := New(Config{HighThresh: 1000})
	if r.Config().LowThresh != 750 {
		t.Fatalf("low threshold %d", r.Config().LowThresh)
	}
}

func TestReload(t *testing.T) {
	env := testEnv()
	r, err := FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig2(env)
	c.Fragments.Overlap = "last"
	c.Fragments.Timeout = time.Second
	c.Interfaces[1].MTU = 1280
	m := new(MTU)
	m.Provision(&pipeline.Context{Env: env})
	commit, err := reloader{r}.PrepareReload(c)
	if err != nil {
		t.Fatal(err)
	}
	commitMTU, _ := m.PrepareReload(c)
	commit()
	commitMTU()
	if r.Config().Policy != PolicyLast || r.Config().Timeout != time.Second || (*m.mtu.Load())[1] != 1280 {
		t.Fatalf("%+v %v", r.Config(), *m.mtu.Load())
	}
	c.Fragments.Overlap = "nope"
	if _, err := (reloader{r}).PrepareReload(c); err == nil {
		t.Fatal("bad policy accepted on reload")
	}
}

func testConfig2(env *pipeline.Env) *config.Config {
	c := *env.Config
	c.Interfaces = append([]config.Interface(nil), env.Config.Interfaces...)
	return &c
}
