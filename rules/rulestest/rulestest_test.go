package rulestest

import "testing"

func TestCompileAndRuleLine(t *testing.T) {
	rs, err := Compile("[[filter.input.rule]]\nproto = \"tcp\"\ndport = 22\naction = \"accept\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := RuleLine(t, rs), "ACCEPT tcp -- 0.0.0.0/0 0.0.0.0/0 tcp dpt:22"; got != want {
		t.Fatalf("rule line %q, want %q", got, want)
	}
	if _, err := Compile("[[filter.input.rule]]\naction = \"acept\"\n"); err == nil {
		t.Fatal("a misspelt action compiled")
	}
}
