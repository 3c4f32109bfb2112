package nat_test

import (
	"sync"
	"testing"

	"fwd/packet"
	"fwd/pipeline"
)

// Several workers (one runner each, as the daemon has) make bindings and
// translate at once: every internal endpoint gets a distinct external
// port, and every reply finds its host. Run with -race.
func TestConcurrentWorkers(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	const workers, flows = 4, 300
	type flow struct {
		host [4]byte
		ext  ep
	}
	res := make([][]flow, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			out := &sink{}
			r := l.p.NewRunner(out)
			for i := 0; i < flows; i++ {
				host := [4]byte{192, 168, 1, byte(100 + w)}
				// Every worker uses the same internal ports: most
				// collide and need a new port.
				pkt := packet.New(udpPkt(at(host, uint16(20000+i)), at(remote, 53), "q"))
				pkt.InIf = lan0
				out.got = out.got[:0]
				r.Run([]*packet.Packet{pkt})
				if len(out.got) != 1 || out.got[0].verdict != pipeline.Continue {
					t.Errorf("worker %d flow %d not forwarded", w, i)
					return
				}
				s, _ := fields(out.got[0].data)
				res[w] = append(res[w], flow{host, s})
			}
		}(w)
	}
	wg.Wait()
	seen := map[ep]bool{}
	for _, fs := range res {
		for _, f := range fs {
			if seen[f.ext] {
				t.Fatalf("external endpoint %v given twice", f.ext)
			}
			seen[f.ext] = true
		}
	}
	for w, fs := range res {
		for i, f := range fs {
			_, d := fields(l.forward(wan0, udpPkt(at(remote, 53), f.ext, "a"), lan0))
			want(t, "reply destination", d, at(f.host, uint16(20000+i)))
		}
		_ = w
	}
}
