package deals_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// starts is deliveries that also records runs started with their input alone ("start"),
// and runs check, if set, before each such start.
type starts struct {
	deliveries
	check func(ctx context.Context) error
}

func (c *starts) ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error) {
	c.add("start")
	if c.check != nil {
		if err := c.check(ctx); err != nil {
			return nil, err
		}
	}
	return c.Client.ExecuteWorkflow(ctx, options, workflow, args...)
}

// A create starts its run with the create in the input and signals nothing beside it; a
// second create for the deal (another event id) finds the run open and is signalled to it,
// where it converges.
func TestCreateStartsItsRunWithTheCreateInTheInput(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	calls := &starts{deliveries: deliveries{Client: svc.Temporal}}
	svc.Temporal = calls
	req := deals.CreateRequest{Source: "crm", ExternalID: "s-1",
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob@prospect.test"}}
	first, err := svc.Create(ctx, req)
	require.NoError(t, err)
	require.Equal(t, []string{"start"}, calls.take())
	run := temporaltest.ReadDealRun(t, devServer.Client(), first.DealID)
	require.Equal(t, "create:s-1", run.Input.Start.SourceEventID)
	require.Equal(t, first.EventID, run.Input.Start.InboundEventID)
	require.Empty(t, run.Signals, "the create is not signalled beside its start")

	req.EventID = "create-again"
	again, err := svc.Create(ctx, req)
	require.NoError(t, err)
	require.False(t, again.Created)
	require.Equal(t, first.RunID, again.RunID, "the same run")
	require.Equal(t, []string{"start", "signal"}, calls.take())
	require.Equal(t, "create-again", temporaltest.ReadDealRun(t, devServer.Client(), first.DealID).LastSignal(t).SourceEventID)
}

// A reopen records its claim, then starts its run outside any transaction: the deal's row
// is not locked while Temporal is called, and another reopen is refused meanwhile. A start
// Temporal does not answer writes nothing (the deal stays closed, its claim goes); the same
// request sent again starts the run, with the visit counter from PostgreSQL, and opens the deal.
func TestReopenStartsItsRunOutsideTheTransaction(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	id := create(t, svc, "s-2", "ana@vendor.test")
	require.NoError(t, svc.Store.MarkClosed(ctx, id, "lost", 1, time.Now()))
	require.NoError(t, devServer.Client().TerminateWorkflow(ctx, workflows.WorkflowID(id), "", "the closing run ends"))
	prevVisit, err := svc.Store.LastVisit(ctx, id)
	require.NoError(t, err)

	calls := &starts{deliveries: deliveries{Client: svc.Temporal}}
	svc.Temporal = calls
	down, checked := true, 0
	calls.check = func(ctx context.Context) error {
		checked++
		// The deal's row is free: no transaction holds it while the run starts.
		var got string
		if err := svc.Store.Pool().QueryRow(ctx, `SELECT id FROM deals WHERE id = $1 FOR UPDATE NOWAIT`, id).Scan(&got); err != nil {
			return err
		}
		_, err := svc.Reopen(ctx, deals.ReopenRequest{Deal: id, Stage: "qualification", Source: "cli", EventID: "re-other"})
		require.ErrorIs(t, err, deals.ErrNotClosed, "another reopen waits for the one under way")
		if down {
			return serviceerror.NewUnavailable("temporal is down")
		}
		return nil
	}
	req := deals.ReopenRequest{Deal: id, Stage: "qualification", Source: "cli", EventID: "re-1"}
	_, err = svc.Reopen(ctx, req)
	require.Equal(t, "Temporal", deals.Unavailable(err), "%v", err)
	d, err := svc.Store.DealByID(ctx, id)
	require.NoError(t, err)
	require.True(t, d.Closed(), "a reopen that did not start leaves the deal closed")
	_, err = svc.Store.InboundEventByKey(ctx, "cli", "re-1")
	require.ErrorIs(t, err, store.ErrNotFound, "and records nothing")

	down = false
	resp, err := svc.Reopen(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 2, checked)
	require.Equal(t, prevVisit+1, resp.Visit)
	require.NotEmpty(t, resp.RunID)
	d, err = svc.Store.DealByID(ctx, id)
	require.NoError(t, err)
	require.False(t, d.Closed())
	ev, err := svc.Store.InboundEventByKey(ctx, "cli", "re-1")
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, ev.State)
	run := temporaltest.ReadDealRun(t, devServer.Client(), id)
	require.Equal(t, "re-1", run.Input.Start.SourceEventID)
	require.Equal(t, prevVisit, run.Input.PrevVisit)
	require.Equal(t, "lost", run.Input.PrevStage)
}
