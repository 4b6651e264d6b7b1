package deals_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
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

// history lists the deal's start input and the kinds and scopes of the events it received.
func history(t *testing.T, dealID string) (workflows.DealInput, []string) {
	t.Helper()
	iter := devServer.Client().GetWorkflowHistory(context.Background(), workflows.WorkflowID(dealID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var in workflows.DealInput
	var got []string
	for iter.HasNext() {
		he, err := iter.Next()
		require.NoError(t, err)
		if a := he.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in))
		}
		if a := he.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			var ev workflows.Event
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &ev))
			got = append(got, string(ev.Kind)+"/"+ev.Scope)
		}
	}
	return in, got
}

func TestOwnerPauseReachesMoreDealsThanItSignalsAtOnce(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		ids = append(ids, create(t, svc, fmt.Sprintf("d-%d", i), "ana@vendor.test"))
	}
	resp, err := svc.PauseOwner(ctx, deals.ScopePauseRequest{Target: "ana@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, deals.ScopeResponse{Scope: "owner", Key: resp.Key, Owner: "ana@vendor.test", PauseID: resp.PauseID, Since: resp.Since,
		State: "paused", Deals: 20, Signalled: 20}, resp)
	for _, id := range ids {
		_, evs := history(t, id)
		require.Equal(t, []string{"created/", "paused/owner"}, evs, id)
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
	in, _ := history(t, id)
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
	require.Equal(t, "signalled", resp.State)
}
