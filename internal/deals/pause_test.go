package deals_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

var devServer *testsuite.DevServer

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		devServer, err = temporaltest.StartDevServer(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, "start dev server:", err)
			return 1
		}
		defer func() { _ = devServer.Stop() }()
		return m.Run()
	}())
}

func newService(t *testing.T) *deals.Service {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: devServer.FrontendHostPort(), Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &deals.Service{Store: store.New(pgtest.New(t)), Temporal: c}
}

func create(t *testing.T, svc *deals.Service, ext, owner string) string {
	t.Helper()
	resp, err := svc.Create(context.Background(), deals.CreateRequest{Source: "crm", ExternalID: ext,
		Owner: store.OwnerInput{Email: owner}, Contact: store.ContactInput{Email: "bob@prospect.test"}})
	require.NoError(t, err)
	return resp.DealID
}

// told lists the kind and scope of each deal event the deal's run received.
func told(t *testing.T, dealID string) []string {
	t.Helper()
	var out []string
	for _, ev := range temporaltest.ReadDealRun(t, devServer.Client(), dealID).Signals {
		out = append(out, string(ev.Kind)+"/"+ev.Scope)
	}
	return out
}

// inFlight is a Temporal client that counts the deal signals under way at once (max). Each
// signal waits, up to a second, for the bound's worth of signals to be under way together,
// so a fan-out that may send that many at once is seen to.
type inFlight struct {
	client.Client
	bound int
	mu    sync.Mutex
	cond  *sync.Cond
	now   int
	max   int
}

func newInFlight(c client.Client, bound int) *inFlight {
	f := &inFlight{Client: c, bound: bound}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *inFlight) count(signal func() error) error {
	f.mu.Lock()
	f.now++
	f.max = max(f.max, f.now)
	f.cond.Broadcast()
	deadline := time.AfterFunc(time.Second, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.cond.Broadcast()
	})
	start := time.Now()
	for f.now < f.bound && time.Since(start) < time.Second {
		f.cond.Wait()
	}
	deadline.Stop()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.now--
	}()
	return signal()
}

func (f *inFlight) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	return f.count(func() error { return f.Client.SignalWorkflow(ctx, workflowID, runID, signalName, arg) })
}

func (f *inFlight) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	var run client.WorkflowRun
	err := f.count(func() (err error) {
		run, err = f.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
		return err
	})
	return run, err
}

func TestOwnerPauseReachesMoreDealsThanItSignalsAtOnce(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		ids = append(ids, create(t, svc, fmt.Sprintf("d-%d", i), "ana@vendor.test"))
	}
	owner, err := svc.Store.OwnerByEmail(ctx, "ana@vendor.test")
	require.NoError(t, err)
	live := svc.Temporal
	counted := newInFlight(live, deals.FanOutConcurrency)
	svc.Temporal = counted
	resp, err := svc.PauseOwner(ctx, deals.ScopePauseRequest{Target: "ana@vendor.test", Source: "cli"})
	svc.Temporal = live
	require.NoError(t, err)
	require.Equal(t, deals.FanOutConcurrency, counted.max, "the deals are signalled %d at a time", deals.FanOutConcurrency)
	pause, held, err := svc.Store.ActivePause(ctx, store.PauseScopeOwner, owner.ID)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, deals.ScopeResponse{Scope: "owner", Key: owner.ID, Owner: "ana@vendor.test", PauseID: pause.ID, Since: pause.Since.UTC(),
		State: "paused", FanOut: deals.FanOut{Deals: 20, Signalled: 20}}, resp)
	require.WithinDuration(t, time.Now(), resp.Since, time.Minute)
	for _, id := range ids {
		require.Equal(t, []string{"paused/owner"}, told(t, id), id)
	}
	resp, err = svc.ResumeOwner(ctx, deals.ScopeResumeRequest{Target: resp.Key, Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, "resumed", resp.State)
	require.Equal(t, 20, resp.Signalled)
	var n int
	require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM inbound_events WHERE source = 'ops' AND state = 'signalled'`).Scan(&n))
	require.Equal(t, 40, n)
}

func TestReopenedDealStartsPausedWhileItsPipelineIs(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	id := create(t, svc, "d-1", "ana@vendor.test")
	require.NoError(t, svc.Store.MarkClosed(ctx, id, "lost", 1, time.Now()))
	require.NoError(t, devServer.Client().TerminateWorkflow(ctx, workflows.WorkflowID(id), "", "the closing run ends"))
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	resp, err := svc.PausePipeline(ctx, deals.ScopePauseRequest{Target: "b2b-default", Until: until, Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 0, resp.Deals, "a closed deal is not told")

	_, err = svc.Reopen(ctx, deals.ReopenRequest{Deal: id, Stage: "qualification", Source: "cli", EventID: "re-1"})
	require.NoError(t, err)
	in := temporaltest.ReadDealRun(t, devServer.Client(), id).Input
	require.Len(t, in.Pauses, 1)
	require.Equal(t, workflows.ScopePipeline, in.Pauses[0].Scope)
	require.True(t, in.Pauses[0].Until.Equal(until))
}

func TestPauseUntilIsInTheFuture(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	now := time.Date(2030, 5, 6, 12, 0, 0, 0, time.UTC)
	svc.Now = func() time.Time { return now }
	id := create(t, svc, "d-1", "ana@vendor.test")
	_, err := svc.PauseDeal(context.Background(), deals.PauseRequest{Deal: id, Source: "cli", EventID: "p-1", Until: now})
	var v *deals.ValidationError
	require.ErrorAs(t, err, &v)
	require.Equal(t, []string{"until 2030-05-06T12:00:00Z is not in the future (now 2030-05-06T12:00:00Z)"}, v.Problems)
	resp, err := svc.PauseDeal(context.Background(), deals.PauseRequest{Deal: id, Source: "cli", EventID: "p-1", Until: now.Add(time.Second)})
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, resp.State)
}
