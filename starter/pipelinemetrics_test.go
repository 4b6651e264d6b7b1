package main

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/store"
)

// starter pipeline target sets a month's target and targets lists it; starter pipeline
// metrics prints the funnel, closings, open deals and coverage of two deals (one won after a
// skipped stage, one open and stale), --json the API's report; bad input exits 2 and writes
// nothing.
func TestPipelineMetricsAndTargets(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	ctx := context.Background()
	st := store.New(pgtestPool(t, dbURL))
	now := time.Now().UTC()
	create := func(id, amount string, closeOn string) string {
		c, err := st.CreateDeal(ctx, store.NewDeal{
			Source: "crm", ExternalID: id, Title: "Deal " + id, Owner: store.OwnerInput{Email: "ana@vendor.test", Name: "Ana"},
			Contact: store.ContactInput{Email: id + "@prospect.test"}, CadenceVersion: cadence.DefaultVersion,
			EventID: "create:" + id, SourceTime: now, Value: store.DealValue{Amount: money.Amount(amount), Currency: "EUR", ExpectedCloseOn: closeOn},
		})
		require.NoError(t, err)
		return c.Deal.ID
	}
	day := 24 * time.Hour
	won := create("m-1", "1200.50", "")
	for i, m := range []struct {
		to string
		at time.Time
	}{{"prospecting", now.Add(-10 * day)}, {"qualification", now.Add(-8 * day)}, {"won", now.Add(-2 * day)}} {
		require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: won, Visit: i + 1, To: m.to, At: m.at, Source: "crm"}))
	}
	require.NoError(t, st.MarkClosed(ctx, won, "won", 3, now.Add(-2*day)))
	open := create("m-2", "800", now.Format(time.DateOnly))
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: open, Visit: 1, To: "prospecting", At: now.Add(-5 * day), Source: "crm"}))
	deadline := now.Add(-time.Hour)
	_, err := st.Project(ctx, store.Projection{DealID: open, Revision: 1, Stage: "prospecting", Visit: 1, EnteredAt: now.Add(-5 * day), Deadline: &deadline})
	require.NoError(t, err)

	month := now.Format("2006-01")
	r := runCLI(t, env, "pipeline", "target", "b2b-default", "--month", month, "--amount", "1000", "--currency", "eur")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "pipeline b2b-default: target for "+month+" is EUR 1000\n", r.stdout)
	r = runCLI(t, env, "pipeline", "targets", "b2b-default")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^`+month+` +EUR +1000 +\S+ +cli`, r.stdout)

	r = runCLI(t, env, "pipeline", "metrics", "b2b-default")
	require.Equal(t, 0, r.code, r.stderr)
	// prospecting: two visits, one advanced directly (to qualification, after 2 days), one open.
	require.Regexp(t, regexp.MustCompile(`(?m)^prospecting +- +2 +1 +1 +0 +0 +0 +0 +1 +100\.0% +2d +2d +1 +1 +0 +$`), r.stdout)
	// qualification → won skips meeting, proposal and negotiation.
	require.Regexp(t, regexp.MustCompile(`(?m)^qualification +- +1 +1 +0 +1 +0 +0 +0 +0 +100\.0% +6d +6d +0 +0 +0 +$`), r.stdout)
	require.Contains(t, r.stdout, "won 1, lost 0, win rate 100.0%")
	require.Contains(t, r.stdout, "average won: EUR 1200.50\n")
	require.Contains(t, r.stdout, "average cycle: 8.0 days")
	require.Contains(t, r.stdout, "deals 1; age mean 5.0 days")
	require.Contains(t, r.stdout, "stale 1, near the limit 0")
	require.Contains(t, r.stdout, "pipeline: EUR 800\n")
	require.Regexp(t, `(?m)^    Deal m-2 +ana@vendor\.test +prospecting +deadline `, r.stdout)
	require.Regexp(t, `(?m)^`+month+` +EUR +1000 +800 +0\.00 +0\.80 +$`, r.stdout)
	require.Regexp(t, `(?m)^ana@vendor\.test +Ana +1 +1 +0 +100\.0% +1 +EUR 800 +- +$`, r.stdout)

	r = runCLI(t, env, "pipeline", "metrics", "b2b-default", "--json", "--owner", "nobody@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	var report pipelinemetrics.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report))
	require.Equal(t, "nobody@vendor.test", report.Query.Owner)
	require.Zero(t, report.Closed.Won)
	require.Zero(t, report.Open.Deals)
	require.Len(t, report.Coverage, 1, "the coverage is the whole pipeline's")

	for _, bad := range [][]string{
		{"metrics", "b2b-default", "--from", "yesterday"},
		{"metrics", "b2b-default", "--from", "2026-12-01", "--to", "2026-11-01"},
		{"metrics", "b2b-default", "--from", "2020-01-01", "--to", "2026-01-01"},
		{"metrics"},
		{"metrics", "no-such-pipeline"},
		{"target", "b2b-default", "--month", "2026-13", "--amount", "1", "--currency", "EUR"},
		{"target", "b2b-default", "--month", month, "--amount", "-1", "--currency", "EUR"},
		{"target", "b2b-default", "--month", month, "--currency", "EUR"},
		{"target", "b2b-default", "--month", month, "--amount", "1", "--currency", "EURO"},
		{"target", "no-such-pipeline", "--month", month, "--amount", "1", "--currency", "EUR"},
		{"targets", "no-such-pipeline"},
	} {
		r := runCLI(t, env, append([]string{"pipeline"}, bad...)...)
		require.Equal(t, 2, r.code, "%v: %s", bad, r.stderr)
	}
	var targets int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM pipeline_targets`).Scan(&targets))
	require.Equal(t, 1, targets, "refused targets wrote nothing")
}
