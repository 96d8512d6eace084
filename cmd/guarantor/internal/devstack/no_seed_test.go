package devstack

import (
	"context"
	"testing"

	"go.uber.org/zap"
)

// TestNoSeedFirstStartStaysUnseeded: `guarantor dev --no-seed` ("do not load the
// Paris seed dataset on first start") on a new data directory, then a plain `guarantor
// dev` on the same, kept data directory: that second start is not a first start, and
// must not load the seed into the data of the first (it did).
func TestNoSeedFirstStartStaysUnseeded(t *testing.T) {
	cfg := localConfig(t)

	first := cfg
	first.SkipSeed = true
	ctx, cancel := context.WithCancel(context.Background())
	_, done := runStack(ctx, t, first, zap.NewNop())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stack, done := runStack(ctx, t, cfg, zap.NewNop())
	seeded := stack.Seeded
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if seeded.Created > 0 {
		t.Errorf("the second start of a data directory first started with --no-seed loaded the seed: %+v", seeded)
	}
}
