package plugins

import (
	"testing"

	"fwd/pipeline"
)

// Every stage pipeline.Order names is linked: a missing one would be
// skipped silently by pipeline.Build.
func TestEveryOrderedStageIsLinked(t *testing.T) {
	for _, s := range pipeline.Order {
		if _, ok := pipeline.Lookup(s.ID); !ok {
			t.Errorf("stage %s (at %s) is in pipeline.Order but not registered", s.ID, s.Hook)
		}
	}
}
