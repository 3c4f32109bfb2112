package rules_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"fwd/config"
	"fwd/rules"
	_ "fwd/rules/stage" // every match and target
)

// sharedPath is a path under /work/shared (beside the repo), computed from
// this package's directory.
func sharedPath(t testing.TB, rel string) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("missing shared file %s: %v", p, err)
	}
	return p
}

func mustParse(t testing.TB, name, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return cfg
}

func mustCompile(t testing.TB, cfg *config.Config) *rules.Ruleset {
	t.Helper()
	rs, err := rules.Compile(cfg, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rs
}

func gateway(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(sharedPath(t, "examples/gateway.toml"))
	if err != nil {
		t.Fatalf("load gateway.toml: %v", err)
	}
	return cfg
}
