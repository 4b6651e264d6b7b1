package demohistory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/demohistory"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// The demo's history is written once (a second seeding adds nothing), in the past, with
// won and lost deals in two currencies and engine moves; no seeded deal is left open or with
// an event the sweeper would deliver, so none ever starts a workflow.
func TestSeedWritesAClosedPastOnceAndLeavesNothingToStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.New(t))
	p, err := cadencefile.Load("../../cadences/demo.yaml")
	require.NoError(t, err)
	cv, err := st.PublishNext(ctx, p)
	require.NoError(t, err)
	now := time.Now()
	opts := demohistory.Options{Cadence: cv, Source: "demo-history", Deals: 60, Now: now, Weeks: 8, Seed: 14, Quiet: 26 * time.Hour,
		Owners: []store.OwnerInput{{Email: "ana@vendor.example"}, {Email: "ben@vendor.example"}}}
	res, err := demohistory.Seed(ctx, st, opts)
	require.NoError(t, err)
	require.Equal(t, 60, res.Created)
	require.Equal(t, 60, res.Won+res.Lost, "every seeded deal is closed")
	require.Positive(t, res.Won)
	require.Positive(t, res.Lost)
	require.Zero(t, res.Open)

	again, err := demohistory.Seed(ctx, st, opts)
	require.NoError(t, err)
	require.Equal(t, demohistory.Result{Existing: 60}, again)

	pool := st.Pool()
	var deals, open, received, currencies, engine, late int
	var first, last time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'open'), count(DISTINCT currency) FILTER (WHERE currency <> '') FROM deals`).
		Scan(&deals, &open, &currencies))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM inbound_events WHERE state IN ('received', 'signalled')`).Scan(&received))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE source = 'engine'), count(*) FILTER (WHERE at > $1), min(at), max(at)
		FROM stage_transitions`, now.Add(-26*time.Hour)).Scan(&engine, &late, &first, &last))
	require.Equal(t, 60, deals)
	require.Zero(t, open)
	require.Zero(t, received, "no create event is left for the sweeper to deliver")
	require.Equal(t, 2, currencies)
	require.Positive(t, engine)
	require.Zero(t, late, "the last day is left quiet")
	require.True(t, first.Before(now.AddDate(0, 0, -35)), "the history spans weeks: first move %s", first)
}

// In tests the history may stop at Now: the deals it leaves open sit in their stage with a
// deadline, some of them past it.
func TestSeedCanLeaveDealsOpenWithDeadlines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(pgtest.New(t))
	p, err := cadencefile.Load("../../cadences/demo.yaml")
	require.NoError(t, err)
	cv, err := st.PublishNext(ctx, p)
	require.NoError(t, err)
	now := time.Now()
	res, err := demohistory.Seed(ctx, st, demohistory.Options{Cadence: cv, Source: "t", Deals: 80, Now: now, Weeks: 6, Seed: 1, Open: true,
		Owners: []store.OwnerInput{{Email: "ana@vendor.example"}}})
	require.NoError(t, err)
	require.Positive(t, res.Open)
	var open, stale, withDeadline int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE stage_deadline < $1), count(stage_deadline)
		FROM deals WHERE state = 'open'`, now).Scan(&open, &stale, &withDeadline))
	require.Equal(t, res.Open, open)
	require.Equal(t, open, withDeadline)
	require.Positive(t, stale)
	require.Less(t, stale, open)

	_, err = demohistory.Seed(ctx, st, demohistory.Options{Cadence: cv, Source: "t", Deals: demohistory.MaxDeals + 1, Now: now, Weeks: 1,
		Owners: []store.OwnerInput{{Email: "ana@vendor.example"}}})
	require.ErrorContains(t, err, "want 1 to")
}
