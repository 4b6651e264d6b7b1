package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// fixturePipeline is the built-in pipeline's shape with second-scale limits: prospecting
// sends the intro at once and two more emails `gap` apart; qualification goes stale after
// 5 seconds.
func fixturePipeline(gap time.Duration) cadence.Pipeline {
	sec := func(n int) cadence.Duration { return cadence.Of(n, cadence.Seconds) }
	p := cadence.Default()
	p.ID = "it-fixture"
	p.Stages = []cadence.Stage{
		{ID: "prospecting", TimeLimit: cadence.Of(1, cadence.Hours),
			Steps: []cadence.Step{
				{ID: "intro", Kind: cadence.StepEmail, After: cadence.Zero, Template: "intro"},
				{ID: "value-followup", Kind: cadence.StepEmail, After: sec(int(gap.Seconds())), Template: "value-followup"},
				{ID: "third", Kind: cadence.StepEmail, After: sec(int(gap.Seconds())), Template: "nurture"},
			},
			OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no response in prospecting"}},
		{ID: "qualification", TimeLimit: sec(5),
			Steps: []cadence.Step{{ID: "qualify-call", Kind: cadence.StepTask, After: cadence.Zero,
				Task: &cadence.TaskSpec{Kind: "call", Title: "Qualify {{.Contact.FirstName}}", DueIn: cadence.Of(1, cadence.BusinessDays)}}},
			OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no progress in qualification",
				Task: &cadence.TaskSpec{Kind: "todo", Title: "Deal went stale: decide the next step", DueIn: cadence.Of(2, cadence.BusinessDays)}}},
		{ID: "proposal", TimeLimit: cadence.Of(1, cadence.Hours),
			OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "proposal unanswered"}},
		{ID: "nurturing", Steps: []cadence.Step{{ID: "nurture", Kind: cadence.StepEmail, After: cadence.Of(1, cadence.Hours), Times: 3, Template: "nurture"}},
			OnExhausted: &cadence.Move{MoveTo: "lost", Reason: "unresponsive after nurture", After: cadence.Of(1, cadence.Hours)}},
		{ID: "won", Terminal: true},
		{ID: "lost", Terminal: true},
	}
	return p
}

func hasTransitionTo(stage string, n int) func(store.Timeline) bool {
	return func(tl store.Timeline) bool {
		return len(tl.Transitions) >= n && tl.Transitions[n-1].To == stage
	}
}

func TestDealLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-lifecycle", fixturePipeline(time.Minute))
	e.start()
	created := e.create("lifecycle-1")
	require.True(t, created.Created)

	// The intro email arrives.
	msgs := e.smtp.WaitForMessages(t, 1, 30*time.Second)
	require.Equal(t, "Ana from Vendor: a quick idea for Prospect Inc", msgs[0].Subject)
	e.eventually("the intro recorded as sent", 10*time.Second, func(tl store.Timeline) bool {
		return len(tl.Emails) == 1 && tl.Emails[0].State == store.EmailSent
	}, created.DealID)

	// A second create for the same external id converges on the same deal and run.
	again := e.create("lifecycle-1")
	require.False(t, again.Created)
	require.Equal(t, created.DealID, again.DealID)
	require.Equal(t, created.RunID, again.RunID)

	// Stage change: recorded, the prospecting emails stop.
	e.moveTo(created.DealID, "qualification", "hs-evt-1", time.Now())
	moved := time.Now()
	tl := e.eventually("the transition to qualification", 15*time.Second, hasTransitionTo("qualification", 2), created.DealID)
	require.Equal(t, "crm", tl.Transitions[1].Source)
	require.Equal(t, "hs-evt-1", tl.Transitions[1].SourceEventID)
	live := e.view(created.DealID)
	require.Equal(t, "qualification", live.Stage)
	require.False(t, live.Deadline.IsZero())
	require.WithinDuration(t, live.EnteredAt.Add(5*time.Second), live.Deadline, time.Millisecond)

	// The 5-second limit passes: the deal moves to nurturing with its reason and the owner's task.
	tl = e.eventually("the stale move to nurturing", 30*time.Second, hasTransitionTo("nurturing", 3), created.DealID)
	require.GreaterOrEqual(t, time.Since(moved), 4*time.Second)
	stale := tl.Transitions[2]
	require.Equal(t, "no progress in qualification", stale.Reason)
	require.Equal(t, workflows.SourceEngine, stale.Source)
	tl = e.eventually("the stale task", 10*time.Second, func(tl store.Timeline) bool { return len(tl.Tasks) == 2 }, created.DealID)
	require.Equal(t, "Qualify Bob", tl.Tasks[0].Title)
	require.Equal(t, "cancelled", tl.Tasks[0].State, "the old visit's task was cancelled when the deal left the stage")
	require.Equal(t, "Deal went stale: decide the next step", tl.Tasks[1].Title)
	require.Equal(t, "open", tl.Tasks[1].State)
	require.Equal(t, 3, tl.Tasks[1].Visit, "the stale task belongs to the new stage visit")
	require.Equal(t, tl.Deal.OwnerID, tl.Tasks[1].OwnerID)

	// The task row is written by an activity before the workflow has taken in its result: the
	// live view catches up a moment later.
	require.Eventually(t, func() bool {
		live = e.view(created.DealID)
		return live.Stage == "nurturing" && len(live.OpenTasks) == 1 && len(live.Next) == 4
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, []string{"nurture#1", "nurture#2", "nurture#3", "exhausted"}, itemIDs(live.Next))
	tl = e.eventually("the projection of nurturing", 10*time.Second, func(tl store.Timeline) bool {
		return tl.Deal.Stage == "nurturing" && len(tl.Planned) == 4
	}, created.DealID)
	require.Contains(t, tl.Planned[0].Reason, "1 hour after stage entry")
	require.Len(t, e.smtp.Messages(), 1, "leaving prospecting stopped its follow-up emails")

	// The Temporal UI finds the deal by its stage.
	require.Eventually(t, func() bool {
		resp, err := e.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.namespace, Query: `DealStage = "nurturing"`})
		return err == nil && len(resp.Executions) == 1 && resp.Executions[0].Execution.WorkflowId == workflows.WorkflowID(created.DealID)
	}, 20*time.Second, 200*time.Millisecond)

	// Events recorded with their outcome.
	require.Equal(t, "applied", tl.Events[0].State)
	require.Equal(t, "hs-evt-1", tl.Events[1].SourceEventID)
	require.Equal(t, "applied", tl.Events[1].State)

	// Shown by `deal show` from both sources.
	det, err := e.svc.Show(context.Background(), "crm:lifecycle-1", 5*time.Second)
	require.NoError(t, err)
	require.NotNil(t, det.Live)
	require.Equal(t, "nurturing", det.Live.Stage)
	e.saveHistory("lifecycle", workflows.WorkflowID(created.DealID), created.RunID)
	e.saveIncompatible("renamed-activity", workflows.WorkflowID(created.DealID), created.RunID)
}

func itemIDs(items []cadence.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestWorkerRestartMidCadenceLosesNothingAndSendsNothingTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-restart", fixturePipeline(4*time.Second))
	e.start()
	created := e.create("restart-1")
	e.smtp.WaitForMessages(t, 1, 30*time.Second)

	// Stop the worker between the first and second email; the second falls due while no
	// worker runs.
	e.stop()
	time.Sleep(6 * time.Second)
	require.Len(t, e.smtp.Messages(), 1)
	e.start()

	msgs := e.smtp.WaitForMessages(t, 3, 40*time.Second)
	time.Sleep(2 * time.Second) // anything sent twice would arrive now
	msgs = e.smtp.Messages()
	require.Len(t, msgs, 3, "each step sent exactly once across the restart")
	seen := map[string]bool{}
	for _, m := range msgs {
		require.False(t, seen[m.MessageID], "duplicate Message-ID %s", m.MessageID)
		seen[m.MessageID] = true
	}
	tl := e.eventually("three ledger rows sent", 10*time.Second, func(tl store.Timeline) bool {
		if len(tl.Emails) != 3 {
			return false
		}
		for _, em := range tl.Emails {
			if em.State != store.EmailSent {
				return false
			}
		}
		return true
	}, created.DealID)
	for _, em := range tl.Emails {
		require.Equal(t, 1, em.Attempts, "%s/%d", em.Key.StepID, em.Key.Occurrence)
	}
	e.saveHistory("restart", workflows.WorkflowID(created.DealID), created.RunID)
}

func TestClosedDealRefusesEventsAndReopens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-reopen", fixturePipeline(time.Minute))
	e.start()
	created := e.create("reopen-1")
	e.smtp.WaitForMessages(t, 1, 30*time.Second)
	e.moveTo(created.DealID, "lost", "hs-lost", time.Now())
	tl := e.eventually("the deal closed", 20*time.Second, func(tl store.Timeline) bool { return tl.Deal.Closed() }, created.DealID)
	require.Equal(t, "lost", tl.Deal.Stage)
	require.Empty(t, tl.Planned)

	// Later events are recorded and refused: PostgreSQL is the authority on closed deals.
	_, err := e.svc.ChangeStage(context.Background(), deals.StageRequest{Deal: created.DealID, Stage: "proposal",
		Source: "crm", EventID: "hs-late", SourceTime: time.Now()})
	require.ErrorIs(t, err, deals.ErrDealClosed)
	_, err = e.svc.Create(context.Background(), deals.CreateRequest{Source: "crm", ExternalID: "reopen-1",
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "reopen-1@prospect.test"}, EventID: "create-again"})
	require.ErrorIs(t, err, deals.ErrDealClosed)

	// Reopen: a new run on purpose, with the visit counter from PostgreSQL.
	re, err := e.svc.Reopen(context.Background(), deals.ReopenRequest{Deal: "crm:reopen-1", Stage: "qualification",
		Source: "cli", EventID: "reopen-evt", Reason: "prospect came back"})
	require.NoError(t, err)
	require.Equal(t, 3, re.Visit)
	require.NotEqual(t, created.RunID, re.RunID)
	tl = e.eventually("the reopen transition", 20*time.Second, hasTransitionTo("qualification", 3), created.DealID)
	require.Equal(t, "lost", tl.Transitions[2].From)
	require.Equal(t, "prospect came back", tl.Transitions[2].Reason)
	require.False(t, tl.Deal.Closed())
	states := map[string]string{}
	for _, ev := range tl.Events {
		states[ev.SourceEventID] = ev.State
	}
	require.Equal(t, "refused", states["hs-late"])
	require.Equal(t, "refused", states["create-again"])
	require.Equal(t, "applied", states["reopen-evt"])
	_, err = e.svc.Reopen(context.Background(), deals.ReopenRequest{Deal: created.DealID, Source: "cli"})
	require.ErrorIs(t, err, deals.ErrNotClosed)

	e.eventually("the reopened visit planned", 20*time.Second, func(tl store.Timeline) bool {
		return tl.Deal.Visit == 3 && len(tl.Planned) > 0
	}, created.DealID)
	e.saveHistory("closed", workflows.WorkflowID(created.DealID), created.RunID)
	e.saveHistory("reopened", workflows.WorkflowID(created.DealID), re.RunID)
}

func TestContinueAsNewOnRealServerLosesNoSignal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, canServer, "default", fixturePipeline(time.Minute))
	e.start()
	created := e.create("can-1")
	e.smtp.WaitForMessages(t, 1, 30*time.Second)
	const moves = 30
	base := time.Now()
	stages := []string{"qualification", "proposal"}
	for i := 1; i <= moves; i++ {
		e.moveTo(created.DealID, stages[i%2], fmt.Sprintf("evt-%02d", i), base.Add(time.Duration(i)*time.Millisecond))
	}
	want := stages[moves%2]
	tl := e.eventually("every stage signal applied", 60*time.Second, func(tl store.Timeline) bool {
		return len(tl.Transitions) == moves+1
	}, created.DealID)
	for i, tr := range tl.Transitions[1:] {
		require.Equal(t, fmt.Sprintf("evt-%02d", i+1), tr.SourceEventID, "applied in order")
		require.Equal(t, i+2, tr.Visit)
	}
	require.Equal(t, want, tl.Transitions[moves].To)
	for _, ev := range tl.Events {
		require.Equal(t, "applied", ev.State, "event %s", ev.SourceEventID)
	}
	// The history was split: the first run continued as new.
	resp, err := e.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(created.DealID), "")
	require.NoError(t, err)
	require.NotEqual(t, created.RunID, resp.WorkflowExecutionInfo.Execution.RunId, "the deal continued as new")
	first := e.history(workflows.WorkflowID(created.DealID), created.RunID)
	last := first.Events[len(first.Events)-1]
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, last.EventType)
	require.Less(t, len(first.Events), 200, "histories stay small")
	require.Equal(t, want, e.view(created.DealID).Stage)
	e.saveHistory("continue-as-new", workflows.WorkflowID(created.DealID), created.RunID)
}
