package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// signals lists the deal events the deal's workflow received, in history order: the proof
// that a request reached it, since no worker runs here.
func signals(t *testing.T, dealID string) []workflows.Event {
	t.Helper()
	return temporaltest.ReadDealRun(t, devServer.Get(t).Client(), dealID).Signals
}

func lastSignal(t *testing.T, dealID string) workflows.Event {
	t.Helper()
	return temporaltest.ReadDealRun(t, devServer.Get(t).Client(), dealID).LastSignal(t)
}

func (a *api) eventState(id any) string {
	a.t.Helper()
	var state string
	require.NoError(a.t, a.pool.QueryRow(context.Background(), `SELECT state FROM inbound_events WHERE id = $1`,
		int64(id.(float64))).Scan(&state))
	return state
}

// suppressions lists the suppression rows as "reason contact|address source".
func (a *api) suppressions() []string {
	a.t.Helper()
	rows, err := a.pool.Query(context.Background(), `SELECT reason, coalesce(contact_id::text, '-'), coalesce(address, '-'), source
		FROM suppressions ORDER BY id`)
	require.NoError(a.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var reason, contact, address, source string
		require.NoError(a.t, rows.Scan(&reason, &contact, &address, &source))
		if contact != "-" {
			contact = "contact"
		}
		out = append(out, fmt.Sprintf("%s %s|%s %s", reason, contact, address, source))
	}
	require.NoError(a.t, rows.Err())
	return out
}

func TestEngagementSignalsTheDeal(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	path := "/api/deals/" + id + "/engagements"

	r := a.do("POST", path, `{"kind":"reply","source":"mailbox","event_id":"msg-1","source_time":"2026-11-23T10:00:00Z"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "signalled", r.body["state"])
	require.Equal(t, false, r.body["duplicate"])
	require.Nil(t, r.body["suppressed"])
	require.Equal(t, "signalled", a.eventState(r.body["event_id"]))
	ev := lastSignal(t, id)
	require.Equal(t, workflows.EventEngaged, ev.Kind)
	require.Equal(t, cadence.EngagedReply, ev.Engagement)
	require.Equal(t, "mailbox", ev.Source)
	require.Equal(t, "msg-1", ev.SourceEventID)
	require.Equal(t, int64(r.body["event_id"].(float64)), ev.InboundEventID)
	require.True(t, ev.ReturnAt.IsZero())

	again := a.do("POST", "/api/deals/hubspot:hs-1/engagements", `{"kind":"reply","source":"mailbox","event_id":"msg-1"}`)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Equal(t, r.body["event_id"], again.body["event_id"])
	require.Len(t, signals(t, id), 1, "the reply (the create is the run's input); the retry signals nothing")

	r = a.do("POST", path, `{"kind":"out_of_office","event_id":"ooo-1","source_time":"2026-11-23T10:00:00Z","return_at":"2026-12-01T08:00:00Z"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	ev = lastSignal(t, id)
	require.Equal(t, cadence.EngagedOutOfOffice, ev.Engagement)
	require.Equal(t, "api", ev.Source)
	require.True(t, ev.ReturnAt.Equal(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)), ev.ReturnAt)

	// A date is the start of that day in the contact's zone (Europe/Berlin here).
	r = a.do("POST", path, `{"kind":"out_of_office","event_id":"ooo-2","source_time":"2026-11-23T10:00:00Z","return_on":"2026-12-01"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	ev = lastSignal(t, id)
	require.True(t, ev.ReturnAt.Equal(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)), ev.ReturnAt)

	r = a.do("POST", path, `{"kind":"click","event_id":"clk-1","detail":"https://vendor.test/pricing"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, cadence.EngagedClick, lastSignal(t, id).Engagement)
	require.Empty(t, a.suppressions(), "only bounces and unsubscribes suppress")
}

func TestEngagementRefusesBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	path := "/api/deals/" + id + "/engagements"
	r := a.do("POST", path, `{"kind":"reply","event_id":"used-1"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	before := a.counts()
	sigs := len(signals(t, id))

	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{path, `{"kind":"sneeze","event_id":"e"}`, 400, `kind "sneeze": want one of reply, meeting_booked, click, bounce, unsubscribe, out_of_office`},
		{path, `{"event_id":"e"}`, 400, `kind "": want one of`},
		{path, `{"kind":"reply"}`, 400, "event_id is required"},
		{path, `{"kind":"reply","event_id":"has space"}`, 400, "event id"},
		{path, `{"kind":"reply","event_id":"e","return_at":"2026-12-01T00:00:00Z"}`, 400, "return_at applies only to out_of_office, not to reply"},
		{path, `{"kind":"reply","event_id":"e","return_on":"2026-12-01"}`, 400, "return_on applies only to out_of_office"},
		{path, `{"kind":"out_of_office","event_id":"e","source_time":"2026-11-23T10:00:00Z","return_at":"2026-11-23T09:00:00Z"}`, 400,
			"return_at 2026-11-23T09:00:00Z is not after the source time 2026-11-23T10:00:00Z"},
		{path, `{"kind":"out_of_office","event_id":"e","source_time":"2026-11-23T10:00:00Z","return_at":"2026-11-23T10:00:00Z"}`, 400, "is not after the source time"},
		{path, `{"kind":"out_of_office","event_id":"e","source_time":"2026-11-23T10:00:00Z","return_on":"2026-11-23"}`, 400,
			"return_on 2026-11-23 (2026-11-23T00:00:00+01:00 in Europe/Berlin) is not after the source time"},
		{path, `{"kind":"out_of_office","event_id":"e","return_on":"1 Dec"}`, 400, `return_on "1 Dec": want a date like 2026-12-01`},
		{path, `{"kind":"out_of_office","event_id":"e","return_on":"2099-12-01","return_at":"2099-12-01T00:00:00Z"}`, 400, "not both"},
		{path, `{"kind":"out_of_office","event_id":"e","return_at":"next week"}`, 400, `time "next week" is not RFC 3339`},
		{path, `{"kind":"reply","event_id":"e","address":"bob@prospect.test"}`, 400, "address applies only to bounce and unsubscribe"},
		{path, `{"kind":"bounce","event_id":"e","address":"Bob <bob@prospect.test>"}`, 400, "is not a plain email address"},
		{path, `{"kind":"bounce","event_id":"e","detail":"550 5.1.1\r\nBcc: x@y.z"}`, 400, "detail must be a single line"},
		{path, `{"kind":"reply","event_id":"e","colour":"red"}`, 400, `unknown field "colour"`},
		{path, `{"kind":"bounce","event_id":"used-1"}`, 409, `event id "used-1" of source api was already used for another request`},
		{path, `{"kind":"reply","event_id":"create:hs-1","source":"hubspot"}`, 409, "already used for another request"},
		{"/api/deals/hubspot:nope/engagements", `{"kind":"reply","event_id":"e"}`, 404, "not found"},
		{"/api/deals/12345/engagements", `{"kind":"reply","event_id":"e"}`, 400, "want a deal id or source:external-id"},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.body)
	}
	require.Equal(t, before, a.counts(), "refused engagements write nothing")
	require.Empty(t, a.suppressions())
	require.Len(t, signals(t, id), sigs, "refused engagements signal nothing")
}

func TestBounceAndUnsubscribeSuppressBeforeSignalling(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	path := "/api/deals/" + id + "/engagements"

	r := a.do("POST", path, `{"kind":"bounce","source":"esp","event_id":"b-1","detail":"550 5.1.1 user unknown"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, true, r.body["suppressed"])
	require.Equal(t, []string{"bounce -|bob@prospect.test esp"}, a.suppressions(), "committed when the call returns")
	require.Equal(t, cadence.EngagedBounce, lastSignal(t, id).Engagement)
	var detail string
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT detail FROM suppressions`).Scan(&detail))
	require.Equal(t, "550 5.1.1 user unknown", detail)
	for _, ev := range signals(t, id) {
		require.NotContains(t, fmt.Sprintf("%+v", ev), "bob@prospect.test", "no personal data in the workflow's history")
		require.NotContains(t, fmt.Sprintf("%+v", ev), "user unknown")
	}

	again := a.do("POST", path, `{"kind":"bounce","source":"esp","event_id":"b-1","detail":"550 5.1.1 user unknown"}`)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Equal(t, true, again.body["suppressed"])
	// The same bounce reported again under another event id is one suppression too.
	r = a.do("POST", path, `{"kind":"bounce","source":"esp","event_id":"b-2"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, []string{"bounce -|bob@prospect.test esp"}, a.suppressions(), "no duplicate rows")

	r = a.do("POST", path, `{"kind":"unsubscribe","source":"web","event_id":"u-1"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, true, r.body["suppressed"])
	require.Equal(t, []string{"bounce -|bob@prospect.test esp", "unsubscribe contact|- web"}, a.suppressions())
	require.Equal(t, cadence.EngagedUnsubscribe, lastSignal(t, id).Engagement)
	d, err := a.store.DealByID(context.Background(), id)
	require.NoError(t, err)
	suppressed, err := a.store.Suppressed(context.Background(), d.ContactID, "other@prospect.test")
	require.NoError(t, err)
	require.True(t, suppressed, "the send path sees the contact suppressed, whatever the address")

	// A bounce for an explicit address suppresses that address.
	r = a.do("POST", path, `{"kind":"bounce","source":"esp","event_id":"b-3","address":"Bob.Old@Prospect.test"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Contains(t, a.suppressions(), "bounce -|bob.old@prospect.test esp")
}

func TestSuppressionIsCommittedEvenWhenTheSignalFails(t *testing.T) {
	t.Parallel()
	live := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := live.create()
	// The same database behind a front door whose Temporal does not answer.
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(dead.Close)
	down := &api{t: t, pool: live.pool, store: live.store, logs: &strings.Builder{}}
	down.srv = httptest.NewServer((&httpapi.Server{Deals: &deals.Service{Store: live.store, Temporal: dead}, Token: token,
		Logger: slog.New(slog.NewTextHandler(down.logs, nil))}).Handler())
	t.Cleanup(down.srv.Close)

	body := `{"kind":"unsubscribe","source":"web","event_id":"u-1"}`
	r := down.do("POST", "/api/deals/"+id+"/engagements", body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "received", r.body["state"], "recorded; the sweeper delivers it")
	require.Equal(t, true, r.body["suppressed"])
	require.Equal(t, deals.PendingMessage, r.body["message"])
	require.Equal(t, []string{"unsubscribe contact|- web"}, live.suppressions(), "the suppression does not wait for Temporal")
	var state string
	require.NoError(t, live.pool.QueryRow(context.Background(), `SELECT state FROM inbound_events WHERE source_event_id = 'u-1'`).Scan(&state))
	require.Equal(t, "received", state)

	// The retry, once Temporal answers, signals the recorded event and adds no suppression.
	r = live.do("POST", "/api/deals/"+id+"/engagements", body)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.body["duplicate"])
	require.Equal(t, "signalled", r.body["state"])
	require.Equal(t, "signalled", live.eventState(r.body["event_id"]))
	require.Equal(t, cadence.EngagedUnsubscribe, lastSignal(t, id).Engagement)
	require.Equal(t, []string{"unsubscribe contact|- web"}, live.suppressions())
}

func TestClosedDealRefusesEngagementsButStillSuppresses(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	require.NoError(t, a.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	path := "/api/deals/" + id + "/engagements"
	sigs := len(signals(t, id))

	r := a.do("POST", path, `{"kind":"reply","event_id":"late-reply"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), "reopen it")
	r = a.do("POST", path, `{"kind":"out_of_office","event_id":"late-ooo","return_on":"2099-01-05"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)

	r = a.do("POST", path, `{"kind":"bounce","source":"esp","event_id":"late-bounce"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "applied", r.body["state"])
	require.Equal(t, store.ReasonClosedSuppressed, r.body["reason"])
	require.Equal(t, true, r.body["suppressed"])
	r = a.do("POST", path, `{"kind":"unsubscribe","source":"web","event_id":"late-unsub"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.body["suppressed"])
	require.Equal(t, []string{"bounce -|bob@prospect.test esp", "unsubscribe contact|- web"}, a.suppressions())
	again := a.do("POST", path, `{"kind":"unsubscribe","source":"web","event_id":"late-unsub"}`)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Len(t, a.suppressions(), 2)

	rows, err := a.pool.Query(context.Background(), `SELECT source_event_id || ' ' || state FROM inbound_events WHERE kind = 'engaged' ORDER BY id`)
	require.NoError(t, err)
	var states []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		states = append(states, s)
	}
	require.Equal(t, []string{"late-reply refused", "late-ooo refused", "late-bounce applied", "late-unsub applied"}, states)
	require.Len(t, signals(t, id), sigs, "a closed deal's workflow hears nothing")
}

// openTask gives the deal's owner a task, as the workflow's activity would.
func (a *api) openTask(dealID, step string) int64 {
	a.t.Helper()
	task, err := a.store.CreateTask(context.Background(), store.NewTask{DealID: dealID, Visit: 1, StepID: step, Occurrence: 1,
		Kind: "call", Title: "Call Bob", DueAt: time.Now().Add(24 * time.Hour), At: time.Now()})
	require.NoError(a.t, err)
	return task.ID
}

func TestTaskDoneAndSkip(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	call, mail := a.openTask(id, "intro-call"), a.openTask(id, "linkedin")

	r := a.do("POST", fmt.Sprintf("/api/deals/%s/tasks/%d/done", id, call), "")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "signalled", r.body["state"])
	require.Equal(t, float64(call), r.body["task_id"])
	require.Equal(t, "signalled", a.eventState(r.body["event_id"]))
	ev := lastSignal(t, id)
	require.Equal(t, workflows.EventTaskClosed, ev.Kind)
	require.Equal(t, call, ev.TaskID)
	require.Equal(t, workflows.TaskDone, ev.TaskOutcome)
	require.Equal(t, fmt.Sprintf("task-%d-done", call), ev.SourceEventID)
	task, err := a.store.TaskByID(context.Background(), call)
	require.NoError(t, err)
	require.Equal(t, "open", task.State, "the workflow, not the front door, writes task state")

	// A retry converges, also once the workflow has closed the task.
	_, err = a.store.CloseTask(context.Background(), id, call, "done", time.Now(), "")
	require.NoError(t, err)
	again := a.do("POST", fmt.Sprintf("/api/deals/hubspot:hs-1/tasks/%d/done", call), "{}")
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])
	require.Equal(t, r.body["event_id"], again.body["event_id"])

	r = a.do("POST", fmt.Sprintf("/api/deals/%s/tasks/%d/skip", id, mail), `{"source":"app","event_id":"skip-7","note":"no LinkedIn profile"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	ev = lastSignal(t, id)
	require.Equal(t, mail, ev.TaskID)
	require.Equal(t, workflows.TaskSkipped, ev.TaskOutcome)
	require.Equal(t, "no LinkedIn profile", ev.Reason, "the note becomes the close reason")
	require.Equal(t, "app", ev.Source)
}

func TestTaskRefusals(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	r := a.do("POST", "/api/deals", strings.Replace(createBody, `"hs-1"`, `"hs-2"`, 1))
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	other := r.body["deal_id"].(string)
	done, cancelled, theirs := a.openTask(id, "b"), a.openTask(id, "c"), a.openTask(other, "a")
	_, err := a.store.CloseTask(context.Background(), id, done, "done", time.Now(), "")
	require.NoError(t, err)
	_, err = a.store.CancelVisitTasks(context.Background(), id, 1, time.Now(), "left the stage")
	require.NoError(t, err)
	open := a.openTask(id, "d") // after the cancel
	r = a.do("POST", fmt.Sprintf("/api/deals/%s/tasks/%d/done", id, open), `{"event_id":"used-1"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	before := a.counts()
	sigs := len(signals(t, id))

	task := func(n int64, verb string) string { return fmt.Sprintf("/api/deals/%s/tasks/%d/%s", id, n, verb) }
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{task(999999, "done"), "", 404, fmt.Sprintf("task 999999 of deal %s: not found", id)},
		{task(theirs, "done"), "", 404, fmt.Sprintf("task %d of deal %s: not found", theirs, id)},
		{task(done, "skip"), "", 409, fmt.Sprintf("task %d of deal %s is done already", done, id)},
		{task(done, "done"), `{"event_id":"again-1"}`, 409, "is done already"},
		{task(cancelled, "done"), "", 409, "is cancelled already"},
		{task(open, "skip"), `{"event_id":"used-1"}`, 409, "already used for another request"},
		{task(open, "skip"), `{"note":"a\nb"}`, 400, "note must be a single line"},
		{task(open, "skip"), `{"colour":"red"}`, 400, `unknown field "colour"`},
		{task(open, "skip"), `{"event_id":"has space"}`, 400, "event id"},
		{"/api/deals/" + id + "/tasks/abc/done", "", 400, `task "abc": want a task id`},
		{"/api/deals/" + id + "/tasks/0/done", "", 400, `task "0": want a task id`},
		{fmt.Sprintf("/api/deals/hubspot:nope/tasks/%d/done", open), "", 404, "deal hubspot:nope: not found"},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.path)
	}
	require.Equal(t, http.StatusMethodNotAllowed, a.do("GET", task(open, "done"), "").status)
	require.Equal(t, http.StatusNotFound, a.do("POST", task(open, "finish"), "").status)
	require.Equal(t, before, a.counts(), "refused task requests write nothing")
	require.Len(t, signals(t, id), sigs)

	// A closed deal refuses, like a stage change.
	fresh := a.openTask(id, "e")
	require.NoError(t, a.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	r = a.do("POST", task(fresh, "done"), "")
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), "deal is closed")
	require.Len(t, signals(t, id), sigs)
}
