package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.txt")
	os.WriteFile(p, []byte("goos: linux\npkg: fwd/bench\nBenchmarkEstablished/flows=1000-2   \t 2676966\t       436.8 ns/op\t      3469 heapB/conn\t       0 B/op\t       0 allocs/op\nok  \tfwd/bench\t1s\n"), 0o644)
	rs, err := parse(p)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	r := rs[0]
	if r.pkg != "bench" || r.name != "BenchmarkEstablished/flows=1000" || r.nsop != "436.8" || r.allocs != "0" || r.extra != "3469 heapB/conn" {
		t.Fatalf("%+v", r)
	}
}
