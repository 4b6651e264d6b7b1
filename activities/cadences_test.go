package activities_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
)

// Published versions are decoded once per worker; the hash a deal pinned is still checked on
// every load, and a version that is not published is still an error (and not remembered).
func TestLoadCadenceChecksThePinnedHashEveryTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cv, err := f.store.Cadence(ctx, cadence.DefaultVersion)
	require.NoError(t, err)
	for range 2 {
		p, err := f.acts.LoadCadence(ctx, activities.CadenceInput{Version: cv.Version, Hash: cv.Hash})
		require.NoError(t, err)
		require.Equal(t, cv.Pipeline, p)
		_, err = f.acts.LoadCadence(ctx, activities.CadenceInput{Version: cv.Version, Hash: "another"})
		require.Error(t, err)
		require.Equal(t, activities.ErrTypeBadInput, errType(t, err))
	}

	next := cadence.Default()
	next.ID = "later"
	const version = 7
	_, err = f.acts.LoadCadence(ctx, activities.CadenceInput{Version: version})
	require.Equal(t, activities.ErrTypeBadInput, errType(t, err), "not published yet")
	published, err := f.store.PublishCadence(ctx, version, next)
	require.NoError(t, err)
	p, err := f.acts.LoadCadence(ctx, activities.CadenceInput{Version: version, Hash: published.Hash})
	require.NoError(t, err, "published since: found")
	require.Equal(t, "later", p.ID)
}
