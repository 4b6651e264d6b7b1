package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

const token = "test-token-0123456789abcdef"

// devServer is the package's Temporal dev server, started by the first test that needs it:
// the tests that need none (decoding, routing, errors) run without it, as in the unit tier.
var devServer temporaltest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	devServer.Stop()
	os.Exit(code)
}

type api struct {
	t     *testing.T
	srv   *httptest.Server
	pool  *pgxpool.Pool
	store *store.Store
	logs  *strings.Builder
}

// newAPI serves the real handler over a fresh database and the shared dev server (no
// worker: the API never waits for one).
func newAPI(t *testing.T, temporalAddr string, ready func(context.Context) error) *api {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	c, err := client.NewLazyClient(client.Options{HostPort: temporalAddr, Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	logs := &strings.Builder{}
	h := (&httpapi.Server{Deals: &deals.Service{Store: st, Temporal: c}, Token: token, Ready: ready,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, pool: pool, store: st, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a *api) do(method, path, body string, headers ...string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// text is what an API client reads: the error and the listed problems.
func text(r response) string {
	out := fmt.Sprint(r.body["error"])
	if ps, ok := r.body["problems"].([]any); ok {
		for _, p := range ps {
			out += "; " + fmt.Sprint(p)
		}
	}
	return out
}

func (a *api) counts() map[string]int {
	a.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"owners", "contacts", "deals", "deal_external_ids", "inbound_events"} {
		var n int
		require.NoError(a.t, a.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		out[table] = n
	}
	return out
}

const createBody = `{"source":"hubspot","external_id":"hs-1","title":"Pilot",
 "owner":{"email":"ana@vendor.test","name":"Ana Rep","company":"Vendor"},
 "contact":{"email":"bob@prospect.test","first_name":"Bob","company":"Prospect Inc","zone":"Europe/Berlin","country":"DE"}}`

func (a *api) create() string {
	a.t.Helper()
	r := a.do("POST", "/api/deals", createBody)
	require.Equal(a.t, http.StatusCreated, r.status, r.raw)
	return r.body["deal_id"].(string)
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), func(context.Context) error { return nil })
	require.Equal(t, http.StatusOK, a.do("GET", "/healthz", "", "Authorization", "").status)
	require.Equal(t, http.StatusOK, a.do("GET", "/readyz", "", "Authorization", "").status)

	down := newAPI(t, devServer.Get(t).FrontendHostPort(), func(context.Context) error {
		return errors.New("dial tcp 10.1.2.3:5432: secret detail")
	})
	r := down.do("GET", "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.NotContains(t, r.raw, "secret detail", "internal errors are logged, never echoed")
	require.Contains(t, down.logs.String(), "secret detail")
}

func TestAuthIsRequired(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	for _, h := range [][]string{{"Authorization", ""}, {"Authorization", "Bearer wrong"}, {"Authorization", token}, {"Authorization", "Basic " + token}} {
		for _, route := range [][2]string{{"POST", "/api/deals"}, {"POST", "/api/deals/x:y/stage"}, {"POST", "/api/deals/x:y/reopen"}, {"GET", "/api/deals/x:y"},
			{"POST", "/api/deals/x:y/engagements"}, {"POST", "/api/deals/x:y/tasks/1/done"}, {"POST", "/api/deals/x:y/tasks/1/skip"}} {
			r := a.do(route[0], route[1], createBody, h...)
			require.Equal(t, http.StatusUnauthorized, r.status, "%v %v", route, h)
			require.Equal(t, `Bearer realm="followup"`, r.header.Get("WWW-Authenticate"))
		}
	}
	require.Equal(t, map[string]int{"owners": 0, "contacts": 0, "deals": 0, "deal_external_ids": 0, "inbound_events": 0}, a.counts())
}

func TestCreateUpsertsByExternalID(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	first := a.do("POST", "/api/deals", createBody)
	require.Equal(t, http.StatusCreated, first.status, first.raw)
	id := first.body["deal_id"].(string)
	require.Equal(t, "/api/deals/"+id, first.header.Get("Location"))
	require.Equal(t, "prospecting", first.body["stage"])
	require.NotEmpty(t, first.body["run_id"])

	again := a.do("POST", "/api/deals", createBody)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, id, again.body["deal_id"])
	require.Equal(t, false, again.body["created"])
	require.Equal(t, first.body["run_id"], again.body["run_id"], "one workflow per deal")
}

func TestCreateRefusesBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	cases := []struct {
		name, body, contentType string
		status                  int
		want                    string
	}{
		{"empty", "", "application/json", 400, "body is empty"},
		{"not json", "{nope", "application/json", 400, "not valid JSON"},
		{"two values", createBody + createBody, "application/json", 400, "body goes on after its JSON object"},
		{"unknown field", `{"source":"crm","external_id":"x","colour":"red"}`, "application/json", 400, `unknown field "colour"`},
		{"wrong type", `{"source":"crm","external_id":7}`, "application/json", 400, `field "external_id"`},
		{"form", "a=b", "application/x-www-form-urlencoded", 415, "application/json"},
		{"too big", `{"title":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, "application/json", 413, "larger than"},
		{"bad emails", `{"external_id":"x","owner":{"email":"nope"},"contact":{"email":"a b@c"}}`, "application/json", 400, "invalid request"},
		{"bad zone", strings.Replace(createBody, "Europe/Berlin", "Mars/Base", 1), "application/json", 400, "invalid request"},
		{"header injection", strings.Replace(createBody, `"Pilot"`, `"Pilot\r\nBcc: x@y.z"`, 1), "application/json", 400, "invalid request"},
		{"unknown cadence", strings.Replace(createBody, `"title"`, `"cadence_version":42,"title"`, 1), "application/json", 404, "cadence version 42"},
	}
	for _, c := range cases {
		r := a.do("POST", "/api/deals", c.body, "Content-Type", c.contentType)
		require.Equal(t, c.status, r.status, "%s: %s", c.name, r.raw)
		require.Contains(t, text(r), c.want, c.name)
		require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"), c.name)
	}
	r := a.do("POST", "/api/deals", `{"external_id":"x","owner":{"email":"nope"},"contact":{"email":"a b@c"}}`)
	problems := r.body["problems"].([]any)
	require.Len(t, problems, 2, "every problem listed at once")
	require.Equal(t, map[string]int{"owners": 0, "contacts": 0, "deals": 0, "deal_external_ids": 0, "inbound_events": 0}, a.counts())
}

func TestStageChange(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	body := `{"stage":"qualification","source":"hubspot","event_id":"evt-1","source_time":"2026-11-23T10:00:00Z","reason":"call booked"}`
	r := a.do("POST", "/api/deals/"+id+"/stage", body)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "signalled", r.body["state"])
	again := a.do("POST", "/api/deals/hubspot:hs-1/stage", body)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, true, again.body["duplicate"])

	before := a.counts()
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/deals/" + id + "/stage", `{"stage":"mars","event_id":"evt-2"}`, 422, `stage "mars" is not in pipeline`},
		{"/api/deals/" + id + "/stage", `{"stage":"proposal"}`, 400, "event_id is required"},
		{"/api/deals/" + id + "/stage", `{"event_id":"e"}`, 400, "stage is required"},
		{"/api/deals/" + id + "/stage", `{"stage":"proposal","event_id":"has space"}`, 400, "event id"},
		{"/api/deals/" + id + "/stage", `{"stage":"proposal","event_id":"e","source_time":"yesterday"}`, 400, `time "yesterday" is not RFC 3339`},
		{"/api/deals/hubspot:nope/stage", `{"stage":"proposal","event_id":"e"}`, 404, "not found"},
		{"/api/deals/12345/stage", `{"stage":"proposal","event_id":"e"}`, 400, "want a deal id or source:external-id"},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want)
	}
	require.Equal(t, before, a.counts(), "refused stage changes write nothing")
}

func TestClosedDealConflictsUntilReopened(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	r := a.do("POST", "/api/deals/"+id+"/reopen", `{"event_id":"re-0"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), "not closed")

	require.NoError(t, a.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	// No worker runs here, so the closing run would never end by itself; reopen waits for it.
	require.NoError(t, devServer.Get(t).Client().TerminateWorkflow(context.Background(), workflows.WorkflowID(id), "", "the closing run ends"))
	r = a.do("POST", "/api/deals/"+id+"/stage", `{"stage":"proposal","event_id":"late"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), "reopen it")
	r = a.do("POST", "/api/deals", createBody)
	require.Equal(t, http.StatusConflict, r.status, r.raw)

	r = a.do("POST", "/api/deals/"+id+"/reopen", `{"stage":"won","event_id":"re-1"}`)
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Contains(t, text(r), "closing stage")
	r = a.do("POST", "/api/deals/"+id+"/reopen", `{"stage":"qualification","event_id":"re-2","reason":"came back"}`)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	require.Equal(t, "qualification", r.body["stage"])
	r = a.do("POST", "/api/deals/"+id+"/reopen", `{"event_id":"re-3"}`)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
}

func TestShowReadsPostgreSQLWithoutAWorker(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := a.create()
	for _, ref := range []string{id, "hubspot:hs-1"} {
		r := a.do("GET", "/api/deals/"+ref, "")
		require.Equal(t, http.StatusOK, r.status, r.raw)
		deal := r.body["deal"].(map[string]any)
		require.Equal(t, id, deal["id"])
		require.Equal(t, "prospecting", deal["stage"])
		require.Len(t, r.body["events"], 1)
		require.Equal(t, map[string]any{"id": deal["owner_id"], "email": "ana@vendor.test", "name": "Ana Rep"}, r.body["owner"],
			"the owner by email and name, beside deal.owner_id")
	}
	require.Equal(t, http.StatusNotFound, a.do("GET", "/api/deals/00000000-0000-0000-0000-000000000000", "").status)
	require.Equal(t, http.StatusNotFound, a.do("GET", "/api/nowhere", "").status)
	require.Equal(t, http.StatusMethodNotAllowed, a.do("DELETE", "/api/deals/"+id, "").status)
}

// While Temporal does not answer, a create and a stage change are recorded and answer 202 in
// state received with their ids, within the signal bound; the same requests again answer the
// same ids. The cause is logged, never echoed.
func TestTemporalDownAnswers202Received(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "127.0.0.1:1", nil)
	post := func(path, body string) response {
		t.Helper()
		began := time.Now()
		r := a.do("POST", path, body)
		require.Less(t, time.Since(began), deals.SignalTimeout+2*time.Second, "the wait is bounded")
		require.Equal(t, http.StatusAccepted, r.status, r.raw)
		require.Equal(t, "received", r.body["state"], r.raw)
		require.Equal(t, deals.PendingMessage, r.body["message"])
		require.NotContains(t, r.raw, "127.0.0.1:1")
		return r
	}
	first := post("/api/deals", createBody)
	id := first.body["deal_id"].(string)
	require.Equal(t, workflows.WorkflowID(id), first.body["workflow_id"])
	require.Equal(t, true, first.body["created"])
	require.Equal(t, "/api/deals/"+id, first.header.Get("Location"))
	require.Positive(t, first.body["event_id"])
	again := post("/api/deals", createBody)
	require.Equal(t, id, again.body["deal_id"])
	require.Equal(t, first.body["event_id"], again.body["event_id"], "the same event, still received")
	require.Equal(t, false, again.body["created"])

	body := `{"stage":"qualification","source":"hubspot","event_id":"evt-1"}`
	moved := post("/api/deals/"+id+"/stage", body)
	require.Equal(t, id, moved.body["deal_id"])
	require.Equal(t, false, moved.body["duplicate"])
	movedAgain := post("/api/deals/hubspot:hs-1/stage", body)
	require.Equal(t, moved.body["event_id"], movedAgain.body["event_id"])

	require.Contains(t, a.logs.String(), "delivery pending")
	require.Contains(t, a.logs.String(), "127.0.0.1:1", "the cause is logged")
	rows, err := a.pool.Query(context.Background(), `SELECT state FROM inbound_events ORDER BY id`)
	require.NoError(t, err)
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"received", "received"}, states, "recorded once each; the sweeper delivers them")
}

// A reopen starts the deal's new run before it commits: while Temporal does not answer it
// records nothing and answers 503 with Retry-After, and the same request later reopens.
func TestReopenWhileTemporalIsDownAnswers503(t *testing.T) {
	t.Parallel()
	live := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	id := live.create()
	require.NoError(t, live.store.MarkClosed(context.Background(), id, "lost", 1, time.Now()))
	require.NoError(t, devServer.Get(t).Client().TerminateWorkflow(context.Background(), workflows.WorkflowID(id), "", "the closing run ends"))
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(dead.Close)
	down := &api{t: t, pool: live.pool, store: live.store, logs: &strings.Builder{}}
	down.srv = httptest.NewServer((&httpapi.Server{Deals: &deals.Service{Store: live.store, Temporal: dead}, Token: token,
		Logger: slog.New(slog.NewTextHandler(down.logs, nil))}).Handler())
	t.Cleanup(down.srv.Close)
	before := live.counts()

	body := `{"stage":"qualification","event_id":"re-1"}`
	r := down.do("POST", "/api/deals/"+id+"/reopen", body)
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	require.Equal(t, httpapi.RetryAfter, r.header.Get("Retry-After"))
	require.Contains(t, text(r), "Temporal does not answer now; retry the request")
	require.NotContains(t, r.raw, "127.0.0.1:1")
	require.Contains(t, down.logs.String(), "127.0.0.1:1", "the cause is logged")
	require.Equal(t, before, live.counts(), "nothing recorded")

	r = live.do("POST", "/api/deals/"+id+"/reopen", body)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
}

// While PostgreSQL does not answer, nothing can be recorded: 503 with Retry-After, the cause
// logged, not echoed.
func TestPostgreSQLDownAnswers503(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://followup@127.0.0.1:1/followup?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	logs := &strings.Builder{}
	srv := httptest.NewServer((&httpapi.Server{Deals: &deals.Service{Store: store.New(pool), Temporal: devServer.Get(t).Client()}, Token: token,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler())
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, logs: logs}
	for _, c := range []struct{ path, body string }{
		{"/api/deals", createBody},
		{"/api/deals/hubspot:hs-1/stage", `{"stage":"qualification","event_id":"evt-1"}`},
		{"/api/deals/hubspot:hs-1/engagements", `{"kind":"reply","event_id":"r-1"}`},
	} {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", c.path, r.raw)
		require.Equal(t, httpapi.RetryAfter, r.header.Get("Retry-After"))
		require.Contains(t, text(r), "PostgreSQL does not answer now; retry the request")
		require.NotContains(t, r.raw, "127.0.0.1:1")
	}
	require.Contains(t, logs.String(), "127.0.0.1:1", "the cause is logged")
}

func TestPreviewCadence(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	r := a.do("POST", "/api/cadences/preview", `{"pipeline":"b2b-default","start":"2026-11-23T09:00:00Z","days":30}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	touches := r.body["touches"].([]any)
	first := touches[0].(map[string]any)
	require.Equal(t, "intro#1", first["item"])
	require.Equal(t, "2026-11-23T09:00:00Z", first["at"])
	require.Equal(t, float64(0), r.body["version"])

	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"start":"2026-11-23T09:00:00Z"}`, 400, "name a cadence"},
		{`{"version":0}`, 400, "start is required"},
		{`{"version":0,"start":"2026-11-23T09:00:00Z","days":9999}`, 400, "horizon"},
		{`{"version":0,"start":"2026-11-23T09:00:00Z","contact":{"zone":"Mars/Base"}}`, 200, ""},
		{`{"version":42,"start":"2026-11-23T09:00:00Z"}`, 404, "cadence version 42"},
		{`{"pipeline":"nope","start":"2026-11-23T09:00:00Z"}`, 404, "has no published cadence"},
	} {
		r := a.do("POST", "/api/cadences/preview", c.body)
		require.Equal(t, c.status, r.status, "%s: %s", c.body, r.raw)
		require.Contains(t, text(r), c.want, c.body)
	}
}
