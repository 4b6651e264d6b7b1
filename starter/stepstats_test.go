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
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// starter cadence steps prints a table per version and across versions: an intro sent and
// replied to 90 minutes later; --json is the API's report; a bad period exits 2.
func TestCadenceSteps(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	ctx := context.Background()
	st := store.New(pgtestPool(t, dbURL))
	c, err := st.CreateDeal(ctx, store.NewDeal{
		Source: "crm", ExternalID: "steps-1", Owner: store.OwnerInput{Email: "ana@vendor.test"},
		Contact: store.ContactInput{Email: "bob@prospect.test"}, CadenceVersion: cadence.DefaultVersion,
		EventID: "create:steps-1", SourceTime: time.Now(),
	})
	require.NoError(t, err)
	d := c.Deal
	sentAt := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting", At: sentAt.Add(-time.Hour), Source: "crm"}))
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err = st.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m-steps@test", Lease: time.Hour})
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `UPDATE email_ledger SET state = 'sent', sent_at = $2 WHERE deal_id = $1`, d.ID, sentAt)
	require.NoError(t, err)
	payload, err := json.Marshal(map[string]any{"kind": "reply", "answers": key})
	require.NoError(t, err)
	_, err = st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "r1",
		SourceTime: sentAt.Add(90 * time.Minute), Payload: payload})
	require.NoError(t, err)

	r := runCLI(t, env, "cadence", "steps", "b2b-default", "--from", "2026-11-01", "--to", "2026-12-01")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "from 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z (no open tracking)")
	require.Contains(t, r.stdout, "version 0 (hash ")
	require.Contains(t, r.stdout, "all versions, by stage and step:")
	intro := regexp.MustCompile(`(?m)^prospecting +intro +email +1 +0 +0 +1 +100\.0% +1h30m +0 +0 +0 +0 +0 +0 +← most replies$`)
	require.Len(t, intro.FindAllString(r.stdout, -1), 2, "the version's row and the across-versions row:\n%s", r.stdout)

	r = runCLI(t, env, "cadence", "steps", "b2b-default", "--from", "2026-11-01", "--to", "2026-12-01", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var report store.StepStatsReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report))
	require.Equal(t, 1, report.ByStep[0].Replied)
	require.Equal(t, 5400.0, *report.ByStep[0].MedianReplySeconds)

	for _, bad := range [][]string{
		{"b2b-default", "--from", "yesterday"},
		{"b2b-default", "--from", "2026-12-01", "--to", "2026-11-01"},
		{"b2b-default", "--from", "2020-01-01", "--to", "2026-01-01"},
		{},
	} {
		r := runCLI(t, env, append([]string{"cadence", "steps"}, bad...)...)
		require.Equal(t, 2, r.code, "%v: %s", bad, r.stderr)
	}
	r = runCLI(t, env, "cadence", "steps", "no-such-pipeline")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "no-such-pipeline")
}
