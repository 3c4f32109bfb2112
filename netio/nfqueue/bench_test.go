package nfqueue_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fwd/netio/nfqueue"
	"fwd/netio/steer"
)

// TestReceiveVerdictNoAllocs checks the steady-state loop (ReadBatch,
// Verdict, Flush) allocates nothing once its buffers exist.
func TestReceiveVerdictNoAllocs(t *testing.T) {
	l := newLab(t, steer.Spec{})
	q := l.open(t, nfqueue.Options{})
	msgs := make([]nfqueue.Msg, 8)
	payload := []byte("x")
	go drain(l)
	cycle := func() {
		if _, err := l.tx.Write(payload); err != nil {
			t.Fatal(err)
		}
		n, err := q.ReadBatch(msgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[:n] {
			q.Verdict(m.ID, nfqueue.Accept, nil, m.Payload)
		}
		if err := q.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		cycle() // grow the buffers
	}
	if n := testing.AllocsPerRun(200, cycle); n != 0 {
		t.Errorf("receive/verdict cycle allocates %v times per packet", n)
	}
}

func drain(l *lab) {
	buf := make([]byte, 2048)
	for {
		if _, err := l.ln.Read(buf); err != nil {
			return
		}
	}
}

// BenchmarkReceiveVerdict measures the worker loop on the queue: one op
// is one packet read, given a verdict and flushed (in batches as the
// socket has them). A sender goroutine in the namespace keeps the queue
// busy with small UDP datagrams; its cost shares the machine, so the
// packets/s figure is a lower bound for the queue.
func BenchmarkReceiveVerdict(b *testing.B) {
	for _, bc := range []struct {
		name    string
		batch   int
		rewrite bool
	}{
		{name: "batch64", batch: 64},
		{name: "batch1", batch: 1},
		{name: "batch64-rewrite", batch: 64, rewrite: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := newLab(b, steer.Spec{})
			q := l.open(b, nfqueue.Options{MaxLen: 4096})
			go drain(l)
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, 64)
				for !stop.Load() {
					l.tx.Write(p)
				}
			}()
			msgs := make([]nfqueue.Msg, bc.batch)
			q.SetReadDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				n, err := q.ReadBatch(msgs)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range msgs[:n] {
					var pay []byte
					if bc.rewrite {
						pay = m.Payload
					}
					q.Verdict(m.ID, nfqueue.Accept, nil, pay)
				}
				q.Flush()
				done += n
			}
			el := time.Since(start)
			b.StopTimer()
			st := q.Stats()
			// The sender may be blocked on its socket's send buffer, which
			// the packets still queued hold: unbinding drops them.
			stop.Store(true)
			q.Close()
			wg.Wait()
			b.ReportMetric(float64(b.N)/el.Seconds(), "pkts/s")
			if st.VerdictMsgs > 0 {
				b.ReportMetric(float64(st.Verdicts)/float64(st.VerdictMsgs), "pkts/verdictmsg")
			}
		})
	}
}
