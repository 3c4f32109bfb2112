package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzConfigDecode feeds arbitrary text to Parse: it must not panic, and it
// returns either a config or an ErrorList whose every error names the file
// and a line of at least 1.
func FuzzConfigDecode(f *testing.F) {
	for _, p := range []string{"../configs/gateway.toml", "../configs/lab.toml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	for _, s := range errorCases() {
		f.Add([]byte(s))
	}
	f.Add([]byte("a = [\n  { b = '''x\n''' }, # c\n]\n[[a.b]]\n"))
	f.Add([]byte("\"k\\u00e9y\" = 1\n'lit' = { \"q.k\" = [1, [2]] }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err == nil {
			if c == nil {
				t.Fatal("nil config and nil error")
			}
			return
		}
		if c != nil {
			t.Fatal("config returned with an error")
		}
		var l ErrorList
		if !errors.As(err, &l) || len(l) == 0 {
			t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range l {
			if e.Pos.File != "fuzz.toml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without a place: %q", e.Error())
			}
		}
	})
}
