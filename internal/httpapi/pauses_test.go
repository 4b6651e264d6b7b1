package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// startInput is the input the deal's current run started with, read from its history.
func startInput(t *testing.T, dealID string) workflows.DealInput {
	t.Helper()
	return temporaltest.ReadDealRun(t, devServer.Get(t).Client(), dealID).Input
}

// createFor creates a deal of the given owner: "hs-<n>" for owner ana@vendor.test unless
// said otherwise.
func (a *api) createFor(ext, owner string, extra ...string) string {
	a.t.Helper()
	body := strings.Replace(strings.Replace(createBody, `"hs-1"`, `"`+ext+`"`, 1), "ana@vendor.test", owner, 1)
	for _, e := range extra {
		body = strings.Replace(body, `"title"`, e+`,"title"`, 1)
	}
	r := a.do("POST", "/api/deals", body)
	require.Equal(a.t, http.StatusCreated, r.status, r.raw)
	return r.body["deal_id"].(string)
}

// opsEvents lists "<deal> <kind> <state>" of the events an owner or pipeline pause recorded.
func (a *api) opsEvents() []string {
	a.t.Helper()
	rows, err := a.pool.Query(context.Background(), `SELECT deal_id::text, kind, state FROM inbound_events WHERE source = 'ops' ORDER BY id`)
	require.NoError(a.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d, k, s string
		require.NoError(a.t, rows.Scan(&d, &k, &s))
		out = append(out, d+" "+k+" "+s)
	}
	require.NoError(a.t, rows.Err())
	return out
}

func TestPauseRoutesNeedTheToken(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	for _, route := range [][2]string{{"POST", "/api/deals/x:y/pause"}, {"POST", "/api/deals/x:y/resume"}, {"POST", "/api/deals/x:y/tasks/1/snooze"},
		{"POST", "/api/owners/a@b.test/pause"}, {"POST", "/api/owners/a@b.test/resume"}, {"POST", "/api/pipelines/p/pause"},
		{"POST", "/api/pipelines/p/resume"}, {"GET", "/api/sends"}, {"POST", "/api/sends/hold"}, {"POST", "/api/sends/release"}} {
		r := a.do(route[0], route[1], `{}`, "Authorization", "Bearer wrong")
		require.Equal(t, http.StatusUnauthorized, r.status, "%v", route)
	}
	sw, err := a.store.SendSwitchState(context.Background())
	require.NoError(t, err)
	require.False(t, sw.Held)
}

func TestDealPauseAndResume(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	body := fmt.Sprintf(`{"event_id":"p-1","until":%q,"reason":"prospect asked for a break"}`, until.Format(time.RFC3339))
	r := a.do("POST", "/api/deals/"+id+"/pause", body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "signalled", r.body["state"])
	require.Equal(t, until.Format(time.RFC3339), r.body["until"])
	require.Equal(t, "signalled", a.eventState(r.body["event_id"]))
	ev := lastSignal(t, id)
	require.Equal(t, workflows.EventPaused, ev.Kind)
	require.Equal(t, workflows.ScopeDeal, ev.Scope)
	require.True(t, ev.Until.Equal(until), ev.Until)
	require.Equal(t, "prospect asked for a break", ev.Reason)
	require.Equal(t, "p-1", ev.SourceEventID)
	require.Equal(t, int64(r.body["event_id"].(float64)), ev.InboundEventID)

	again := a.do("POST", "/api/deals/hubspot:hs-1/pause", body)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Len(t, signals(t, id), 1, "the pause (the create is the run's input); the retry signals nothing")

	// No end: until resumed.
	r = a.do("POST", "/api/deals/"+id+"/pause", `{"event_id":"p-2"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.True(t, lastSignal(t, id).Until.IsZero())

	r = a.do("POST", "/api/deals/"+id+"/resume", `{"event_id":"r-1","source":"app"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	ev = lastSignal(t, id)
	require.Equal(t, workflows.EventResumed, ev.Kind)
	require.Equal(t, workflows.ScopeDeal, ev.Scope)
	require.Equal(t, "app", ev.Source)
	r = a.do("POST", "/api/deals/"+id+"/resume", `{"event_id":"r-1","source":"app"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.body["duplicate"])

	// A date is the start of that day in the owner's zone.
	berlin := a.createFor("hs-2", "ute@vendor.test")
	_, err := a.pool.Exec(context.Background(), `UPDATE owners SET zone = 'Europe/Berlin' WHERE email = 'ute@vendor.test'`)
	require.NoError(t, err)
	r = a.do("POST", "/api/deals/"+berlin+"/pause", `{"event_id":"p-3","until_on":"2099-12-01"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.True(t, lastSignal(t, berlin).Until.Equal(time.Date(2099, 11, 30, 23, 0, 0, 0, time.UTC)), lastSignal(t, berlin).Until)
}

func TestDealPauseRefusals(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	r := a.do("POST", "/api/deals/"+id+"/pause", `{"event_id":"used-1"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	before := a.counts()
	sigs := len(signals(t, id))
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	pause, resume := "/api/deals/"+id+"/pause", "/api/deals/"+id+"/resume"
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{pause, `{"event_id":"e","until":"` + past + `"}`, 400, "until " + past + " is not in the future"},
		{pause, `{"event_id":"e","until_on":"2001-01-01"}`, 400, "until_on 2001-01-01 (2001-01-01T00:00:00Z in UTC) is not in the future"},
		{pause, `{"event_id":"e","until_on":"1 Dec"}`, 400, `until_on "1 Dec": want a date like 2026-12-01`},
		{pause, `{"event_id":"e","until_on":"2099-12-01","until":"2099-12-01T00:00:00Z"}`, 400, "give until or until_on, not both"},
		{pause, `{"event_id":"e","until":"tomorrow"}`, 400, `time "tomorrow" is not RFC 3339`},
		{pause, `{}`, 400, "event_id is required"},
		{pause, ``, 400, "body is empty"},
		{pause, `{"event_id":"e","reason":"a\nb"}`, 400, "reason must be a single line"},
		{pause, `{"event_id":"has space"}`, 400, "event id"},
		{pause, `{"event_id":"e","scope":"owner"}`, 400, `unknown field "scope"`},
		{pause, `{"event_id":"used-1","until":"2099-01-01T00:00:00Z"}`, 409, "already used for another request"},
		{resume, `{"event_id":"used-1"}`, 409, "already used for another request"},
		{resume, `{}`, 400, "event_id is required"},
		{"/api/deals/hubspot:nope/pause", `{"event_id":"e"}`, 404, "deal hubspot:nope: not found"},
		{"/api/deals/hubspot:nope/resume", `{"event_id":"e"}`, 404, "not found"},
		{"/api/deals/12345/pause", `{"event_id":"e"}`, 400, "want a deal id or source:external-id"},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.body)
	}
	require.Equal(t, before, a.counts(), "refused pauses write nothing")
	require.Len(t, signals(t, id), sigs)

	// A closed deal refuses, like a stage change.
	require.NoError(t, a.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	r = a.do("POST", pause, `{"event_id":"late"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), "reopen it")
	r = a.do("POST", resume, `{"event_id":"late-r"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Len(t, signals(t, id), sigs)
}

func TestOwnerPauseReachesEveryOpenDealOfTheOwner(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	ctx := context.Background()
	d1, d2 := a.createFor("hs-1", "ana@vendor.test"), a.createFor("hs-2", "ana@vendor.test")
	closed := a.createFor("hs-3", "ana@vendor.test")
	require.NoError(t, a.store.MarkClosed(ctx, closed, "lost", 1, time.Now()))
	carl := a.createFor("hs-4", "carl@vendor.test")
	sigs := map[string]int{closed: len(signals(t, closed)), carl: len(signals(t, carl))}

	until := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	body := fmt.Sprintf(`{"until":%q,"reason":"holiday"}`, until.Format(time.RFC3339))
	r := a.do("POST", "/api/owners/ana@vendor.test/pause", body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "paused", r.body["state"])
	require.Equal(t, "owner", r.body["scope"])
	require.Equal(t, "ana@vendor.test", r.body["owner"])
	require.Equal(t, float64(2), r.body["deals"])
	require.Equal(t, float64(2), r.body["signalled"])
	require.Equal(t, float64(0), r.body["failed"])
	require.Equal(t, until.Format(time.RFC3339), r.body["until"])
	pauseID := int64(r.body["pause_id"].(float64))
	for _, id := range []string{d1, d2} {
		ev := lastSignal(t, id)
		require.Equal(t, workflows.EventPaused, ev.Kind)
		require.Equal(t, workflows.ScopeOwner, ev.Scope)
		require.True(t, ev.Until.Equal(until))
		require.Equal(t, deals.SourceOps, ev.Source)
		require.Equal(t, fmt.Sprintf("owner-pause-%d.1/%s", pauseID, id), ev.SourceEventID)
		require.Equal(t, "holiday", ev.Reason)
	}
	require.ElementsMatch(t, []string{d1 + " paused signalled", d2 + " paused signalled"}, a.opsEvents())
	require.Len(t, signals(t, closed), sigs[closed], "a closed deal hears nothing")
	require.Len(t, signals(t, carl), sigs[carl], "another owner's deal hears nothing")

	// The same call again converges: every deal heard it already.
	r = a.do("POST", "/api/owners/ANA@vendor.test/pause", body)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "already_paused", r.body["state"])
	require.Equal(t, float64(2), r.body["already_done"])
	require.Equal(t, float64(0), r.body["signalled"])
	require.Len(t, a.opsEvents(), 2)

	// A deal created while its owner is paused starts paused.
	d5 := a.createFor("hs-5", "ana@vendor.test")
	in := startInput(t, d5)
	require.Len(t, in.Pauses, 1)
	require.Equal(t, workflows.ScopeOwner, in.Pauses[0].Scope)
	require.True(t, in.Pauses[0].Until.Equal(until))
	p, held, err := a.store.ActivePause(ctx, "owner", in.OwnerID)
	require.NoError(t, err)
	require.True(t, held)
	require.True(t, in.Pauses[0].Since.Equal(p.Since))
	require.Empty(t, startInput(t, carl).Pauses)

	// A second pause moves the end: each open deal hears the new one.
	later := until.Add(7 * 24 * time.Hour)
	r = a.do("POST", "/api/owners/"+in.OwnerID+"/pause", fmt.Sprintf(`{"until":%q}`, later.Format(time.RFC3339)))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "until_changed", r.body["state"])
	require.Equal(t, float64(pauseID), r.body["pause_id"])
	require.Equal(t, float64(3), r.body["signalled"])
	for _, id := range []string{d1, d2, d5} {
		ev := lastSignal(t, id)
		require.Equal(t, workflows.EventPaused, ev.Kind)
		require.True(t, ev.Until.Equal(later), "%s: %s", id, ev.Until)
		require.Equal(t, fmt.Sprintf("owner-pause-%d.2/%s", pauseID, id), ev.SourceEventID)
	}
	var reason string
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT reason FROM pauses WHERE id = $1`, pauseID).Scan(&reason))
	require.Equal(t, "holiday", reason, "a pause without a reason keeps the first")

	r = a.do("POST", "/api/owners/ana@vendor.test/resume", "")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "resumed", r.body["state"])
	require.Equal(t, float64(3), r.body["signalled"])
	for _, id := range []string{d1, d2, d5} {
		ev := lastSignal(t, id)
		require.Equal(t, workflows.EventResumed, ev.Kind)
		require.Equal(t, workflows.ScopeOwner, ev.Scope)
	}
	r = a.do("POST", "/api/owners/ana@vendor.test/resume", `{"source":"cli"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "already_resumed", r.body["state"])
	require.Equal(t, float64(3), r.body["already_done"])
	require.Empty(t, startInput(t, a.createFor("hs-6", "ana@vendor.test")).Pauses, "no pause holds after the resume")
	require.Len(t, signals(t, closed), sigs[closed])
	require.Len(t, signals(t, carl), sigs[carl])

	r = a.do("POST", "/api/owners/carl@vendor.test/resume", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "not_paused", r.body["state"])
	require.Len(t, signals(t, carl), sigs[carl])
}

func TestOwnerAndPipelinePauseRefusals(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	a.create()
	before := a.counts()
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/owners/nobody@vendor.test/pause", "", 404, "owner nobody@vendor.test: not found"},
		{"/api/owners/00000000-0000-0000-0000-000000000000/pause", "", 404, "not found"},
		{"/api/owners/nobody@vendor.test/resume", "", 404, "not found"},
		{"/api/owners/not-an-email/pause", "", 400, `owner "not-an-email" is not a plain email address`},
		{"/api/owners/ana@vendor.test/pause", `{"until":"` + past + `"}`, 400, "is not in the future"},
		{"/api/owners/ana@vendor.test/pause", `{"until_on":"2001-02-03"}`, 400, "until_on 2001-02-03"},
		{"/api/owners/ana@vendor.test/pause", `{"reason":"a\r\nb"}`, 400, "reason must be a single line"},
		{"/api/owners/ana@vendor.test/pause", `{"colour":"red"}`, 400, `unknown field "colour"`},
		{"/api/owners/ana@vendor.test/resume", `{"until":"2099-01-01T00:00:00Z"}`, 400, `unknown field "until"`},
		{"/api/pipelines/nope/pause", "", 404, `pipeline "nope" has no published cadence`},
		{"/api/pipelines/nope/resume", "", 404, `pipeline "nope" has no published cadence`},
		{"/api/pipelines/b2b-default/pause", `{"until":"` + past + `"}`, 400, "is not in the future"},
		{"/api/pipelines/b%20b/pause", "", 400, `pipeline "b b"`},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.path)
	}
	require.Equal(t, before, a.counts(), "refused pauses write nothing")
	var n int
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT count(*) FROM pauses`).Scan(&n))
	require.Zero(t, n)
}

func TestPipelinePauseReachesEveryOpenDealOnIt(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	d1, d2 := a.createFor("hs-1", "ana@vendor.test"), a.createFor("hs-2", "carl@vendor.test")
	closed := a.createFor("hs-3", "carl@vendor.test")
	require.NoError(t, a.store.MarkClosed(context.Background(), closed, "won", 1, time.Now()))
	sigs := len(signals(t, closed))

	r := a.do("POST", "/api/pipelines/b2b-default/pause", `{"reason":"pricing change"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "pipeline", r.body["scope"])
	require.Equal(t, "b2b-default", r.body["key"])
	require.Equal(t, float64(2), r.body["signalled"])
	require.Nil(t, r.body["until"])
	for _, id := range []string{d1, d2} {
		ev := lastSignal(t, id)
		require.Equal(t, workflows.EventPaused, ev.Kind)
		require.Equal(t, workflows.ScopePipeline, ev.Scope)
		require.True(t, ev.Until.IsZero())
	}
	in := startInput(t, a.createFor("hs-4", "dora@vendor.test"))
	require.Len(t, in.Pauses, 1)
	require.Equal(t, workflows.ScopePipeline, in.Pauses[0].Scope)
	require.True(t, in.Pauses[0].Until.IsZero())

	r = a.do("POST", "/api/pipelines/b2b-default/resume", "")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, float64(3), r.body["signalled"])
	require.Equal(t, workflows.EventResumed, lastSignal(t, d2).Kind)
	require.Len(t, signals(t, closed), sigs)
	var states []string
	for _, e := range a.opsEvents() {
		states = append(states, e[strings.Index(e, " ")+1:])
	}
	sort.Strings(states)
	require.Equal(t, []string{"paused signalled", "paused signalled", "resumed signalled", "resumed signalled", "resumed signalled"}, states)
}

// flaky is the real Temporal client, except that signals to one deal fail: a partial outage.
type flaky struct {
	client.Client
	failDeal string
}

func (f flaky) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	if workflowID == workflows.WorkflowID(f.failDeal) {
		return errors.New("rpc error: connection reset by 10.9.8.7")
	}
	return f.Client.SignalWorkflow(ctx, workflowID, runID, signalName, arg)
}

func (f flaky) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	if workflowID == workflows.WorkflowID(f.failDeal) {
		return nil, errors.New("rpc error: connection reset by 10.9.8.7")
	}
	return f.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
}

func TestOwnerPausePartialFailureIsReportedAndARetryCompletes(t *testing.T) {
	t.Parallel()
	live := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	d1, d2, d3 := live.createFor("hs-1", "ana@vendor.test"), live.createFor("hs-2", "ana@vendor.test"), live.createFor("hs-3", "ana@vendor.test")
	c, err := client.NewLazyClient(client.Options{HostPort: devServer.Get(t).FrontendHostPort(), Namespace: "default"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	down := &api{t: t, pool: live.pool, store: live.store, logs: &strings.Builder{}}
	down.srv = httptest.NewServer((&httpapi.Server{Deals: &deals.Service{Store: live.store, Temporal: flaky{Client: c, failDeal: d2}},
		Token: token, Logger: slog.New(slog.NewTextHandler(down.logs, nil))}).Handler())
	t.Cleanup(down.srv.Close)

	r := down.do("POST", "/api/owners/ana@vendor.test/pause", `{"until_on":"2099-01-04","reason":"holiday"}`)
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	require.Equal(t, "5", r.header.Get("Retry-After"))
	require.Contains(t, text(r), "1 of 3 open deals could not be signalled; the pause is recorded: send the same request again")
	require.NotContains(t, r.raw, "10.9.8.7", "internal errors are logged, never echoed")
	require.Contains(t, down.logs.String(), "10.9.8.7")
	require.Equal(t, float64(2), r.body["signalled"])
	require.Equal(t, float64(1), r.body["failed"])
	require.Equal(t, []any{d2}, r.body["failed_deals"])
	require.Equal(t, "paused", r.body["state"])
	require.Equal(t, "2099-01-04T00:00:00Z", r.body["until"])
	require.Equal(t, workflows.EventPaused, lastSignal(t, d1).Kind)
	require.Equal(t, workflows.EventPaused, lastSignal(t, d3).Kind)
	require.Empty(t, signals(t, d2), "the deal that missed it hears nothing yet")

	// The same request once Temporal answers tells the deal that missed it, and only that one.
	r = live.do("POST", "/api/owners/ana@vendor.test/pause", `{"until_on":"2099-01-04","reason":"holiday"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "already_paused", r.body["state"])
	require.Equal(t, float64(1), r.body["signalled"])
	require.Equal(t, float64(2), r.body["already_done"])
	require.Equal(t, float64(0), r.body["failed"])
	for _, id := range []string{d1, d2, d3} {
		require.Equal(t, workflows.EventPaused, lastSignal(t, id).Kind)
		n := 0
		for _, ev := range signals(t, id) {
			if ev.Kind == workflows.EventPaused {
				n++
			}
		}
		require.Equal(t, 1, n, "each deal hears the pause once")
	}
	require.ElementsMatch(t, []string{d1 + " paused signalled", d2 + " paused signalled", d3 + " paused signalled"}, live.opsEvents())

	// A resume while a deal still misses the pause supersedes that deal's waiting event.
	r = down.do("POST", "/api/owners/ana@vendor.test/pause", `{"until_on":"2099-02-01"}`)
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	require.Equal(t, "until_changed", r.body["state"])
	r = live.do("POST", "/api/owners/ana@vendor.test/resume", "")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	var state, reason string
	require.NoError(t, live.pool.QueryRow(context.Background(), `SELECT state, outcome_reason FROM inbound_events
		WHERE source = 'ops' AND deal_id = $1 AND source_event_id LIKE 'owner-pause-%.2/%'`, d2).Scan(&state, &reason))
	require.Equal(t, "ignored", state, "nothing re-signals a pause lifted before it arrived")
	require.Contains(t, reason, "lifted before this reached the deal")
}

func TestSnoozeTask(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	task := a.openTask(id, "intro-call")
	until := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	path := fmt.Sprintf("/api/deals/%s/tasks/%d/snooze", id, task)
	body := fmt.Sprintf(`{"until":%q}`, until.Format(time.RFC3339))
	r := a.do("POST", path, body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "signalled", r.body["state"])
	require.Equal(t, float64(task), r.body["task_id"])
	require.Equal(t, "signalled", a.eventState(r.body["event_id"]))
	ev := lastSignal(t, id)
	require.Equal(t, workflows.EventTaskSnoozed, ev.Kind)
	require.Equal(t, task, ev.TaskID)
	require.True(t, ev.Until.Equal(until))
	require.Equal(t, fmt.Sprintf("task-%d-snooze-%s", task, until.Format(time.RFC3339)), ev.SourceEventID)
	row, err := a.store.TaskByID(context.Background(), task)
	require.NoError(t, err)
	require.False(t, row.DueAt.Equal(until), "the workflow, not the front door, writes the task row")

	again := a.do("POST", fmt.Sprintf("/api/deals/hubspot:hs-1/tasks/%d/snooze", task), body)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Equal(t, r.body["event_id"], again.body["event_id"])

	r = a.do("POST", path, `{"until_on":"2099-01-05","source":"app","event_id":"snz-1"}`)
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Contains(t, text(r), "more than 90 days ahead")
	soon := time.Now().Add(24 * time.Hour).UTC().Format(time.DateOnly)
	r = a.do("POST", path, fmt.Sprintf(`{"until_on":%q,"source":"app","event_id":"snz-1"}`, soon))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	ev = lastSignal(t, id)
	require.Equal(t, "app", ev.Source)
	require.Equal(t, soon+"T00:00:00Z", ev.Until.Format(time.RFC3339), "a date is the start of that day in the owner's zone (UTC here)")
}

func TestSnoozeRefusals(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	other := a.createFor("hs-2", "ana@vendor.test")
	open, done, theirs := a.openTask(id, "a"), a.openTask(id, "b"), a.openTask(other, "a")
	_, err := a.store.CloseTask(context.Background(), id, done, "done", time.Now(), "")
	require.NoError(t, err)
	before := a.counts()
	sigs := len(signals(t, id))
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	far := time.Now().Add(91 * 24 * time.Hour).UTC().Format(time.RFC3339)
	task := func(n int64) string { return fmt.Sprintf("/api/deals/%s/tasks/%d/snooze", id, n) }
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{task(open), `{"until":"` + past + `"}`, 400, "until " + past + " is not in the future"},
		{task(open), `{"until":"` + far + `"}`, 400, "until " + far + " is more than 90 days ahead; skip the task, or pause the deal, instead"},
		{task(open), `{}`, 400, "until is required"},
		{task(open), ``, 400, "body is empty"},
		{task(open), `{"until_on":"soon"}`, 400, `until_on "soon": want a date`},
		{task(open), `{"until":"` + future + `","event_id":"x y"}`, 400, "event id"},
		{task(999999), `{"until":"` + future + `"}`, 404, fmt.Sprintf("task 999999 of deal %s: not found", id)},
		{task(theirs), `{"until":"` + future + `"}`, 404, fmt.Sprintf("task %d of deal %s: not found", theirs, id)},
		{task(done), `{"until":"` + future + `"}`, 409, fmt.Sprintf("task %d of deal %s is done already", done, id)},
		{"/api/deals/" + id + "/tasks/abc/snooze", `{"until":"` + future + `"}`, 400, `task "abc": want a task id`},
		{fmt.Sprintf("/api/deals/hubspot:nope/tasks/%d/snooze", open), `{"until":"` + future + `"}`, 404, "deal hubspot:nope: not found"},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.body)
	}
	require.Equal(t, before, a.counts(), "refused snoozes write nothing")
	require.Len(t, signals(t, id), sigs)

	require.NoError(t, a.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	r := a.do("POST", task(open), `{"until":"`+future+`"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Len(t, signals(t, id), sigs)
}

func TestCreateImportPassesThrough(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	imported := a.createFor("hs-1", "ana@vendor.test", `"import":true`)
	require.True(t, startInput(t, imported).Import)
	var payload string
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT payload->>'import' FROM inbound_events WHERE deal_id = $1`, imported).Scan(&payload))
	require.Equal(t, "true", payload, "the recorded create says it was an import")
	require.False(t, startInput(t, a.createFor("hs-2", "ana@vendor.test")).Import)
	r := a.do("POST", "/api/deals", strings.Replace(createBody, `"title"`, `"import":"yes","title"`, 1))
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Contains(t, text(r), `field "import"`)
}

func TestSendSwitch(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	r := a.do("GET", "/api/sends", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, false, r.body["held"])

	r = a.do("POST", "/api/sends/hold", `{"reason":"relay on a blocklist","by":"ops-ana"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.body["held"])
	require.Equal(t, true, r.body["changed"])
	require.Equal(t, "relay on a blocklist", r.body["reason"])
	require.Equal(t, "ops-ana", r.body["changed_by"])
	held, reason, since, err := a.store.SendHold(context.Background())
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, "relay on a blocklist", reason)
	require.Equal(t, r.body["changed_at"], since.Format(time.RFC3339Nano))

	again := a.do("POST", "/api/sends/hold", "")
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, false, again.body["changed"])
	require.Equal(t, "relay on a blocklist", again.body["reason"], "a second hold keeps the first")
	r = a.do("GET", "/api/sends", "")
	require.Equal(t, true, r.body["held"])
	require.Equal(t, "ops-ana", r.body["changed_by"])

	for _, c := range []struct{ path, body, want string }{
		{"/api/sends/hold", `{"reason":"a\nb"}`, "reason must be a single line"},
		{"/api/sends/hold", `{"held":false}`, `unknown field "held"`},
		{"/api/sends/release", `{"reason":"x"}`, "reason applies to hold only"},
	} {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, http.StatusBadRequest, r.status, r.raw)
		require.Contains(t, text(r), c.want)
	}

	r = a.do("POST", "/api/sends/release", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, false, r.body["held"])
	require.Equal(t, true, r.body["changed"])
	require.Equal(t, "api-token", r.body["changed_by"], "the authenticated actor")
	r = a.do("POST", "/api/sends/release", "{}")
	require.Equal(t, false, r.body["changed"])
	held, _, _, err = a.store.SendHold(context.Background())
	require.NoError(t, err)
	require.False(t, held)
	require.Equal(t, http.StatusMethodNotAllowed, a.do("DELETE", "/api/sends", "").status)
}
