package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/workflows"
)

func escalatingPipeline() cadence.Pipeline {
	p := rulesPipeline()
	call := p.Stages[0].Steps[2].Task
	call.Escalate = &cadence.Escalation{After: cadence.Of(2, cadence.Days), Title: "Call overdue: ask your manager to step in"}
	return p
}

func snooze(id string, task int64, at, until time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventTaskSnoozed, Source: "cli",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, TaskID: task, Until: until}
}

// The call task (created day 4, due day 5) is still open two days after its due date: the
// owner gets an escalation task on day 7, once.
func TestOverdueTaskEscalatesOnce(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, escalatingPipeline())
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, []string{"last#1", "escalate-1", "stale"}, itemIDs(v.Next), "the escalation is on the agenda")
		require.Equal(t, day(7), v.Next[1].At)
	}, 6*24*time.Hour)
	runFor(env, 15*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"call#1@96h0m0s", "escalate-call#1@168h0m0s"}, rec.taskLog())
	defer rec.lock()()
	require.Equal(t, "Call overdue: ask your manager to step in", rec.tasks[1].Title)
	require.Equal(t, "todo", rec.tasks[1].Kind)
}

// A snooze moves the due date and the escalation with it; snoozing into a weekend lands on
// the owner's next business hour.
func TestSnoozeMovesDueDateAndEscalation(t *testing.T) {
	t.Parallel()
	t.Run("calendar days", func(t *testing.T) {
		t.Parallel()
		env, rec := newEnv(t, escalatingPipeline())
		env.RegisterDelayedCallback(func() {
			v := query(t, env)
			require.Len(t, v.OpenTasks, 1)
			env.SignalWorkflow(workflows.EventSignal, snooze("sz-1", v.OpenTasks[0].ID, day(5), day(6), 50))
		}, 5*24*time.Hour)
		runFor(env, 15*24*time.Hour)
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
		require.Equal(t, []string{"call#1@96h0m0s", "escalate-call#1@192h0m0s"}, rec.taskLog(), "escalation two days after the new due date")
		state, _ := rec.outcome(50)
		require.Equal(t, "applied", state)
	})
	t.Run("into the weekend", func(t *testing.T) {
		t.Parallel()
		p := escalatingPipeline()
		p.Calendar = &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de"}, BusinessHours: "Mon-Fri 09:00-17:00"}
		p.Stages[0].Steps = p.Stages[0].Steps[2:3] // just the call, at once
		p.Stages[0].Steps[0].After = cadence.Zero
		env, rec := newEnv(t, p)
		saturday := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
		env.RegisterDelayedCallback(func() {
			v := query(t, env)
			env.SignalWorkflow(workflows.EventSignal, snooze("sz-2", v.OpenTasks[0].ID, day(1), saturday, 51))
		}, 24*time.Hour)
		env.RegisterDelayedCallback(func() {
			v := query(t, env)
			require.Equal(t, time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), v.OpenTasks[0].DueAt.UTC(), "Monday 09:00 Berlin")
		}, 24*time.Hour+time.Minute)
		runFor(env, 3*24*time.Hour)
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
		_, reason := rec.outcome(51)
		require.Contains(t, reason, "first business hour")
		defer rec.lock()()
		require.Len(t, rec.snoozes, 1)
		require.Equal(t, time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), rec.snoozes[0].DueAt.UTC(), "the database gets the due date the deal shows")
	})
	t.Run("not open", func(t *testing.T) {
		t.Parallel()
		env, rec := newEnv(t, escalatingPipeline())
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(workflows.EventSignal, snooze("sz-3", 77, day(1), day(2), 52))
		}, 24*time.Hour)
		runFor(env, 2*24*time.Hour)
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
		state, _ := rec.outcome(52)
		require.Equal(t, "ignored", state)
	})
}

// An escalation that would fall due during the owner's holiday keeps the time it had left:
// paused on day 6 (one day before the escalation), back on day 10, escalated on day 11, not
// in a burst on the first morning back.
func TestEscalationWaitsOutTheOwnersPause(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, escalatingPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("holiday", workflows.ScopeOwner, day(6), day(10), 60))
	}, 6*24*time.Hour)
	runFor(env, 20*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"call#1@96h0m0s", "escalate-call#1@264h0m0s"}, rec.taskLog())
}

// A task snoozed while its owner is away keeps its new escalation when the pause lifts:
// paused on day 6 (the escalation had a day left), snoozed to day 9 while paused, resumed on
// day 8: the escalation comes two days after the new due date, on day 11.
func TestSnoozeDuringAPauseSurvivesTheResume(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, escalatingPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("away", workflows.ScopeOwner, day(6), time.Time{}, 70))
	}, 6*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Len(t, v.OpenTasks, 1)
		env.SignalWorkflow(workflows.EventSignal, snooze("sz-away", v.OpenTasks[0].ID, day(7), day(9), 71))
	}, 7*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, resumeEvent("back", workflows.ScopeOwner, day(8), 72))
	}, 8*24*time.Hour)
	runFor(env, 20*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"call#1@96h0m0s", "escalate-call#1@264h0m0s"}, rec.taskLog())
}
