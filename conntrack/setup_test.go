package conntrack

import (
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// testRoute forwards everything out of interface 0.
type testRoute struct{}

func (testRoute) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test_conntrack_route", New: func() pipeline.Module { return testRoute{} }}
}
func (testRoute) Name() string { return "route" }
func (testRoute) Process(pkt *packet.Packet) pipeline.Verdict {
	pkt.Hook = packet.Forward
	pkt.OutIf = 0
	return pipeline.Continue
}

// testFilter drops TCP to port 23 and marks UDP to port 9 untracked (as a
// raw notrack rule would, before conntrack).
type testFilter struct{}

func (testFilter) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test_conntrack_filter", New: func() pipeline.Module { return testFilter{} }}
}
func (testFilter) Name() string { return "filter" }
func (testFilter) Process(pkt *packet.Packet) pipeline.Verdict {
	if pkt.Parsed.DstPort == 23 {
		pkt.Drop = packet.DropPolicy
		return pipeline.Drop
	}
	return pipeline.Continue
}

type testRaw struct{}

func (testRaw) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.test_conntrack_raw", New: func() pipeline.Module { return testRaw{} }}
}
func (testRaw) Name() string { return "raw" }
func (testRaw) Process(pkt *packet.Packet) pipeline.Verdict {
	if pkt.Parsed.DstPort == 9 {
		pkt.CTState = packet.CTUntracked
	}
	return pipeline.Continue
}

func init() {
	pipeline.Register(testRoute{})
	pipeline.Register(testFilter{})
	pipeline.Register(testRaw{})
}

type sink struct{ delivered, discarded []*packet.Packet }

func (s *sink) Deliver(p *packet.Packet)                     { s.delivered = append(s.delivered, p) }
func (s *sink) Discard(p *packet.Packet, _ pipeline.Verdict) { s.discarded = append(s.discarded, p) }

// TestPipeline builds a small pipeline with the registered stages: a
// packet the rules drop leaves no entry, accepted ones are confirmed at
// POSTROUTING, both stages share one table, and untracked packets are
// left alone.
func TestPipeline(t *testing.T) {
	cfg := config.Default()
	cfg.Conntrack.Timeouts.UDP = 10 * time.Second
	clk := pipeline.NewVirtual(epoch)
	env := &pipeline.Env{Config: cfg, Clock: clk, Pool: packet.NewPool()}
	order := []pipeline.Slot{
		{Hook: packet.Prerouting, ID: "stage.test_conntrack_raw"},
		{Hook: packet.Prerouting, ID: "stage.conntrack"},
		{Hook: packet.Prerouting, ID: "stage.test_conntrack_route"},
		{Hook: packet.Forward, ID: "stage.test_conntrack_filter"},
		{Hook: packet.Output, ID: "stage.conntrack"},
		{Hook: packet.Postrouting, ID: "stage.confirm"},
	}
	p, err := pipeline.Build(env, order)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	tab, err := FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if tab.timeout.udp != int64(10*time.Second) {
		t.Fatal("the table did not take the configured timeouts")
	}
	out := &sink{}
	r := p.NewRunner(out)
	batch := []*packet.Packet{
		decode(t, buildTCP(cliAddr, srvAddr, 40000, 23, fSYN, 1, 0, 1000, nil, 0)), // dropped by the filter
		decode(t, buildTCP(cliAddr, srvAddr, 40000, 80, fSYN, 1, 0, 1000, nil, 0)), // accepted
		decode(t, buildUDP(cliAddr, srvAddr, 5000, 9, 8)),                          // notrack
		decode(t, buildTCP(cliAddr, srvAddr, 40000, 81, fSYN|fFIN, 1, 0, 1000, nil, 0)),
	}
	r.Run(batch)
	if len(out.delivered) != 3 || len(out.discarded) != 1 {
		t.Fatalf("delivered %d discarded %d", len(out.delivered), len(out.discarded))
	}
	if tab.Count() != 1 {
		t.Fatalf("%d entries, want 1 (the dropped SYN must leave none)", tab.Count())
	}
	if batch[1].CTState != packet.CTNew || batch[1].CT.(*Conn).Confirmed() != true {
		t.Fatalf("accepted SYN: %v", batch[1].CTState)
	}
	if batch[2].CTState != packet.CTUntracked || batch[2].CT != nil {
		t.Fatalf("notrack: %v", batch[2].CTState)
	}
	if batch[3].CTState != packet.CTInvalid {
		t.Fatalf("syn+fin: %v", batch[3].CTState)
	}
	// The SYN/ACK comes back through the same table.
	r.Run([]*packet.Packet{decode(t, buildTCP(srvAddr, cliAddr, 80, 40000, fSYN|fACK, 9, 2, 1000, nil, 0))})
	if e := tab.Entries(); len(e) != 1 || e[0].State != TCPSynRecv {
		t.Fatalf("entries %+v", e)
	}
	if got := p.Stages(); len(got) != 6 {
		t.Fatalf("stages %v", got)
	}
}

// TestAttach: an ICMP error fwd makes about a packet the rules reject is
// RELATED to that packet's (unconfirmed) connection, passes the
// conntrack stage untouched, and confirms nothing.
func TestAttach(t *testing.T) {
	tab, _ := newTestTable(t, nil)
	st := &Stage{t: tab}
	cs := &ConfirmStage{t: tab}
	syn := decode(t, buildTCP(cliAddr, srvAddr, 40000, 23, fSYN, 1, 0, 1000, nil, 0))
	st.Process(syn)
	if syn.CTState != packet.CTNew {
		t.Fatal(syn.CTState)
	}
	// The rules reject syn; icmperr answers it.
	b := make([]byte, 600)
	n := header.BuildICMPError(b, srvAddr, header.ICMPDestUnreach, header.ICMPAdminProhibited, 0, header.IPv4(syn.Data))
	ans := decode(t, b[:n])
	ans.Hook = packet.Output
	Attach(ans, syn)
	if v := st.Process(ans); v != pipeline.Continue || ans.CTState != packet.CTRelated || !ans.CTReply || ans.CT != syn.CT {
		t.Fatalf("answer: %v %v reply=%v", v, ans.CTState, ans.CTReply)
	}
	cs.Process(ans)
	if tab.Count() != 0 {
		t.Fatal("the answer confirmed the rejected connection")
	}
}
