package stage

import (
	"os"
	"path/filepath"
	"testing"

	"fwd/pipeline"
)

// The one import links the four rules stages and a plugin for every
// match and target folder under rules/: a folder added but not linked here
// would be an unknown key in every configuration.
func TestLinksEveryPlugin(t *testing.T) {
	for _, id := range []string{"stage.rules.raw", "stage.rules.mangle", "stage.rules.nat", "stage.rules.filter"} {
		if _, ok := pipeline.Lookup(id); !ok {
			t.Errorf("%s is not registered", id)
		}
	}
	for _, kind := range []string{"match", "target"} {
		dirs, err := os.ReadDir(filepath.Join("..", kind))
		if err != nil {
			t.Fatal(err)
		}
		linked := map[string]bool{}
		for _, id := range pipeline.IDs("rules." + kind + ".") {
			linked[id] = true
		}
		n := 0
		for _, d := range dirs {
			if !d.IsDir() || d.Name()[0] == '_' {
				continue
			}
			n++
			if !linked["rules."+kind+"."+d.Name()] {
				t.Errorf("rules/%s/%s is not linked (registered %s IDs: %d)", kind, d.Name(), kind, len(linked))
			}
		}
		if n == 0 {
			t.Fatalf("no %s plugin folders found", kind)
		}
	}
}
