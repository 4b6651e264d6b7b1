package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// lastSignal is the last deal event the deal's workflow received (no worker runs here).
func lastSignal(t *testing.T, srv *testsuite.DevServer, dealID string) workflows.Event {
	t.Helper()
	return temporaltest.ReadDealRun(t, srv.Client(), dealID).LastSignal(t)
}

func TestEngageAndTaskVerbs(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.FrontendHostPort(), "TEMPORAL_NAMESPACE": "default"}
	ctx := context.Background()

	r := runCLI(t, env, "deal", "create", "--external-id", "hs-9", "--source", "hubspot", "--owner", "ana@vendor.test",
		"--contact", "bob@prospect.test", "--contact-first-name", "Bob", "--contact-zone", "America/New_York", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var created deals.CreateResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
	id := created.DealID
	pool := pgtestPool(t, dbURL)
	st := store.New(pool)
	// No worker runs: the owner's task is created as the workflow's activity would.
	task, err := st.CreateTask(ctx, store.NewTask{DealID: id, Visit: 1, StepID: "intro-call", Occurrence: 1, Kind: "call",
		Title: "Call Bob", DueAt: time.Now().Add(time.Hour), At: time.Now()})
	require.NoError(t, err)
	other, err := st.CreateTask(ctx, store.NewTask{DealID: id, Visit: 1, StepID: "linkedin", Occurrence: 1, Kind: "linkedin",
		Title: "Connect with Bob", DueAt: time.Now().Add(time.Hour), At: time.Now()})
	require.NoError(t, err)

	r = runCLI(t, env, "deal", "show", "hubspot:hs-9")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("#%d [open] Call Bob", task.ID), "deal show lists task ids")
	require.Regexp(t, `(?m)^Owner +ana@vendor.test\s*$`, r.stdout, "an owner without a name: the email")
	_, err = pool.Exec(ctx, `UPDATE owners SET name = 'Ana Rep' WHERE email = 'ana@vendor.test'`)
	require.NoError(t, err)
	r = runCLI(t, env, "deal", "show", "hubspot:hs-9")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^Owner +Ana Rep <ana@vendor.test>\s*$`, r.stdout, "deal show names the owner")
	r = runCLI(t, env, "deal", "show", "hubspot:hs-9", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var det deals.Details
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &det))
	require.Equal(t, store.DealOwner{ID: det.Timeline.Deal.OwnerID, Email: "ana@vendor.test", Name: "Ana Rep"}, det.Timeline.Owner)

	r = runCLI(t, env, "task", "done", "hubspot:hs-9", fmt.Sprint(task.ID), "--note", "talked 10 min")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("task %d of deal %s: done sent", task.ID, id))
	ev := lastSignal(t, srv, id)
	require.Equal(t, workflows.EventTaskClosed, ev.Kind)
	require.Equal(t, task.ID, ev.TaskID)
	require.Equal(t, workflows.TaskDone, ev.TaskOutcome)
	require.Equal(t, "talked 10 min", ev.Reason)
	r = runCLI(t, env, "task", "done", id, fmt.Sprintf("#%d", task.ID))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "event already received (state signalled)")

	r = runCLI(t, env, "task", "skip", id, fmt.Sprint(other.ID), "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var resp deals.EventResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &resp))
	require.EqualValues(t, "signalled", resp.State)
	require.Equal(t, workflows.TaskSkipped, lastSignal(t, srv, id).TaskOutcome)
	_, err = st.CloseTask(ctx, id, other.ID, "skipped", time.Now(), "")
	require.NoError(t, err)
	r = runCLI(t, env, "task", "done", id, fmt.Sprint(other.ID))
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, fmt.Sprintf("task %d of deal %s is skipped already", other.ID, id))
	r = runCLI(t, env, "task", "done", id, "999999")
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, "task 999999 of deal "+id+": not found")

	// A date is the start of that day in the contact's zone.
	r = runCLI(t, env, "deal", "engage", id, "out_of_office", "--return-at", "2099-12-01", "--event-id", "ooo-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "out_of_office sent to deal "+id)
	ev = lastSignal(t, srv, id)
	require.Equal(t, cadence.EngagedOutOfOffice, ev.Engagement)
	require.True(t, ev.ReturnAt.Equal(time.Date(2099, 12, 1, 5, 0, 0, 0, time.UTC)), ev.ReturnAt)
	r = runCLI(t, env, "deal", "engage", id, "out_of_office", "--return-at", "2099-12-01T09:30:00+01:00", "--event-id", "ooo-2")
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, lastSignal(t, srv, id).ReturnAt.Equal(time.Date(2099, 12, 1, 8, 30, 0, 0, time.UTC)))

	suppressions := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM suppressions`).Scan(&n))
		return n
	}
	r = runCLI(t, env, "deal", "engage", id, "bounce", "--source", "esp", "--event-id", "b-1", "--detail", "550 5.1.1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "suppression recorded, no more email goes to that address")
	require.Equal(t, 1, suppressions())
	r = runCLI(t, env, "deal", "engage", id, "bounce", "--source", "esp", "--event-id", "b-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "event already received")
	require.Equal(t, 1, suppressions())

	require.NoError(t, st.MarkClosed(ctx, id, "lost", 1, time.Now()))
	r = runCLI(t, env, "deal", "engage", id, "reply")
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, "use: starter deal reopen DEAL")
	r = runCLI(t, env, "deal", "engage", id, "unsubscribe", "--source", "web")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "unsubscribe recorded for deal "+id)
	require.Contains(t, r.stdout, "applied")
	require.Contains(t, r.stdout, "no more email goes to the contact")
	require.Equal(t, 2, suppressions())
}
