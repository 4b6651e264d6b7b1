package deals_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// A date (return_on, until_on) is recorded as the instant it meant, alone, so the sweeper
// sends the recorded request again as it is. A row an earlier version recorded with both
// forms is refused by the sweeper, saying why.
func TestDatesAreRecordedAsTheInstantTheyMean(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	id := create(t, svc, "d-1", "ana@vendor.test")
	day := time.Now().AddDate(0, 0, 10).Format(time.DateOnly)

	_, err := svc.Engage(ctx, deals.EngageRequest{Deal: id, Kind: cadence.EngagedOutOfOffice, Source: "mailbox", EventID: "ooo-1", ReturnOn: day})
	require.NoError(t, err)
	task, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: id, Visit: 1, StepID: "a", Occurrence: 1,
		Kind: "call", Title: "Call Bob", DueAt: time.Now().Add(24 * time.Hour), At: time.Now()})
	require.NoError(t, err)
	snoozed, err := svc.SnoozeTask(ctx, deals.SnoozeRequest{Deal: id, TaskID: task.ID, Source: "cli", EventID: "snz-1", UntilOn: day})
	require.NoError(t, err)

	payload := func(eventID string) (raw map[string]any, body []byte) {
		require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT payload FROM inbound_events WHERE source_event_id = $1`, eventID).Scan(&body))
		require.NoError(t, json.Unmarshal(body, &raw))
		return raw, body
	}
	raw, body := payload("ooo-1")
	require.NotContains(t, raw, "return_on")
	var ooo deals.EngageRequest
	require.NoError(t, json.Unmarshal(body, &ooo))
	sent := temporaltest.ReadDealRun(t, devServer.Client(), id).Signals[0]
	require.Equal(t, "ooo-1", sent.SourceEventID)
	require.True(t, ooo.ReturnAt.Equal(sent.ReturnAt), "recorded %s, signalled %s", ooo.ReturnAt, sent.ReturnAt)
	require.False(t, sent.ReturnAt.IsZero())
	raw, body = payload("snz-1")
	require.NotContains(t, raw, "until_on")
	var snz deals.SnoozeRequest
	require.NoError(t, json.Unmarshal(body, &snz))
	require.True(t, snz.Until.Equal(snoozed.Until), "recorded %s, answered %s", snz.Until, snoozed.Until)

	// Rows recorded with both forms, stuck in received.
	at := time.Now().AddDate(0, 0, 10).UTC().Truncate(time.Second)
	for _, row := range []struct{ source, eventID, kind, payload string }{
		{"mailbox", "ooo-old", "engaged", fmt.Sprintf(`{"deal":%q,"kind":"out_of_office","source":"mailbox","event_id":"ooo-old",`+
			`"source_time":%q,"return_at":%q,"return_on":%q}`, id, time.Now().UTC().Format(time.RFC3339), at.Format(time.RFC3339), day)},
		{"cli", "snz-old", "task_snoozed", fmt.Sprintf(`{"deal":%q,"task_id":%d,"source":"cli","event_id":"snz-old",`+
			`"until":%q,"until_on":%q}`, id, task.ID, at.Format(time.RFC3339), day)},
	} {
		_, err := svc.Store.Pool().Exec(ctx, `INSERT INTO inbound_events (source, source_event_id, kind, deal_id, source_time, payload, received_at)
			VALUES ($1, $2, $3, $4, now(), $5, now() - interval '10 minutes')`, row.source, row.eventID, row.kind, id, row.payload)
		require.NoError(t, err)
	}
	res, err := svc.SweepReceived(ctx, time.Minute, 100)
	require.NoError(t, err)
	require.Equal(t, 2, res.Found, "%+v", res)
	require.Equal(t, 2, res.Settled, "%+v", res)
	outcome := func(eventID string) (state, reason string) {
		require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT state, outcome_reason FROM inbound_events WHERE source_event_id = $1`,
			eventID).Scan(&state, &reason))
		return state, reason
	}
	state, reason := outcome("ooo-old")
	require.Equal(t, "refused", state)
	require.Equal(t, "sent again by the sweeper and refused: invalid request: give return_at or return_on, not both", reason)
	state, reason = outcome("snz-old")
	require.Equal(t, "refused", state)
	require.Equal(t, "sent again by the sweeper and refused: invalid request: give until or until_on, not both", reason)
	require.Len(t, temporaltest.ReadDealRun(t, devServer.Client(), id).Signals, 2, "ooo-1 and snz-1; nothing of the old rows")
}
