package integration

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// outageNamespace is the namespace of the dev server TestAPIDuringATemporalOutage starts,
// stops and starts again: its own server, never the shared ones.
const outageNamespace = "it-outage"

// startPersistentDevServer starts a dev server on hostPort that keeps its data in dbFile, so
// a server started again on the same port and file carries on with the same workflows.
func startPersistentDevServer(t *testing.T, hostPort, dbFile string) *testsuite.DevServer {
	t.Helper()
	cli, err := temporaltest.CLIPath()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     cli,
		ClientOptions:    &client.Options{HostPort: hostPort, Namespace: outageNamespace, Logger: temporaltest.QuietLogger()},
		DBFilename:       dbFile,
		LogLevel:         "error",
		SearchAttributes: workflows.SearchAttributes(),
		Stdout:           io.Discard,
		Stderr:           io.Discard,
	})
	require.NoError(t, err)
	return s
}

// freeHostPort is a loopback address no one listens on now.
func freeHostPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// While Temporal is down, a create through the real HTTP handler answers 202 within a few
// seconds with the deal and event ids and the state received; the same request again answers
// the same. Once Temporal is back, the sweeper delivers the event and the deal runs: its
// first stage is recorded and its intro email goes out, once.
func TestAPIDuringATemporalOutage(t *testing.T) {
	t.Parallel()
	hostPort := freeHostPort(t)
	dbFile := filepath.Join(t.TempDir(), "temporal.db")
	server := startPersistentDevServer(t, hostPort, dbFile)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = server.Stop()
		}
	})
	e := newEnv(t, server, outageNamespace, fixturePipeline(time.Hour))
	e.start() // the worker runs through the outage, as a deployed one would
	logs := &strings.Builder{}
	api := httptest.NewServer((&httpapi.Server{Deals: e.svc, Token: "outage-token",
		Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler())
	t.Cleanup(api.Close)
	post := func(body string) (int, map[string]any, time.Duration) {
		t.Helper()
		req, err := http.NewRequest("POST", api.URL+"/api/deals", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer outage-token")
		req.Header.Set("Content-Type", "application/json")
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		took := time.Since(began)
		t.Logf("POST /api/deals: %d after %s: %s", resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(string(raw)))
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		return resp.StatusCode, out, took
	}

	require.NoError(t, server.Stop())
	stopped = true

	body := `{"source":"crm","external_id":"outage-1","title":"Pilot",` +
		`"owner":{"email":"ana@vendor.test","name":"Ana Rep","company":"Vendor"},` +
		`"contact":{"email":"outage-1@prospect.test","first_name":"Bob","company":"Prospect Inc"}}`
	status, first, took := post(body)
	require.Equal(t, http.StatusAccepted, status, first)
	require.Less(t, took, deals.SignalTimeout+2*time.Second, "the caller hears within the signal bound")
	dealID, _ := first["deal_id"].(string)
	require.NotEmpty(t, dealID)
	require.Equal(t, workflows.WorkflowID(dealID), first["workflow_id"])
	eventID, _ := first["event_id"].(float64)
	require.Positive(t, eventID)
	require.Equal(t, "received", first["state"])
	require.Equal(t, true, first["created"])
	require.Contains(t, first["message"], "delivery pending")
	require.NotContains(t, first["message"], hostPort, "internal errors are logged, never echoed")
	require.Contains(t, logs.String(), "delivery pending")

	// The same request again, still down: the same deal and event, still received.
	status, again, _ := post(body)
	require.Equal(t, http.StatusAccepted, status, again)
	require.Equal(t, dealID, again["deal_id"])
	require.Equal(t, eventID, again["event_id"])
	require.Equal(t, "received", again["state"])
	state, _ := e.eventRow(`source = 'crm' AND source_event_id = 'create:outage-1'`)
	require.Equal(t, "received", state)

	// Temporal comes back with the same data; the sweeper loop `starter serve` runs delivers
	// the event (its sweeps fail until the client has reconnected). Nothing else sends it.
	server = startPersistentDevServer(t, hostPort, dbFile)
	stopped = false
	sweepCtx, stopSweeping := context.WithCancel(context.Background())
	sweeping := make(chan struct{})
	go func() {
		defer close(sweeping)
		e.svc.SweepEvery(sweepCtx, 200*time.Millisecond, 0, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	}()
	t.Cleanup(func() { stopSweeping(); <-sweeping })
	e.eventuallyRow("applied", 90*time.Second, `source = 'crm' AND source_event_id = 'create:outage-1'`)

	// The deal runs: it enters its first stage and sends its intro, once.
	e.eventually("the deal entered prospecting", 30*time.Second, hasTransitionTo("prospecting", 1), dealID)
	msgs := e.smtp.WaitForMessages(t, 1, 60*time.Second)
	require.Equal(t, "outage-1@prospect.test", msgs[0].To[0])
	tl := e.eventually("the intro recorded as sent", 30*time.Second, func(tl store.Timeline) bool {
		return len(tl.Emails) == 1 && tl.Emails[0].State == store.EmailSent
	}, dealID)
	require.Equal(t, "intro", tl.Emails[0].Key.StepID)
	require.Equal(t, 0, e.signalsWith(dealID, "create:outage-1"), "delivered once, as the run's input: never signalled beside it")
}
