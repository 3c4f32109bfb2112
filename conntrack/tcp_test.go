package conntrack

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"fwd/header"
	"fwd/packet"
)

// step is one segment of a scripted TCP exchange and what must hold
// after it.
type step struct {
	name    string
	dir     int
	flags   uint8
	seq     uint32
	ack     uint32
	win     uint16
	n       int
	opts    []byte
	advance time.Duration // clock moves this much before the packet

	ct      packet.CTState
	state   TCPState
	timeout int64 // seconds left; -1: do not check
	ep      [2]EndpointState
	status  packet.CTStatus // bits that must be set
	gone    bool            // the entry must not exist afterwards
	zwin    bool            // send a zero window (win 0 means "default")
}

func runSteps(t *testing.T, f *tflow, steps []step) {
	t.Helper()
	for i, s := range steps {
		f.clk.Advance(s.advance)
		win := s.win
		if win == 0 && s.flags&fRST == 0 && !s.zwin {
			win = 65535
		}
		pkt := f.send(s.dir, s.flags, s.seq, s.ack, win, s.n, s.opts)
		if pkt.CTState != s.ct {
			t.Fatalf("step %d %s: ctstate %v, want %v (%s)", i, s.name, pkt.CTState, s.ct, pkt.Note)
		}
		if s.ct != packet.CTInvalid && pkt.CTReply != (s.dir == Reply) {
			t.Errorf("step %d %s: CTReply %v", i, s.name, pkt.CTReply)
		}
		e, ok := f.entry()
		if s.gone {
			if ok {
				t.Fatalf("step %d %s: entry still there: %v", i, s.name, e.State)
			}
			continue
		}
		if !ok {
			t.Fatalf("step %d %s: no entry", i, s.name)
		}
		if e.State != s.state {
			t.Errorf("step %d %s: state %v, want %v", i, s.name, e.State, s.state)
		}
		if s.timeout >= 0 {
			if got := e.Timeout(f.clk.Now()); got != s.timeout {
				t.Errorf("step %d %s: timeout %d, want %d", i, s.name, got, s.timeout)
			}
		}
		if s.ep != [2]EndpointState{} && e.Endpoint != s.ep {
			t.Errorf("step %d %s: endpoints %v/%v, want %v/%v", i, s.name, e.Endpoint[0], e.Endpoint[1], s.ep[0], s.ep[1])
		}
		if e.Status&s.status != s.status {
			t.Errorf("step %d %s: status %v lacks %v", i, s.name, StatusNames(e.Status), StatusNames(s.status))
		}
	}
}

const (
	O = Original
	R = Reply
)

var (
	ctNew = packet.CTNew
	ctEst = packet.CTEstablished
	ctInv = packet.CTInvalid
	seen  = packet.CTStatusSeenReply
	assd  = packet.CTStatusAssured | packet.CTStatusSeenReply
	ep    = func(a, b EndpointState) [2]EndpointState { return [2]EndpointState{a, b} }
)

func handshake() []step {
	return []step{
		{name: "syn", dir: O, flags: fSYN, seq: 1000, opts: tcpOpts(7, true), ct: ctNew, state: TCPSynSent, timeout: 120, ep: ep(EPSynSent, EPListen)},
		{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, opts: tcpOpts(7, true), ct: ctEst, state: TCPSynRecv, timeout: 60, ep: ep(EPEstablished, EPSynRcvd), status: seen},
		{name: "ack", dir: O, flags: fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPEstablished, timeout: 432000, ep: ep(EPEstablished, EPEstablished), status: assd},
	}
}

func cat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestTCPScripts(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"handshake data teardown", cat(handshake(), []step{
			{name: "data", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "ack data", dir: R, flags: fACK, seq: 5001, ack: 1101, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "answer", dir: R, flags: fPSH | fACK, seq: 5001, ack: 1101, n: 200, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "ack answer", dir: O, flags: fACK, seq: 1101, ack: 5201, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "fin", dir: O, flags: fFIN | fACK, seq: 1101, ack: 5201, ct: ctEst, state: TCPFinWait, timeout: 120, ep: ep(EPFinWait1, EPCloseWait)},
			{name: "ack fin", dir: R, flags: fACK, seq: 5201, ack: 1102, ct: ctEst, state: TCPCloseWait, timeout: 60, ep: ep(EPFinWait2, EPCloseWait)},
			{name: "fin back", dir: R, flags: fFIN | fACK, seq: 5201, ack: 1102, ct: ctEst, state: TCPLastAck, timeout: 30, ep: ep(EPTimeWait, EPLastAck)},
			{name: "last ack", dir: O, flags: fACK, seq: 1102, ack: 5202, ct: ctEst, state: TCPTimeWait, timeout: 120, ep: ep(EPTimeWait, EPClosed), status: assd},
		})},
		{"simultaneous open", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, opts: tcpOpts(2, true), ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn from server", dir: R, flags: fSYN, seq: 5000, opts: tcpOpts(2, true), ct: ctEst, state: TCPSynSent2, timeout: 120, status: seen},
			{name: "syn+ack from client", dir: O, flags: fSYN | fACK, seq: 1000, ack: 5001, opts: tcpOpts(2, true), ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "syn+ack from server", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, opts: tcpOpts(2, true), ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack from server", dir: R, flags: fACK, seq: 5001, ack: 1001, ct: ctEst, state: TCPEstablished, timeout: 432000, ep: ep(EPEstablished, EPEstablished)},
			{name: "ack from client", dir: O, flags: fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPEstablished, timeout: 432000, status: assd},
		}},
		{"simultaneous close through CLOSING", cat(handshake(), []step{
			{name: "fin client", dir: O, flags: fFIN | fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPFinWait, timeout: 120, ep: ep(EPFinWait1, EPCloseWait)},
			{name: "fin server (crossed)", dir: R, flags: fFIN | fACK, seq: 5001, ack: 1001, ct: ctEst, state: TCPLastAck, timeout: 30, ep: ep(EPClosing, EPClosing)},
			{name: "ack of server fin", dir: O, flags: fACK, seq: 1002, ack: 5002, ct: ctEst, state: TCPTimeWait, timeout: 120, ep: ep(EPClosing, EPTimeWait)},
			{name: "ack of client fin", dir: R, flags: fACK, seq: 5002, ack: 1002, ct: ctEst, state: TCPTimeWait, timeout: 120, ep: ep(EPTimeWait, EPTimeWait)},
		})},
		{"half close with data after first fin", cat(handshake(), []step{
			{name: "fin client", dir: O, flags: fFIN | fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPFinWait, timeout: 120},
			{name: "ack fin", dir: R, flags: fACK, seq: 5001, ack: 1002, ct: ctEst, state: TCPCloseWait, timeout: 60, ep: ep(EPFinWait2, EPCloseWait)},
			{name: "server data", dir: R, flags: fPSH | fACK, seq: 5001, ack: 1002, n: 1000, ct: ctEst, state: TCPCloseWait, timeout: 60},
			{name: "client acks data", dir: O, flags: fACK, seq: 1002, ack: 6001, ct: ctEst, state: TCPCloseWait, timeout: 60},
			{name: "more server data", dir: R, flags: fPSH | fACK, seq: 6001, ack: 1002, n: 1000, ct: ctEst, state: TCPCloseWait, timeout: 60},
			{name: "server fin", dir: R, flags: fFIN | fACK, seq: 7001, ack: 1002, ct: ctEst, state: TCPLastAck, timeout: 30, ep: ep(EPTimeWait, EPLastAck)},
			{name: "client last ack", dir: O, flags: fACK, seq: 1002, ack: 7002, ct: ctEst, state: TCPTimeWait, timeout: 120},
		})},
		{"rst in window exact", cat(handshake(), []step{
			{name: "rst", dir: R, flags: fRST | fACK, seq: 5001, ack: 1001, ct: ctEst, state: TCPClose, timeout: 10, ep: ep(EPClosed, EPClosed)},
		})},
		{"rst in window inexact keeps state", cat(handshake(), []step{
			{name: "data", dir: R, flags: fPSH | fACK, seq: 5001, ack: 1001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "rst ahead", dir: R, flags: fRST, seq: 5101 + 3000, ct: ctEst, state: TCPEstablished, timeout: -1},
			{name: "rst exact", dir: O, flags: fRST, seq: 1001, ct: ctEst, state: TCPClose, timeout: 10},
		})},
		{"rst out of window is invalid", cat(handshake(), []step{
			{name: "forged rst", dir: R, flags: fRST | fACK, seq: 5001 + 1<<30, ack: 1001, ct: ctInv, state: TCPEstablished, timeout: 432000},
			{name: "rst behind maxack", dir: R, flags: fRST, seq: 4000, ct: ctInv, state: TCPEstablished, timeout: 432000},
			{name: "data still flows", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 10, ct: ctEst, state: TCPEstablished, timeout: 300},
		})},
		{"rst train after data", cat(handshake(), []step{
			{name: "client data", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 10, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "server data", dir: R, flags: fPSH | fACK, seq: 5001, ack: 1011, n: 19, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "rst right after", dir: R, flags: fRST | fACK, seq: 5020, ack: 1011, ct: ctEst, state: TCPClose, timeout: 10},
		})},
		{"syn retransmit does not refresh", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn again", advance: 3 * time.Second, dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 117},
			{name: "syn third", advance: 6 * time.Second, dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 111},
			{name: "expired", advance: 112 * time.Second, dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
		}},
		{"lost third ack, data instead", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "data (third ack lost)", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 500, ct: ctEst, state: TCPEstablished, timeout: 300, status: assd},
			{name: "server acks", dir: R, flags: fACK, seq: 5001, ack: 1501, ct: ctEst, state: TCPEstablished, timeout: 432000, ep: ep(EPEstablished, EPEstablished)},
		}},
		{"old duplicate syn in SYN_RECV", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "old syn", advance: time.Second, dir: O, flags: fSYN, seq: 400, ct: ctEst, state: TCPSynRecv, timeout: 59},
			{name: "ack", dir: O, flags: fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPEstablished, timeout: 432000, status: assd},
		}},
		{"synack acking an unknown syn is invalid", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "bogus syn+ack (old incarnation)", dir: R, flags: fSYN | fACK, seq: 4000, ack: 1001 + 100000, ct: ctInv, state: TCPSynSent, timeout: 120},
			{name: "syn retransmit", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "right syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack", dir: O, flags: fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPEstablished, timeout: 432000, status: assd},
		}},
		{"rfc5961 challenge ack to a new syn", cat(handshake(), []step{
			// The client forgot the old connection and opens a new one.
			{name: "new syn", dir: O, flags: fSYN, seq: 90000, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "challenge ack", dir: R, flags: fACK, seq: 5001, ack: 1001, ct: ctEst, state: TCPEstablished, timeout: -1},
			{name: "client rst", dir: O, flags: fRST, seq: 1001, ct: ctEst, state: TCPClose, timeout: 10},
			{name: "syn again", dir: O, flags: fSYN, seq: 90000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 70000, ack: 90001, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack", dir: O, flags: fACK, seq: 90001, ack: 70001, ct: ctEst, state: TCPEstablished, timeout: 432000, status: assd},
		})},
		{"ignored syn resynchronised by syn+ack", cat(handshake(), []step{
			{name: "new syn while established", dir: O, flags: fSYN, seq: 90000, opts: tcpOpts(3, true), ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "syn+ack for it", dir: R, flags: fSYN | fACK, seq: 70000, ack: 90001, opts: tcpOpts(3, true), ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack", dir: O, flags: fACK, seq: 90001, ack: 70001, ct: ctEst, state: TCPEstablished, timeout: 432000},
		})},
		{"challenge ack in LAST_ACK is not the last ack", cat(handshake(), []step{
			{name: "fin", dir: O, flags: fFIN | fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPFinWait, timeout: 120},
			{name: "fin back", dir: R, flags: fFIN | fACK, seq: 5001, ack: 1002, ct: ctEst, state: TCPLastAck, timeout: 30},
			{name: "spurious syn", dir: O, flags: fSYN, seq: 777777, ct: ctEst, state: TCPLastAck, timeout: 30},
			{name: "challenge ack", dir: R, flags: fACK, seq: 5002, ack: 1002, ct: ctEst, state: TCPLastAck, timeout: 30},
		})},
		{"rst as the only answer deletes the entry", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "rst", dir: R, flags: fRST | fACK, seq: 0, ack: 1001, ct: ctEst, gone: true},
		}},
		{"window overshoot within the window is let through", []step{
			{name: "syn", dir: O, flags: fSYN, seq: 1000, win: 1000, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, win: 1000, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack", dir: O, flags: fACK, seq: 1001, ack: 5001, win: 1000, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "fill the window", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, win: 1000, n: 900, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "a bit more", dir: O, flags: fPSH | fACK, seq: 1901, ack: 5001, win: 1000, n: 500, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "beyond the window", dir: O, flags: fPSH | fACK, seq: 2401, ack: 5001, win: 1000, n: 500, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "server acks all", dir: R, flags: fACK, seq: 5001, ack: 2901, win: 1000, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "far beyond is invalid", dir: O, flags: fPSH | fACK, seq: 2901 + 5000, ack: 5001, win: 1000, n: 100, ct: ctInv, state: TCPEstablished, timeout: 432000},
		}},
		{"ack of unseen data is invalid", cat(handshake(), []step{
			{name: "ack beyond", dir: R, flags: fACK, seq: 5001, ack: 1001 + 5000, ct: ctInv, state: TCPEstablished, timeout: 432000},
		})},
		{"retransmission of acked data is not invalid", cat(handshake(), []step{
			{name: "data", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 1400, ct: ctEst, state: TCPEstablished, timeout: 300},
			{name: "ack", dir: R, flags: fACK, seq: 5001, ack: 2401, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "old retransmit", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 1400, ct: ctEst, state: TCPEstablished, timeout: 432000},
		})},
		{"reopen from TIME_WAIT", cat(handshake(), []step{
			{name: "fin", dir: O, flags: fFIN | fACK, seq: 1001, ack: 5001, ct: ctEst, state: TCPFinWait, timeout: 120},
			{name: "fin+ack back", dir: R, flags: fFIN | fACK, seq: 5001, ack: 1002, ct: ctEst, state: TCPLastAck, timeout: 30},
			{name: "last ack", dir: O, flags: fACK, seq: 1002, ack: 5002, ct: ctEst, state: TCPTimeWait, timeout: 120},
			{name: "new syn", advance: time.Second, dir: O, flags: fSYN, seq: 200000, ct: ctNew, state: TCPSynSent, timeout: 120, ep: ep(EPSynSent, EPListen)},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 300000, ack: 200001, ct: ctEst, state: TCPSynRecv, timeout: 60},
		})},
		{"pickup mid-stream capped until a reply", []step{
			{name: "ack mid-stream", dir: O, flags: fACK, seq: 1 << 20, ack: 1 << 24, n: 100, ct: ctNew, state: TCPEstablished, timeout: 300, ep: ep(EPEstablished, EPEstablished)},
			{name: "reply", dir: R, flags: fACK, seq: 1 << 24, ack: 1<<20 + 100, ct: ctEst, state: TCPEstablished, timeout: 300, status: seen},
			{name: "next", dir: O, flags: fACK, seq: 1<<20 + 100, ack: 1 << 24, ct: ctEst, state: TCPEstablished, timeout: 432000, status: assd},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, clk := newTestTable(t, nil)
			runSteps(t, newFlow(t, tab, clk), tc.steps)
		})
	}
}

func TestTCPInvalidFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags uint8
	}{
		{"syn+fin", fSYN | fFIN},
		{"syn+rst", fSYN | fRST},
		{"no flags", 0},
		{"fin without ack", fFIN},
		{"psh only", fPSH},
		{"urg only", fURG},
		{"xmas", fFIN | fSYN | fRST | fPSH | fACK | fURG},
		{"syn+fin+ack", fSYN | fFIN | fACK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, clk := newTestTable(t, nil)
			f := newFlow(t, tab, clk)
			pkt := f.send(O, tc.flags, 1, 0, 100, 0, nil)
			if pkt.CTState != packet.CTInvalid || pkt.CT != nil {
				t.Fatalf("ctstate %v", pkt.CTState)
			}
			if tab.Count() != 0 {
				t.Fatalf("an entry was made")
			}
			if tab.Stats().Invalid != 1 {
				t.Fatalf("invalid counter %d", tab.Stats().Invalid)
			}
		})
	}
}

func TestTCPLooseOff(t *testing.T) {
	tab, clk := newTestTable(t, func(c *Config) { c.TCPLoose = false })
	f := newFlow(t, tab, clk)
	for _, fl := range []uint8{fACK, fPSH | fACK, fFIN | fACK, fSYN | fACK} {
		if pkt := f.send(O, fl, 100, 200, 1000, 10, nil); pkt.CTState != packet.CTInvalid {
			t.Fatalf("flags %#x: %v", fl, pkt.CTState)
		}
	}
	if tab.Count() != 0 {
		t.Fatal("entry made with tcp_loose off")
	}
	if pkt := f.send(O, fSYN, 100, 0, 1000, 0, nil); pkt.CTState != packet.CTNew {
		t.Fatalf("syn: %v", pkt.CTState)
	}
}

func TestTCPBackToBack(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	sub := tab.Subscribe(64, EventNew|EventDestroy)
	f := newFlow(t, tab, clk)
	conn := func(isn uint32) {
		runSteps(t, f, []step{
			{name: "syn", dir: O, flags: fSYN, seq: isn, ct: ctNew, state: TCPSynSent, timeout: 120},
			{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: isn + 1, ct: ctEst, state: TCPSynRecv, timeout: 60},
			{name: "ack", dir: O, flags: fACK, seq: isn + 1, ack: 5001, ct: ctEst, state: TCPEstablished, timeout: 432000},
			{name: "fin", dir: O, flags: fFIN | fACK, seq: isn + 1, ack: 5001, ct: ctEst, state: TCPFinWait, timeout: 120},
			{name: "fin back", dir: R, flags: fFIN | fACK, seq: 5001, ack: isn + 2, ct: ctEst, state: TCPLastAck, timeout: 30},
			{name: "last ack", dir: O, flags: fACK, seq: isn + 2, ack: 5002, ct: ctEst, state: TCPTimeWait, timeout: 120},
		})
	}
	conn(1000)
	clk.Advance(time.Second)
	conn(900000)
	if st := tab.Stats(); st.Insert != 2 {
		t.Fatalf("insert = %d, want 2", st.Insert)
	}
	var news, destroys int
	for len(sub.C) > 0 {
		switch ev := <-sub.C; ev.Type {
		case EventNew:
			news++
		case EventDestroy:
			destroys++
		}
	}
	if news != 2 || destroys != 1 {
		t.Fatalf("events: %d NEW, %d DESTROY; want 2, 1", news, destroys)
	}
}

// TestWindowScaleSACK moves 10 MB with scaled windows both ways and SACK
// blocks, with one loss and its retransmission, and expects nothing
// INVALID.
func TestWindowScaleSACK(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	f := newFlow(t, tab, clk)
	runSteps(t, f, []step{
		{name: "syn", dir: O, flags: fSYN, seq: 1000, win: 64240, opts: tcpOpts(7, true), ct: ctNew, state: TCPSynSent, timeout: 120},
		{name: "syn+ack", dir: R, flags: fSYN | fACK, seq: 5000, ack: 1001, win: 65160, opts: tcpOpts(9, true), ct: ctEst, state: TCPSynRecv, timeout: 60},
		{name: "ack", dir: O, flags: fACK, seq: 1001, ack: 5001, win: 502, ct: ctEst, state: TCPEstablished, timeout: 432000},
	})
	const mss = 1448
	// The server sends; the client advertises 502<<7 = 64256 ... grow to
	// 16000<<7 = 2 MB.
	seq := uint32(5001)
	acked := seq
	lost := uint32(0)
	for i := 0; i < 7000; i++ {
		pkt := f.send(R, fACK, seq, 1001, 2000, mss, nil)
		if pkt.CTState != packet.CTEstablished {
			t.Fatalf("segment %d seq %d: %v (%s)", i, seq, pkt.CTState, pkt.Note)
		}
		if i == 100 {
			lost = seq
		}
		seq += mss
		if i%4 == 3 {
			var pkt *packet.Packet
			if lost != 0 && i > 100 && i < 200 {
				// Cumulative ack stuck at the loss, SACK above it.
				pkt = f.send(O, fACK, 1001, lost, 16000, 0, tcpOpts(-1, false, header.SACKBlock{Left: lost + mss, Right: seq}))
			} else {
				acked = seq
				pkt = f.send(O, fACK, 1001, acked, 16000, 0, nil)
			}
			if pkt.CTState != packet.CTEstablished {
				t.Fatalf("ack at %d: %v (%s)", i, pkt.CTState, pkt.Note)
			}
		}
		if i == 199 {
			// Retransmit the lost segment; then the ack jumps.
			if pkt := f.send(R, fACK, lost, 1001, 2000, mss, nil); pkt.CTState != packet.CTEstablished {
				t.Fatalf("retransmission: %v (%s)", pkt.CTState, pkt.Note)
			}
			lost = 0
		}
	}
	if st := tab.Stats(); st.Invalid != 0 {
		t.Fatalf("%d invalid", st.Invalid)
	}
	// A segment far beyond the scaled window is still INVALID.
	if pkt := f.send(R, fACK, seq+1<<28, 1001, 2000, mss, nil); pkt.CTState != packet.CTInvalid {
		t.Fatalf("far segment: %v", pkt.CTState)
	}
	_ = clk
}

// TestWindowScaleOneSide: scaling applies only when both SYNs carry it.
func TestWindowScaleOneSide(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	f := newFlow(t, tab, clk)
	f.send(O, fSYN, 1000, 0, 1000, 0, tcpOpts(7, true))
	f.send(R, fSYN|fACK, 5000, 1001, 1000, 0, tcpOpts(-1, false))
	f.send(O, fACK, 1001, 5001, 1000, 0, nil)
	// The client's window is 1000 unscaled: 1000+ bytes past are beyond
	// the overshoot tolerance.
	if pkt := f.send(R, fACK, 5001+3000, 1001, 1000, 100, nil); pkt.CTState != packet.CTInvalid {
		t.Fatalf("beyond unscaled window: %v", pkt.CTState)
	}
	if pkt := f.send(R, fACK, 5001, 1001, 1000, 900, nil); pkt.CTState != packet.CTEstablished {
		t.Fatalf("within window: %v (%s)", pkt.CTState, pkt.Note)
	}
}

// TestRetransTimeouts: tcp_max_retrans identical retransmissions of
// unacknowledged data drop the timeout to tcp_retrans; unacknowledged
// data gets tcp_unacknowledged; a zero window gets tcp_retrans.
func TestRetransTimeouts(t *testing.T) {
	tab, clk := newTestTable(t, func(c *Config) {
		c.Timeouts.TCPRetrans = 200 * time.Second
		c.Timeouts.TCPUnacknowledged = 250 * time.Second
		c.TCPMaxRetrans = 3
	})
	runSteps(t, newFlow(t, tab, clk), cat(handshake(), []step{
		{name: "data", dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 250},
		{name: "retransmit 1", advance: time.Second, dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 250},
		{name: "retransmit 2", advance: 2 * time.Second, dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 250},
		{name: "retransmit 3", advance: 4 * time.Second, dir: O, flags: fPSH | fACK, seq: 1001, ack: 5001, n: 100, ct: ctEst, state: TCPEstablished, timeout: 200},
		{name: "acked at last", dir: R, flags: fACK, seq: 5001, ack: 1101, ct: ctEst, state: TCPEstablished, timeout: 432000},
		{name: "zero window", dir: R, flags: fACK, seq: 5001, ack: 1101, zwin: true, ct: ctEst, state: TCPEstablished, timeout: 200},
		{name: "window open", dir: R, flags: fACK, seq: 5001, ack: 1101, win: 1000, ct: ctEst, state: TCPEstablished, timeout: 432000},
	}))
}

// TestBadResetInSynSent is gVisor's TestIgnoreBadResetOnSynSent: after a
// SYN with seq 1234 only a RST acking 1235 resets.
func TestBadResetInSynSent(t *testing.T) {
	for _, ack := range []uint32{1234, 1236, 1000, 5000} {
		t.Run(fmt.Sprint(ack), func(t *testing.T) {
			tab, clk := newTestTable(t, nil)
			runSteps(t, newFlow(t, tab, clk), []step{
				{name: "syn", dir: O, flags: fSYN, seq: 1234, ct: ctNew, state: TCPSynSent, timeout: 120},
				{name: "bad rst", dir: R, flags: fRST | fACK, seq: 0, ack: ack, ct: ctInv, state: TCPSynSent, timeout: 120},
				{name: "no-ack rst", dir: R, flags: fRST, seq: 0, ct: ctInv, state: TCPSynSent, timeout: 120},
				{name: "good syn+ack", dir: R, flags: fSYN | fACK, seq: 7000, ack: 1235, ct: ctEst, state: TCPSynRecv, timeout: 60},
			})
		})
	}
	tab, clk := newTestTable(t, nil)
	runSteps(t, newFlow(t, tab, clk), []step{
		{name: "syn", dir: O, flags: fSYN, seq: 1234, ct: ctNew, state: TCPSynSent, timeout: 120},
		{name: "refused", dir: R, flags: fRST | fACK, seq: 0, ack: 1235, ct: ctEst, gone: true},
	})
}

// TestTimestampEchoInSynSent: a server RST whose timestamp echo matches
// none of the client's SYNs (retransmissions included) is INVALID.
func TestTimestampEchoInSynSent(t *testing.T) {
	ts := func(val, ecr uint32) []byte {
		b := []byte{header.TCPOptNOP, header.TCPOptNOP, header.TCPOptTimestamp, 10, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[4:], val)
		binary.BigEndian.PutUint32(b[8:], ecr)
		return b
	}
	tab, clk := newTestTable(t, nil)
	runSteps(t, newFlow(t, tab, clk), []step{
		{name: "syn", dir: O, flags: fSYN, seq: 1234, opts: ts(1000, 0), ct: ctNew, state: TCPSynSent, timeout: 120},
		{name: "syn again", dir: O, flags: fSYN, seq: 1234, opts: ts(2000, 0), ct: ctNew, state: TCPSynSent, timeout: 120},
		{name: "rst echoing nothing", dir: R, flags: fRST | fACK, ack: 1235, opts: ts(9, 100), ct: ctInv, state: TCPSynSent, timeout: 120},
		{name: "rst echoing the future", dir: R, flags: fRST | fACK, ack: 1235, opts: ts(9, 2001), ct: ctInv, state: TCPSynSent, timeout: 120},
		{name: "client rst answering", dir: O, flags: fRST, seq: 1235, ct: ctNew, state: TCPSynSent, timeout: 120},
		{name: "syn+ack echoing the first syn", dir: R, flags: fSYN | fACK, seq: 7000, ack: 1235, opts: ts(50, 1000), ct: ctEst, state: TCPSynRecv, timeout: 60},
	})
}

// TestInvalidFinShortensTimeout is nf_tcp_handle_invalid: out-of-window
// FINs from both sides of an ASSURED connection cut its timeout to
// tcp_unacknowledged.
func TestInvalidFinShortensTimeout(t *testing.T) {
	tab, clk := newTestTable(t, nil)
	runSteps(t, newFlow(t, tab, clk), cat(handshake(), []step{
		{name: "fin far ahead", dir: O, flags: fFIN | fACK, seq: 1001 + 1<<30, ack: 5001, ct: ctInv, state: TCPEstablished, timeout: 432000},
		{name: "fin far ahead back", dir: R, flags: fFIN | fACK, seq: 5001 + 1<<30, ack: 1001, ct: ctInv, state: TCPEstablished, timeout: 300},
	}))
}
