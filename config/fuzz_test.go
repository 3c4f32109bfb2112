package config

import (
	"bytes"
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
			lines := bytes.Count(data, []byte("\n")) + 1
			check := func(what string, p Pos) {
				if p.File != "fuzz.toml" || p.Line < 1 || p.Line > lines || p.Col < 1 {
					t.Fatalf("%s at %v, outside the file (%d lines)", what, p, lines)
				}
			}
			for _, ch := range c.Chains {
				check("chain "+ch.Name, ch.Pos)
				for _, r := range ch.Rules {
					check("rule", r.Pos)
					for _, kv := range r.Keys {
						check("key "+kv.Key, kv.Pos)
						check("value of "+kv.Key, kv.Value.Pos)
					}
				}
			}
			for _, s := range c.Sets {
				check("set "+s.Name, s.Pos)
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
