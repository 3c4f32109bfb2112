package rules_test

import (
	"sync"
	"testing"

	"fwd/header"
	"fwd/packet"
	"fwd/rules"
)

// TestConcurrent evaluates from several goroutines while sets change and
// counters are read (run with -race): totals must add up.
func TestConcurrent(t *testing.T) {
	rs := oneRule(t, `src = "@hosts"`+"\nlimit = \"1000/second\"\nlimit_burst = 10000")
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	const workers, per = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			pkt := pk{src: "10.1.1.1", dst: "10.2.2.2", sport: uint16(1000 + w), dport: 80, flags: header.TCPFlagSYN, in: 0, out: 1}.build()
			for i := 0; i < per; i++ {
				rs.Eval(c, pkt, nil)
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			rs.Set("hosts").Add("10.9.9.9")
			rs.Set("hosts").Delete("10.9.9.9")
			rs.Counters(c.Rules[0])
		}
	}()
	wg.Wait()
	p, _ := rs.Counters(c.Rules[0])
	q, _ := rs.PolicyCounters(c)
	if p+q != workers*per {
		t.Fatalf("rule %d + policy %d != %d packets", p, q, workers*per)
	}
}
