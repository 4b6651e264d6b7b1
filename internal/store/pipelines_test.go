package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// Pipelines lists each pipeline once, by id, with its latest version and its deals on any
// version, the closed ones counted apart.
func TestPipelinesCountDealsOnEveryVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.New(t))
	p := cadence.Default()
	p.ID = "aaa"
	v1, err := st.PublishNext(ctx, p)
	require.NoError(t, err)
	p.Stages[0].TimeLimit = cadence.Of(3, cadence.BusinessDays)
	v2, err := st.PublishNext(ctx, p)
	require.NoError(t, err)
	for i, version := range []int64{v1.Version, v2.Version, v2.Version} {
		c, err := st.CreateDeal(ctx, store.NewDeal{Source: "crm", ExternalID: string(rune('a' + i)), Owner: store.OwnerInput{Email: "ana@vendor.test"},
			Contact: store.ContactInput{Email: string(rune('a'+i)) + "@prospect.test"}, CadenceVersion: version, EventID: "e" + string(rune('a'+i)), SourceTime: time.Now()})
		require.NoError(t, err)
		if i == 0 {
			require.NoError(t, st.MarkClosed(ctx, c.Deal.ID, "lost", 1, time.Now()))
		}
	}
	list, err := st.Pipelines(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.PipelineSummary{
		{ID: "aaa", LatestVersion: v2.Version, OpenDeals: 2, Deals: 3},
		{ID: cadence.Default().ID, LatestVersion: cadence.DefaultVersion},
	}, list)
}
