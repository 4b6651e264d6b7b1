package deals_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// unanswered is a Temporal client that never answers a delivery: each call waits until its
// context ends, as the SDK's does while it retries a server that is down (it retries
// Unavailable until the call's deadline). It counts the deliveries tried.
type unanswered struct {
	client.Client
	tried atomic.Int32
}

func (c *unanswered) SignalWorkflow(ctx context.Context, _, _, _ string, _ any) error {
	c.tried.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func (c *unanswered) SignalWithStartWorkflow(ctx context.Context, _, _ string, _ any,
	_ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.tried.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (c *unanswered) ExecuteWorkflow(ctx context.Context, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.tried.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// within runs call and checks it returned within the delivery bound (and a little).
func within(t *testing.T, call func()) {
	t.Helper()
	began := time.Now()
	call()
	require.Less(t, time.Since(began), deals.SignalTimeout+time.Second, "the caller waits SignalTimeout at most")
}

// A create and a stage change whose delivery Temporal does not answer are recorded: they
// return within SignalTimeout, in state received with their ids and a *PendingError; the same
// request again returns the same ids; once Temporal answers, it delivers the event once.
func TestUnansweredDeliveryIsRecordedAndPending(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	live := svc.Temporal
	down := &unanswered{Client: live}
	svc.Temporal = down

	req := deals.CreateRequest{Source: "crm", ExternalID: "d-1",
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob@prospect.test"}}
	var created deals.CreateResponse
	var err error
	within(t, func() { created, err = svc.Create(ctx, req) })
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	var pending *deals.PendingError
	require.ErrorAs(t, err, &pending)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the cause is kept, for the logs")
	require.NotEmpty(t, created.DealID)
	require.Positive(t, created.EventID)
	require.Equal(t, deals.PendingError{DealID: created.DealID, EventID: created.EventID, Err: pending.Err}, *pending)
	require.Equal(t, store.EventReceived, created.State)
	require.Equal(t, deals.PendingMessage, created.Message)
	require.True(t, created.Created)
	require.Empty(t, created.RunID)

	var again deals.CreateResponse
	within(t, func() { again, err = svc.Create(ctx, req) })
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	require.Equal(t, created.DealID, again.DealID)
	require.Equal(t, created.EventID, again.EventID)
	require.Equal(t, store.EventReceived, again.State)
	require.False(t, again.Created)

	stage := deals.StageRequest{Deal: created.DealID, Stage: "qualification", Source: "crm", EventID: "q-1"}
	var moved deals.StageResponse
	within(t, func() { moved, err = svc.ChangeStage(ctx, stage) })
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	require.Equal(t, store.EventReceived, moved.State)
	require.Equal(t, deals.PendingMessage, moved.Message)
	require.False(t, moved.Duplicate)
	var movedAgain deals.StageResponse
	within(t, func() { movedAgain, err = svc.ChangeStage(ctx, stage) })
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	require.Equal(t, moved.EventID, movedAgain.EventID)
	require.Equal(t, store.EventReceived, movedAgain.State)
	require.Equal(t, int32(4), down.tried.Load())

	// Temporal answers: the same requests deliver what was recorded.
	svc.Temporal = live
	created, err = svc.Create(ctx, req)
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, created.State)
	require.NotEmpty(t, created.RunID)
	require.Empty(t, created.Message)
	moved, err = svc.ChangeStage(ctx, stage)
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, moved.State)
	run := temporaltest.ReadDealRun(t, devServer.Client(), created.DealID)
	require.Equal(t, "create:d-1", run.Input.Start.SourceEventID)
	require.Len(t, run.Signals, 1, "the stage change once; the create is the run's input, not a signal")
	require.Equal(t, "q-1", run.LastSignal(t).SourceEventID)
}

// An owner's pause tells each open deal; when Temporal does not answer, the deals are
// recorded as pending, and once the first deliveries under way found Temporal down, the rest
// are recorded without waiting for it: the call takes one SignalTimeout, not one per deal.
func TestOwnerPauseDuringAnOutageRecordsEveryDealAsPending(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	n := deals.FanOutConcurrency + 3
	for i := range n {
		create(t, svc, fmt.Sprintf("d-%d", i), "ana@vendor.test")
	}
	down := &unanswered{Client: svc.Temporal}
	svc.Temporal = down

	var resp deals.ScopeResponse
	var err error
	within(t, func() {
		resp, err = svc.PauseOwner(ctx, deals.ScopePauseRequest{Target: "ana@vendor.test", Source: "cli", Reason: "holiday"})
	})
	require.NoError(t, err, "recorded is not a failure")
	require.Equal(t, "paused", resp.State)
	require.Equal(t, n, resp.Deals)
	require.Equal(t, n, resp.Pending)
	require.Len(t, resp.PendingDeals, n)
	require.Zero(t, resp.Signalled+resp.Failed)
	require.Equal(t, deals.PendingMessage, resp.Message)
	require.Equal(t, int32(deals.FanOutConcurrency), down.tried.Load(), "only the deliveries under way when Temporal was found down")
	var received int
	require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM inbound_events WHERE source = 'ops' AND state = 'received'`).Scan(&received))
	require.Equal(t, n, received)
}

// Unavailable names the dependency that does not answer; a *PendingError is
// ErrDeliveryPending and unwraps to its cause.
func TestUnavailableNamesTheDependency(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, pgDown := pgconn.Connect(ctx, "postgres://followup@127.0.0.1:1/followup?sslmode=disable&connect_timeout=2")
	require.Error(t, pgDown)
	for _, c := range []struct {
		err  error
		want string
	}{
		{serviceerror.NewUnavailable("connection refused"), "Temporal"},
		{fmt.Errorf("start reopened deal: %w", serviceerror.NewDeadlineExceeded("deadline")), "Temporal"},
		{serviceerror.NewResourceExhausted(0, "busy"), "Temporal"},
		{fmt.Errorf("resolve: %w", pgDown), "PostgreSQL"},
		{serviceerror.NewInvalidArgument("bad"), ""},
		{deals.ErrNotFound, ""},
		{errors.New("boom"), ""},
		{nil, ""},
	} {
		require.Equal(t, c.want, deals.Unavailable(c.err), "%v", c.err)
	}
	cause := serviceerror.NewUnavailable("connection refused")
	err := fmt.Errorf("engage: %w", &deals.PendingError{DealID: "d-1", EventID: 7, Err: cause})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	require.ErrorIs(t, err, cause)
	require.Equal(t, "engage: deal d-1: event 7 recorded; delivery pending: connection refused", err.Error())
}
