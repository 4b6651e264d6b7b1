package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/workflows"
)

func pauseEvent(id, scope string, at, until time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventPaused, Source: "cli",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, Scope: scope, Until: until}
}

func resumeEvent(id, scope string, at time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventResumed, Source: "cli",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, Scope: scope}
}

// Paused on day 1 for ten days: every pending item keeps the time it had left, counted from
// the resume; nothing catches up in a burst.
func TestDealPauseFreezesTheRemainingTimeAndResumeReplansIt(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("p-1", workflows.ScopeDeal, day(1), time.Time{}, 20))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.True(t, v.Paused)
		require.Empty(t, v.Next, "nothing is due while paused")
		require.Len(t, v.Pauses, 1)
		require.Equal(t, day(1), v.Pauses[0].Since)
	}, 5*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, resumeEvent("r-1", workflows.ScopeDeal, day(11), 21))
	}, 11*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.False(t, v.Paused)
		require.Equal(t, day(30), v.Deadline, "the limit had 19 days left at the pause")
		require.Equal(t, "followup#1", v.Next[0].ID)
		require.Equal(t, day(13), v.Next[0].At, "2 days were left at the pause")
		require.Contains(t, v.Next[0].Reason, "paused from 2026-11-24 09:00 UTC to 2026-12-04 09:00 UTC")
	}, 11*24*time.Hour+time.Minute)
	runFor(env, 40*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	require.Equal(t, []string{"intro#1@0s", "followup#1@312h0m0s", "last#1@408h0m0s"}, rec.sent())
	require.Equal(t, []string{"call#1@336h0m0s"}, rec.taskLog())
	require.Equal(t, []string{"prospecting", "nurturing"}, rec.stages())
	defer rec.lock()()
	require.Equal(t, day(30), rec.transitions[1].At)
	for _, o := range rec.outcomes {
		require.Equal(t, "applied", string(o.State), "%d: %s", o.InboundEventID, o.Reason)
	}
}

// Owner, pipeline and deal pauses overlap; the deal resumes only when the last lets go. The
// owner's holiday ends by itself on its date.
func TestOverlappingPausesAtEachLevel(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("owner-holiday", workflows.ScopeOwner, day(1), day(5), 30))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("pipeline-hold", workflows.ScopePipeline, day(2), time.Time{}, 31))
	}, 2*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Len(t, v.Next, 1)
		require.Equal(t, cadence.ItemResume, v.Next[0].Kind)
		require.Equal(t, day(5), v.Next[0].At)
	}, 3*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.True(t, v.Paused, "the pipeline still holds it after the owner's holiday")
		require.Equal(t, workflows.ScopePipeline, v.Pauses[0].Scope)
		env.SignalWorkflow(workflows.EventSignal, resumeEvent("deal-resume", workflows.ScopeDeal, day(6), 32))
	}, 6*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, resumeEvent("pipeline-release", workflows.ScopePipeline, day(8), 33))
	}, 8*24*time.Hour)
	runFor(env, 12*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	// Frozen on day 1 with 2 days left for the follow-up: it goes on day 10.
	require.Equal(t, []string{"intro#1@0s", "followup#1@240h0m0s"}, rec.sent())
	require.Equal(t, []string{"call#1@264h0m0s"}, rec.taskLog())
	state, reason := rec.outcome(32)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, "not paused by its deal")
	_, reason = rec.outcome(33)
	require.Contains(t, reason, "the pipeline pause is lifted")
}

// Business time freezes too: ten business days of limit, paused after one, resumed on a
// Friday afternoon, ends nine business days of the owner's calendar later.
func TestPauseInBusinessTimeMovesTheDeadlineExactly(t *testing.T) {
	t.Parallel()
	p := rulesPipeline()
	p.Calendar = &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de"}, BusinessHours: "Mon-Fri 09:00-17:00"}
	p.Stages[0].Steps = nil
	p.Stages[0].TimeLimit = cadence.Of(10, cadence.BusinessDays)
	p.Stages[0].StaleTasks = []cadence.StaleTask{{At: 50, Task: cadence.TaskSpec{Kind: "todo", Title: "Halfway", DueIn: cadence.Of(1, cadence.BusinessDays)}}}
	env, rec := newEnv(t, p)
	// Entered Mon 2026-11-23 10:00 Berlin; paused Tue 10:00 (72 open hours left; the 50% rung
	// had 32); resumed Fri 2026-11-27 15:00.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("p", workflows.ScopeDeal, day(1), time.Time{}, 40))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, resumeEvent("r", workflows.ScopeDeal, day(4).Add(5*time.Hour), 41))
	}, 4*24*time.Hour+5*time.Hour)
	runFor(env, 30*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	defer rec.lock()()
	// 50% rung: 2 open hours on Friday, then 30 = 3 days and 6 hours → Thu 2026-12-03 15:00.
	require.Len(t, rec.tasks, 1)
	require.Equal(t, time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC), rec.tasks[0].At.UTC())
	// Deadline: 2 hours on Friday, then 70 = 8 days and 6 hours → Thu 2026-12-10 15:00.
	require.Len(t, rec.transitions, 2)
	require.Equal(t, time.Date(2026, 12, 10, 14, 0, 0, 0, time.UTC), rec.transitions[1].At.UTC())
}

func TestDealCreatedWhileItsOwnerIsPausedStartsPaused(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	in := rulesInput("prospecting")
	in.Pauses = []workflows.Pause{{Scope: workflows.ScopeOwner, Since: start.Add(-time.Hour), Until: day(2)}}
	runFor(env, 4*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	// The intro had no time left: it goes when the holiday ends; the follow-up 3 days later.
	require.Equal(t, []string{"intro#1@48h0m0s"}, rec.sent())
}

func TestImportedDealSkipsTheStagesFirstEmail(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	in := rulesInput("prospecting")
	in.Import = true
	runFor(env, 8*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	require.Equal(t, []string{"followup#1@72h0m0s", "last#1@168h0m0s"}, rec.sent(), "the intro came from the old system")
	require.Equal(t, []string{"call#1@96h0m0s"}, rec.taskLog())
}

// A rep's week off: while the owner pause has an end date, the deal shows every touch where
// the resume will put it, and the resume puts them exactly there (no catch-up burst).
func TestPauseWithAnEndShowsWhereEveryTouchMoves(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	var shown []cadence.Item
	var deadline time.Time
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, pauseEvent("holiday", workflows.ScopeOwner, day(1), day(8), 50))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.True(t, v.Paused)
		shown, deadline = v.Next, v.Deadline
	}, 2*24*time.Hour)
	runFor(env, 30*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	// Frozen on day 1: the follow-up had 2 days left, the call 3, the last email 6, the
	// stage's 20-day limit 19. The week's pause moves each by 7 days.
	require.Equal(t, []string{"resume@192h0m0s", "followup#1@240h0m0s", "call#1@264h0m0s", "last#1@336h0m0s", "stale@648h0m0s"}, itemsAt(shown))
	require.Equal(t, cadence.ItemResume, shown[0].Kind)
	require.Contains(t, shown[1].Reason, "paused from")
	require.Equal(t, day(27), deadline, "the deadline shown is where the resume puts it")
	require.Equal(t, []string{"intro#1@0s", "followup#1@240h0m0s", "last#1@336h0m0s"}, rec.sent(), "sent where shown")
	require.Equal(t, []string{"call#1@264h0m0s"}, rec.taskLog(), "the task came where shown")
}

func itemsAt(items []cadence.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%s@%s", it.ID, it.At.Sub(start))
	}
	return out
}
