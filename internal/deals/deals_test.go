package deals_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// deliveries is a Temporal client that records how deal events are delivered: "signal" or
// "signal-with-start".
type deliveries struct {
	client.Client
	mu  sync.Mutex
	log []string
}

func (c *deliveries) add(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, call)
}

func (c *deliveries) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.log
	c.log = nil
	return out
}

func (c *deliveries) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	c.add("signal")
	return c.Client.SignalWorkflow(ctx, workflowID, runID, signalName, arg)
}

func (c *deliveries) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	c.add("signal-with-start")
	return c.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
}

// An event for a deal whose run is open is only signalled; without an open run (one that
// failed, say), it starts a new run from the deal's recorded stage with Signal-With-Start.
func TestAnOpenRunIsSignalledAndAMissingOneStarted(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	id := create(t, svc, "d-1", "ana@vendor.test")
	calls := &deliveries{Client: svc.Temporal}
	svc.Temporal = calls

	_, err := svc.ChangeStage(ctx, deals.StageRequest{Deal: id, Stage: "qualification", Source: "crm", EventID: "q-1"})
	require.NoError(t, err)
	require.Equal(t, []string{"signal"}, calls.take())
	first := temporaltest.ReadDealRun(t, devServer.Client(), id)
	require.Equal(t, "q-1", first.LastSignal(t).SourceEventID)
	require.Equal(t, workflows.EventCreated, first.Input.Start.Kind)
	require.Equal(t, "crm", first.Input.Start.Source)

	require.NoError(t, devServer.Client().TerminateWorkflow(ctx, workflows.WorkflowID(id), "", "the run failed"))
	resp, err := svc.Engage(ctx, deals.EngageRequest{Deal: id, Kind: cadence.EngagedReply, Source: "mailbox", EventID: "r-1"})
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, resp.State)
	require.Equal(t, []string{"signal", "signal-with-start"}, calls.take())
	next := temporaltest.ReadDealRun(t, devServer.Client(), id)
	require.Equal(t, "recovery", next.Input.Start.Source)
	require.Equal(t, "prospecting", next.Input.Start.Stage, "the stage PostgreSQL records (no worker applied q-1)")
	require.Equal(t, "prospecting", next.Input.PrevStage)
	require.Len(t, next.Signals, 1)
	require.Equal(t, "r-1", next.LastSignal(t).SourceEventID)
}
