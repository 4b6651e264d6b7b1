package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// engagementPipeline: prospecting starts with a blocking research task, then sends the intro
// and two follow-ups `gap` apart; nurturing re-engages on a click.
func engagementPipeline(gap time.Duration) cadence.Pipeline {
	p := fixturePipeline(gap)
	sec := func(n int) cadence.Duration { return cadence.Of(n, cadence.Seconds) }
	prospecting := &p.Stages[0]
	prospecting.Steps = append([]cadence.Step{{ID: "research", Kind: cadence.StepTask, After: cadence.Zero, Blocking: true,
		Task: &cadence.TaskSpec{Kind: "todo", Title: "Research {{.Contact.Company}} before the first email", DueIn: sec(30)}}},
		prospecting.Steps...)
	p.Stages[3].OnEngaged = &cadence.OnEngaged{MoveTo: "qualification", Reason: "came back from nurturing", On: []cadence.Engagement{cadence.EngagedClick}}
	p.Exits = &cadence.Exits{Reply: &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "email", Title: "Answer {{.Contact.FirstName}} today", DueIn: cadence.Of(2, cadence.Hours)}}}
	return p
}

// A rep's research task holds the cadence; once done, the intro goes out; a reply stops the
// follow-ups and gives the rep a task.
func TestExitRulesAndBlockingTaskOnTheRealStack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-engage", engagementPipeline(3*time.Second))
	e.start()
	created := e.create("engage-1")
	ctx := context.Background()

	tl := e.eventually("the blocking research task", 20*time.Second, func(tl store.Timeline) bool { return len(tl.Tasks) == 1 }, created.DealID)
	research := tl.Tasks[0]
	require.Equal(t, "Research Prospect Inc before the first email", research.Title)
	time.Sleep(2 * time.Second)
	require.Empty(t, e.smtp.Messages(), "nothing is sent while the blocking task is open")
	require.Contains(t, e.view(created.DealID).WaitingFor, "research#1")

	_, err := e.svc.CloseTask(ctx, deals.TaskRequest{Deal: created.DealID, TaskID: research.ID, Outcome: workflows.TaskDone, Source: "cli", Note: "read their annual report"})
	require.NoError(t, err)
	msgs := e.smtp.WaitForMessages(t, 1, 20*time.Second)
	require.Equal(t, "Ana from Vendor: a quick idea for Prospect Inc", msgs[0].Subject)
	tl = e.eventually("the task marked done", 10*time.Second, func(tl store.Timeline) bool { return tl.Tasks[0].State == "done" }, created.DealID)
	require.Equal(t, "read their annual report", tl.Tasks[0].CloseReason)

	// The prospect replies before the first follow-up (3 s later) goes out.
	_, err = e.svc.Engage(ctx, deals.EngageRequest{Deal: created.DealID, Kind: cadence.EngagedReply, Source: "mailbox", EventID: "reply-1"})
	require.NoError(t, err)
	tl = e.eventually("the reply task", 10*time.Second, func(tl store.Timeline) bool { return len(tl.Tasks) == 2 }, created.DealID)
	require.Equal(t, "Answer Bob today", tl.Tasks[1].Title)
	require.Equal(t, "exit-reply", tl.Tasks[1].StepID)
	time.Sleep(8 * time.Second) // both follow-ups would have gone out by now
	require.Len(t, e.smtp.Messages(), 1, "the reply stopped the follow-ups")
	view := e.view(created.DealID)
	require.Equal(t, "the prospect replied", view.EmailsStopped)
	require.Equal(t, []string{"stale"}, itemIDs(view.Next))
	// The event's outcome is recorded after its task: wait for it rather than race it.
	e.eventually("the reply event applied", 10*time.Second, func(tl store.Timeline) bool {
		for _, ev := range tl.Events {
			if ev.SourceEventID == "reply-1" {
				return ev.State == "applied"
			}
		}
		return false
	}, created.DealID)
	// Replayed by the workflows package: the blocking task, the task event and the exit
	// rule's recorded due date must keep replaying after any workflow change.
	e.saveHistory("engagement", workflows.WorkflowID(created.DealID), created.RunID)
}

// Nurture re-engagement on the real stack: a click in nurturing moves the deal back.
func TestClickInNurturingReEngagesTheDeal(t *testing.T) {
	t.Parallel()
	p := engagementPipeline(time.Minute)
	p.Stages[0].Steps = p.Stages[0].Steps[1:2] // only the intro
	e := newEnv(t, mainServer, "it-reengage", p)
	e.start()
	created := e.create("reengage-1")
	e.smtp.WaitForMessages(t, 1, 20*time.Second)
	e.moveTo(created.DealID, "nurturing", "to-nurture", time.Now())
	e.eventually("nurturing", 15*time.Second, hasTransitionTo("nurturing", 2), created.DealID)

	_, err := e.svc.Engage(context.Background(), deals.EngageRequest{Deal: created.DealID, Kind: cadence.EngagedClick, Source: "tracker", EventID: "click-1"})
	require.NoError(t, err)
	tl := e.eventually("back to qualification", 15*time.Second, hasTransitionTo("qualification", 3), created.DealID)
	require.Equal(t, "came back from nurturing (click)", tl.Transitions[2].Reason)
	require.Equal(t, "tracker", tl.Transitions[2].Source)
}
