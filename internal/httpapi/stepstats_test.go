package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// GET /api/cadences/{pipeline}/steps: ops read what each step earned (a reply to the intro,
// 45 minutes after it went); a rep is refused; a bad period is 400, an unknown pipeline 404.
func TestCadenceStepStats(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	ctx := context.Background()
	dealID := a.create()
	d, err := a.store.DealByID(ctx, dealID)
	require.NoError(t, err)
	sentAt := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	require.NoError(t, a.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting", At: sentAt.Add(-time.Hour), Source: "crm"}))
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err = a.store.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m-api-steps@test", Lease: time.Hour, CadenceVersion: d.CadenceVersion})
	require.NoError(t, err)
	_, err = a.pool.Exec(ctx, `UPDATE email_ledger SET state = 'sent', sent_at = $2 WHERE deal_id = $1`, d.ID, sentAt)
	require.NoError(t, err)
	payload, err := json.Marshal(map[string]any{"kind": "reply", "answers": key})
	require.NoError(t, err)
	_, err = a.store.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "api-steps-reply",
		SourceTime: sentAt.Add(45 * time.Minute), Payload: payload})
	require.NoError(t, err)

	r := a.do("GET", "/api/cadences/b2b-default/steps", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	var report store.StepStatsReport
	require.NoError(t, json.Unmarshal([]byte(r.raw), &report))
	require.Len(t, report.Versions, 1)
	intro := report.Versions[0].Steps[0]
	require.Equal(t, "intro", intro.StepID)
	require.Equal(t, 1, intro.Sent)
	require.Equal(t, 1, intro.Replied)
	require.Equal(t, 2700.0, *intro.MedianReplySeconds)
	require.True(t, intro.Best)

	r = a.do("GET", "/api/cadences/b2b-default/steps?from="+sentAt.Add(time.Hour).Format(time.RFC3339), "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.NoError(t, json.Unmarshal([]byte(r.raw), &report))
	require.Zero(t, report.ByStep[0].Sent, "the intro went before the period")

	rep := a.token("ana@vendor.test", store.RoleRep)
	r = a.do("GET", "/api/cadences/b2b-default/steps", "", "Authorization", "Bearer "+rep)
	require.Equal(t, http.StatusForbidden, r.status, r.raw)

	for _, q := range []string{"?from=last-week", "?from=2026-12-01&to=2026-11-01", "?from=2020-01-01&to=2026-01-01"} {
		r = a.do("GET", "/api/cadences/b2b-default/steps"+q, "")
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", q, r.raw)
	}
	r = a.do("GET", "/api/cadences/nope/steps", "")
	require.Equal(t, http.StatusNotFound, r.status, r.raw)
}
