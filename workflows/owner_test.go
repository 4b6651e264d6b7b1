package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/workflows"
)

func ownerChanged(id string, at time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventOwnerChanged, Source: "ops",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, Reason: "handed over from a@x.test to b@x.test", OwnerID: "o-2"}
}

// handoverPipeline: one task step in business time, in a calendar with office hours, so the
// owner's zone decides when the task falls due.
func handoverPipeline(after cadence.Duration) cadence.Pipeline {
	return cadence.Pipeline{
		ID: "handover", Initial: "prospecting",
		Calendar: &cadence.CalendarSpec{Zone: "UTC", BusinessHours: "Mon-Fri 09:00-17:00"},
		Stages: []cadence.Stage{
			{ID: "prospecting", Steps: []cadence.Step{
				{ID: "call", Kind: cadence.StepTask, After: after,
					Task: &cadence.TaskSpec{Kind: "call", Title: "Call", DueIn: cadence.Of(8, cadence.BusinessHours),
						Escalate: &cadence.Escalation{After: cadence.Of(1, cadence.BusinessDays)}}},
			}},
			{ID: "won", Terminal: true},
		},
		Templates: map[string]cadence.Template{},
	}
}

func ownerCalendar(t *testing.T, p cadence.Pipeline, owner calendar.Party) cadence.Calendars {
	t.Helper()
	cals, err := calendar.ForDeal(p.Calendar, owner, calendar.Party{}).Calendars()
	require.NoError(t, err)
	return cals
}

// A handover (owner_changed) on Monday 10:00 UTC, before the call task is created: the deal
// reloads its calendars, and the task is planned, and falls due, in the new owner's business
// hours (Tokyo), not the old owner's (UTC).
func TestOwnerChangedReplansNextTask(t *testing.T) {
	t.Parallel()
	p := handoverPipeline(cadence.Of(2, cadence.BusinessDays))
	tokyo := calendar.Party{Zone: "Asia/Tokyo"}
	oldCals, newCals := ownerCalendar(t, p, calendar.Party{}), ownerCalendar(t, p, tokyo)
	wantAt := newCals.Owner.Add(start, p.Stages[0].Steps[0].After).UTC()
	wantDue := newCals.Owner.Add(wantAt, p.Stages[0].Steps[0].Task.DueIn).UTC()
	require.NotEqual(t, oldCals.Owner.Add(start, p.Stages[0].Steps[0].After), wantAt, "the test needs calendars that differ")

	env, rec := newEnv(t, p)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, oldCals.Owner.Add(start, p.Stages[0].Steps[0].After).UTC(), v.Next[0].At.UTC(), "planned in the old owner's calendar")
		func() {
			defer rec.lock()()
			rec.owner = tokyo // the handover moved deals.owner_id
		}()
		env.SignalWorkflow(workflows.EventSignal, ownerChanged("owner-handover/1", start.Add(time.Hour), 60))
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, wantAt, v.Next[0].At.UTC(), "re-planned in the new owner's calendar")
	}, time.Hour+time.Minute)
	runFor(env, 3*24*time.Hour+12*time.Hour) // past the task, before its escalation
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	state, reason := rec.outcome(60)
	require.Equal(t, "applied", state)
	require.Contains(t, reason, "calendars reloaded")
	defer rec.lock()()
	require.Len(t, rec.tasks, 1)
	require.Equal(t, wantAt, rec.tasks[0].At.UTC(), "created when the new owner's calendar says")
	require.Equal(t, wantDue, rec.tasks[0].DueAt.UTC())
	require.Empty(t, rec.snoozes, "no open task to move")
}

// A handover while a task is open: its future due date moves into the new owner's business
// hours (through the store's SnoozeTask), and its escalation is counted from there; the same
// event delivered again changes nothing.
func TestOwnerChangedMovesOpenTask(t *testing.T) {
	t.Parallel()
	p := handoverPipeline(cadence.Zero)
	tokyo := calendar.Party{Zone: "Asia/Tokyo"}
	oldCals, newCals := ownerCalendar(t, p, calendar.Party{}), ownerCalendar(t, p, tokyo)
	oldDue := oldCals.Owner.Add(start, p.Stages[0].Steps[0].Task.DueIn).UTC() // Monday 17:00 UTC
	wantDue := newCals.Owner.Add(oldDue, cadence.Of(0, cadence.BusinessHours)).UTC()
	require.NotEqual(t, oldDue, wantDue)

	env, rec := newEnv(t, p)
	var mu sync.Mutex
	var owners []string // the DealOwner search attribute's values, as set
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(workflows.DealOwnerKey); ok {
			mu.Lock()
			owners = append(owners, v)
			mu.Unlock()
		}
	})
	env.RegisterDelayedCallback(func() {
		func() {
			defer rec.lock()()
			rec.owner = tokyo
		}()
		ev := ownerChanged("owner-handover/2", start.Add(time.Hour), 61)
		env.SignalWorkflow(workflows.EventSignal, ev)
		env.SignalWorkflow(workflows.EventSignal, ev) // the sweeper's copy
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Len(t, v.OpenTasks, 1)
		require.Equal(t, wantDue, v.OpenTasks[0].DueAt.UTC())
		require.Equal(t, newCals.Owner.Add(wantDue, cadence.Of(1, cadence.BusinessDays)).UTC(), v.OpenTasks[0].EscalateAt.UTC())
	}, time.Hour+time.Minute)
	runFor(env, 2*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	state, _ := rec.outcome(61)
	require.Equal(t, "applied", state)
	mu.Lock()
	require.Equal(t, []string{"o-1", "o-2"}, owners, "the DealOwner search attribute follows the handover")
	mu.Unlock()
	defer rec.lock()()
	require.Len(t, rec.snoozes, 1, "moved once")
	require.Equal(t, wantDue, rec.snoozes[0].DueAt.UTC(), "the database gets the due date the deal shows")
}
