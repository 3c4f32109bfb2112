package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkParse measures a reload: the reference gateway, and a file with
// 5000 rules (startup cost, not per-packet).
func BenchmarkParse(b *testing.B) {
	gw, err := os.ReadFile("../configs/gateway.toml")
	if err != nil {
		b.Fatal(err)
	}
	var big strings.Builder
	big.WriteString(base)
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&big, "[[filter.forward.rule]]\nsrc = \"10.%d.%d.0/24\"\nproto = \"tcp\"\ndport = %d\nct_state = [\"new\"]\naction = \"accept\"\n\n", i/256, i%256, 1+i%65535)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{{"gateway", gw}, {"5000rules", []byte(big.String())}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := Parse("b.toml", bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
