package integration

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

var update = flag.Bool("update", false, "rewrite the replay fixtures in workflows/testdata/replay")

// Each test runs in its own namespace of a shared dev server, so tests run in parallel
// without their workers taking each other's tasks.
var namespaces = []string{"it-lifecycle", "it-restart", "it-reopen", "it-migrate", "it-demo", "it-engage", "it-reengage", "it-pause",
	"it-sweep", "it-sweep-race", "it-outcome-lost", "it-bounce", "it-bounds", "it-mailbox", "it-handover", "it-digest", "it-digest-now", "it-metrics"}

var (
	mainServer *testsuite.DevServer
	canServer  *testsuite.DevServer // suggests continue-as-new after 40 events
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	var extra []string
	for _, ns := range namespaces {
		extra = append(extra, "--namespace", ns)
	}
	var wg sync.WaitGroup
	var mainErr, canErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		mainServer, mainErr = temporaltest.StartDevServer(ctx, extra...)
	}()
	go func() {
		defer wg.Done()
		canServer, canErr = temporaltest.StartDevServer(ctx,
			"--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40")
	}()
	wg.Wait()
	defer func() {
		for _, s := range []*testsuite.DevServer{mainServer, canServer} {
			if s != nil {
				_ = s.Stop()
			}
		}
	}()
	if mainErr != nil || canErr != nil {
		fmt.Fprintln(os.Stderr, "integration: start Temporal dev server:", mainErr, canErr)
		return 1
	}
	return m.Run()
}

// env is one test's world: its database, SMTP server, namespace, worker and front door.
type env struct {
	t         *testing.T
	server    *testsuite.DevServer
	namespace string
	dbURL     string
	store     *store.Store
	smtp      *smtptest.Server
	client    client.Client
	svc       *deals.Service
	cadence   store.CadenceVersion

	mu         sync.Mutex
	stopWorker func()
}

func newEnv(t *testing.T, server *testsuite.DevServer, namespace string, p cadence.Pipeline) *env {
	t.Helper()
	e := &env{t: t, server: server, namespace: namespace, dbURL: pgtest.NewDatabase(t), smtp: smtptest.Start(t)}
	pool, err := store.Open(context.Background(), e.dbURL, store.PoolOptions{Other: 4})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e.store = store.New(pool)
	e.cadence, err = e.store.PublishCadence(context.Background(), 1, p)
	require.NoError(t, err)
	e.client, err = client.Dial(client.Options{HostPort: server.FrontendHostPort(), Namespace: namespace, Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(e.client.Close)
	e.svc = &deals.Service{Store: e.store, Temporal: e.client}
	t.Cleanup(e.stop)
	return e
}

func (e *env) workerConfig() config.Worker {
	return config.Worker{
		DatabaseURL: e.dbURL,
		Temporal:    client.Options{HostPort: e.server.FrontendHostPort(), Namespace: e.namespace},
		SMTP:        mail.Config{Host: e.smtp.Host(), Port: e.smtp.Port(), TLS: mail.TLSPolicy("none"), Timeout: 5 * time.Second},
		Mail: config.MailIdentity{MessageIDSecret: []byte("integration-secret-0123456789abc"), MessageIDDomain: "it.test",
			DefaultFrom: "Sales <sales@vendor.test>"},
		SendConcurrency: 2, WorkflowPollers: 2, ActivityPollers: 2,
	}
}

// start runs the real worker (engine.RunWorker, as worker/main.go does) until stop.
func (e *env) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Nil(e.t, e.stopWorker, "worker already running")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- engine.RunWorker(ctx, e.workerConfig(), logger) }()
	e.stopWorker = func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(e.t, err)
		case <-time.After(3 * time.Minute):
			e.t.Error("worker did not stop")
		}
	}
}

func (e *env) stop() {
	e.mu.Lock()
	stop := e.stopWorker
	e.stopWorker = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (e *env) create(ext string) deals.CreateResponse {
	e.t.Helper()
	v := e.cadence.Version
	resp, err := e.svc.Create(context.Background(), deals.CreateRequest{
		Source: "crm", ExternalID: ext, Title: "Pilot for " + ext, CadenceVersion: &v,
		Owner:   store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor"},
		Contact: store.ContactInput{Email: ext + "@prospect.test", FirstName: "Bob", Company: "Prospect Inc"},
	})
	require.NoError(e.t, err)
	return resp
}

func (e *env) moveTo(dealID, stage, eventID string, at time.Time) deals.StageResponse {
	e.t.Helper()
	resp, err := e.svc.ChangeStage(context.Background(), deals.StageRequest{
		Deal: dealID, Stage: stage, Source: "crm", EventID: eventID, SourceTime: at})
	require.NoError(e.t, err)
	return resp
}

// eventually polls cond with the state read from PostgreSQL until it holds.
func (e *env) eventually(what string, timeout time.Duration, cond func(tl store.Timeline) bool, dealID string) store.Timeline {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tl, err := e.store.DealTimeline(context.Background(), dealID)
		require.NoError(e.t, err)
		if cond(tl) {
			return tl
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; deal is in %q with %d transitions, %d tasks, %d emails",
				timeout, what, tl.Deal.Stage, len(tl.Transitions), len(tl.Tasks), len(tl.Emails))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) view(dealID string) workflows.View {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	val, err := e.client.QueryWorkflow(ctx, workflows.WorkflowID(dealID), "", workflows.StateQuery)
	require.NoError(e.t, err)
	var v workflows.View
	require.NoError(e.t, val.Get(&v))
	return v
}

// saveHistory writes a run's history as a replay fixture when -update is given.
func (e *env) saveHistory(name, workflowID, runID string) {
	e.t.Helper()
	if !*update {
		return
	}
	hist := e.history(workflowID, runID)
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(e.t, err)
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "workflows", "testdata", "replay")
	require.NoError(e.t, os.MkdirAll(dir, 0o755))
	require.NoError(e.t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
	e.t.Logf("wrote replay fixture %s.json (%d events)", name, len(hist.Events))
}

// saveIncompatible writes a copy of a run's history in which the first RecordTransition
// activity was scheduled under another name: the history an older, incompatible version of
// the workflow would have left. Replaying it with today's code must fail with a
// non-determinism error, which proves the replay test can fail.
func (e *env) saveIncompatible(name, workflowID, runID string) {
	e.t.Helper()
	if !*update {
		return
	}
	hist := e.history(workflowID, runID)
	renamed := false
	for _, ev := range hist.Events {
		attrs := ev.GetActivityTaskScheduledEventAttributes()
		if attrs != nil && attrs.ActivityType.GetName() == "RecordTransition" {
			attrs.ActivityType.Name = "RecordStageChange"
			renamed = true
			break
		}
	}
	require.True(e.t, renamed)
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(e.t, err)
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "workflows", "testdata", "replay-incompatible", name+".json")
	require.NoError(e.t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(e.t, os.WriteFile(path, b, 0o644))
}

func (e *env) history(workflowID, runID string) *historypb.History {
	e.t.Helper()
	iter := e.client.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(e.t, err)
		hist.Events = append(hist.Events, ev)
	}
	return hist
}
