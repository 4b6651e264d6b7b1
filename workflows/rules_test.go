package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/workflows"
)

// rulesPipeline: prospecting sends intro at once, a follow-up 3 days later, gives a call task
// a day after that and sends a last email 3 days later; 20 days without progress move the
// deal to nurturing. Nurturing re-engages on a click or a reply; proposal starts with a
// blocking task. Calendar days, so instants are easy to read.
func rulesPipeline() cadence.Pipeline {
	days := func(n int) cadence.Duration { return cadence.Of(n, cadence.Days) }
	return cadence.Pipeline{
		ID: "rules", Initial: "prospecting",
		Stages: []cadence.Stage{
			{ID: "prospecting", TimeLimit: days(20),
				Steps: []cadence.Step{
					{ID: "intro", Kind: cadence.StepEmail, After: cadence.Zero, Template: "t"},
					{ID: "followup", Kind: cadence.StepEmail, After: days(3), Template: "t"},
					{ID: "call", Kind: cadence.StepTask, After: days(1), Task: &cadence.TaskSpec{Kind: "call", Title: "Call", DueIn: days(1)}},
					{ID: "last", Kind: cadence.StepEmail, After: days(3), Template: "t"},
				},
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no response in prospecting"}},
			{ID: "qualification", Steps: []cadence.Step{
				{ID: "pause", Kind: cadence.StepWait, After: days(2)},
				{ID: "qualify-email", Kind: cadence.StepEmail, After: cadence.Zero, Template: "t"},
			}},
			{ID: "proposal", Steps: []cadence.Step{
				{ID: "send-proposal", Kind: cadence.StepTask, After: cadence.Zero, Blocking: true,
					Task: &cadence.TaskSpec{Kind: "todo", Title: "Send the proposal", DueIn: days(1)}},
				{ID: "proposal-followup", Kind: cadence.StepEmail, After: days(2), Template: "t"},
			}},
			{ID: "nurturing",
				Steps:       []cadence.Step{{ID: "nurture", Kind: cadence.StepEmail, After: days(21), Times: 3, Template: "t"}},
				OnEngaged:   &cadence.OnEngaged{MoveTo: "qualification", Reason: "the prospect re-engaged"},
				OnExhausted: &cadence.Move{After: days(7), MoveTo: "lost", Reason: "unresponsive after nurture"}},
			{ID: "won", Terminal: true},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]cadence.Template{"t": {Subject: "s", Text: "t"}},
	}
}

func engagement(id string, kind cadence.Engagement, at time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventEngaged, Source: "crm",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, Engagement: kind}
}

func day(n int) time.Time { return start.AddDate(0, 0, n) }

// sent lists "<step>#<occurrence>@<day offset>" for every send.
func (r *recorder) sent() []string {
	defer r.lock()()
	var out []string
	for i, s := range r.sends {
		out = append(out, fmt.Sprintf("%s#%d@%s", s.StepID, s.Occurrence, r.sentAt[i].Sub(start)))
	}
	return out
}

func (r *recorder) taskLog() []string {
	defer r.lock()()
	var out []string
	for _, t := range r.tasks {
		out = append(out, fmt.Sprintf("%s#%d@%s", t.StepID, t.Occurrence, t.At.Sub(start)))
	}
	return out
}

func (r *recorder) outcome(inbound int64) (string, string) {
	defer r.lock()()
	for _, o := range r.outcomes {
		if o.InboundEventID == inbound {
			return string(o.State), o.Reason
		}
	}
	return "", ""
}

func rulesInput(stage string) workflows.DealInput {
	in := newInput()
	in.Start.Stage = stage
	return in
}

func runFor(env interface {
	RegisterDelayedCallback(func(), time.Duration)
	CancelWorkflow()
}, d time.Duration) {
	env.RegisterDelayedCallback(env.CancelWorkflow, d)
}

func TestReplyOnDayFourStopsLaterEmailsAndCreatesTask(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("r-1", cadence.EngagedReply, day(4).Add(-time.Hour), 7))
	}, 4*24*time.Hour-time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "the prospect replied", v.EmailsStopped)
		for _, it := range v.Next {
			require.NotEqual(t, cadence.ItemEmail, it.Kind, "no email left on the agenda: %s", it.ID)
		}
	}, 4*24*time.Hour+time.Minute)
	runFor(env, 30*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.True(t, env.IsWorkflowCompleted())

	require.Equal(t, []string{"intro#1@0s", "followup#1@72h0m0s"}, rec.sent(), "the last email is not sent after the reply")
	// The reply (day 4, an hour before the call task) gives a task due in 4 business hours;
	// the call task still comes.
	require.Equal(t, []string{"exit-reply#1@95h0m0s", "call#1@96h0m0s"}, rec.taskLog())
	require.Equal(t, day(4).Add(3*time.Hour), rec.tasks[0].DueAt.UTC())
	state, reason := rec.outcome(7)
	require.Equal(t, "applied", state)
	require.Contains(t, reason, "the prospect replied")
	// The time limit still acts: the rep must move the deal, or it goes to nurturing.
	require.Equal(t, []string{"prospecting", "nurturing"}, rec.stages())
}

// A reply stops the emails of every visit the engine moves the deal to, until a person moves
// it; the reply's task survives the move.
func TestReplyKeepsEmailsStoppedThroughEngineMoves(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("r-2", cadence.EngagedReply, day(4), 30))
	}, 4*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "nurturing", v.Stage, "the time limit still moves the deal")
		require.Equal(t, "the prospect replied: no email until a person moves the deal", v.EmailsStopped)
	}, 21*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("s-2", "qualification", day(45), 31))
	}, 45*24*time.Hour)
	runFor(env, 50*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.True(t, env.IsWorkflowCompleted())

	// No nurture email (day 41) after the reply; the person's move starts qualification's.
	require.Equal(t, []string{"intro#1@0s", "followup#1@72h0m0s", "qualify-email#1@1128h0m0s"}, rec.sent())
	require.Equal(t, []string{"prospecting", "nurturing", "qualification"}, rec.stages())
	defer rec.lock()()
	require.Len(t, rec.cancels, 1, "the call task cancelled on leaving prospecting; nothing else to cancel later")
	require.Len(t, rec.cancels[0].Keep, 1, "the reply's task stays open")
}

// A deal whose prospect replied is not moved to lost as "unresponsive" when the stopped
// steps of a stage the engine moved it to run out.
func TestReplyIsNeverUnresponsive(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("r-3", cadence.EngagedReply, day(4), 33))
	}, 4*24*time.Hour)
	runFor(env, 100*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.True(t, env.IsWorkflowCompleted())
	require.Equal(t, []string{"prospecting", "nurturing"}, rec.stages(), "nurturing's on_exhausted (day 90) does not apply")
	require.Equal(t, []string{"intro#1@0s", "followup#1@72h0m0s"}, rec.sent())
}

// An out-of-office's return date holds the first email of a visit the deal enters before it.
func TestOutOfOfficeHoldsTheNextVisitsEmail(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	back := day(60)
	env.RegisterDelayedCallback(func() {
		ev := engagement("ooo-3", cadence.EngagedOutOfOffice, day(19), 32)
		ev.ReturnAt = back
		env.SignalWorkflow(workflows.EventSignal, ev)
	}, 19*24*time.Hour)
	runFor(env, 61*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.True(t, env.IsWorkflowCompleted())
	// Nurturing (entered on day 20) would mail on day 41; it waits for day 60.
	require.Equal(t, []string{"intro#1@0s", "followup#1@72h0m0s", "last#1@168h0m0s", "nurture#1@1440h0m0s"}, rec.sent())
}

func TestOutOfOfficeDefersTheNextEmailPastTheReturnDate(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	back := day(10).Add(8 * time.Hour)
	env.RegisterDelayedCallback(func() {
		ev := engagement("ooo-1", cadence.EngagedOutOfOffice, day(1), 8)
		ev.ReturnAt = back
		env.SignalWorkflow(workflows.EventSignal, ev)
	}, 24*time.Hour)
	runFor(env, 19*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.True(t, env.IsWorkflowCompleted())

	// followup (day 3) waits for the return; the call and the last email count from it.
	require.Equal(t, []string{"intro#1@0s", "followup#1@248h0m0s", "last#1@344h0m0s"}, rec.sent(), "nothing resent, nothing stopped")
	require.Equal(t, []string{"call#1@272h0m0s"}, rec.taskLog())
	state, reason := rec.outcome(8)
	require.Equal(t, "applied", state)
	require.Contains(t, reason, "followup#1 deferred")
}

func TestOutOfOfficeWithoutReturnDateChangesNothing(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("ooo-2", cadence.EngagedOutOfOffice, day(1), 9))
	}, 24*time.Hour)
	runFor(env, 8*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"intro#1@0s", "followup#1@72h0m0s", "last#1@168h0m0s"}, rec.sent())
	_, reason := rec.outcome(9)
	require.Contains(t, reason, "nothing deferred")
}

func TestBounceStopsEmailsInThisAndLaterVisits(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("b-1", cadence.EngagedBounce, day(1), 10))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("s-1", "qualification", day(2), 11))
	}, 2*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, "the address bounced", query(t, env).EmailsStopped, "a new visit starts with its emails stopped")
	}, 2*24*time.Hour+time.Minute)
	runFor(env, 10*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"intro#1@0s"}, rec.sent())
	require.Equal(t, []string{"exit-bounce#1@24h0m0s"}, rec.taskLog(), "a task to find a working address; the call task's visit was left")
}

func TestEngagementBeforeTheLastTransitionIsIgnored(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("s-1", "qualification", day(1), 12))
		// A reply from before the move arrives late: it must not stop the new stage's emails.
		env.SignalWorkflow(workflows.EventSignal, engagement("r-old", cadence.EngagedReply, day(1).Add(-time.Hour), 13))
	}, 24*time.Hour)
	runFor(env, 5*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	state, reason := rec.outcome(13)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, "before the deal entered qualification")
	// The wait step holds qualification's email two days.
	require.Equal(t, []string{"intro#1@0s", "qualify-email#1@72h0m0s"}, rec.sent())
}

func TestNurtureReEngagementMovesBackAndExhaustionMovesToLost(t *testing.T) {
	t.Parallel()
	t.Run("a click re-engages", func(t *testing.T) {
		t.Parallel()
		env, rec := newEnv(t, rulesPipeline())
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(workflows.EventSignal, engagement("c-1", cadence.EngagedClick, day(25), 14))
		}, 25*24*time.Hour)
		runFor(env, 30*24*time.Hour)
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("nurturing"))
		require.Equal(t, []string{"nurturing", "qualification"}, rec.stages())
		defer rec.lock()()
		require.Equal(t, "the prospect re-engaged (click)", rec.transitions[1].Reason)
		require.Equal(t, int64(14), rec.transitions[1].InboundEventID)
		require.Equal(t, day(25), rec.transitions[1].At)
	})
	t.Run("a click elsewhere changes nothing", func(t *testing.T) {
		t.Parallel()
		env, rec := newEnv(t, rulesPipeline())
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(workflows.EventSignal, engagement("c-2", cadence.EngagedClick, day(1), 15))
		}, 24*time.Hour)
		runFor(env, 8*24*time.Hour)
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
		state, _ := rec.outcome(15)
		require.Equal(t, "ignored", state)
		require.Len(t, rec.sent(), 3)
	})
	t.Run("nobody answers", func(t *testing.T) {
		t.Parallel()
		env, rec := newEnv(t, rulesPipeline())
		env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("nurturing"))
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		require.Equal(t, []string{"nurture#1@504h0m0s", "nurture#2@1008h0m0s", "nurture#3@1512h0m0s"}, rec.sent())
		require.Equal(t, []string{"nurturing", "lost"}, rec.stages())
		defer rec.lock()()
		require.Equal(t, day(70), rec.transitions[1].At)
		require.Equal(t, "unresponsive after nurture", rec.transitions[1].Reason)
	})
}

func TestReplyInNurturingDoesNotExhaustTheDeal(t *testing.T) {
	t.Parallel()
	p := rulesPipeline()
	nurturing := &p.Stages[3]
	nurturing.OnEngaged.On = []cadence.Engagement{cadence.EngagedMeetingBooked} // replies fall to the exit rules
	env, rec := newEnv(t, p)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("r-2", cadence.EngagedReply, day(30), 16))
	}, 30*24*time.Hour)
	runFor(env, 100*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("nurturing"))
	require.Equal(t, []string{"nurture#1@504h0m0s"}, rec.sent())
	require.Equal(t, []string{"nurturing"}, rec.stages(), "a prospect who replied is not 'unresponsive'")
	require.Equal(t, []string{"exit-reply#1@720h0m0s"}, rec.taskLog())
}

func TestBlockingTaskHoldsTheCadenceUntilDone(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "task send-proposal#1 to be completed or skipped", v.WaitingFor)
		require.Empty(t, v.Next, "nothing is planned while the blocking task is open")
		require.Len(t, v.OpenTasks, 1)
		env.SignalWorkflow(workflows.EventSignal, workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventTaskClosed,
			Source: "cli", SourceEventID: "done-1", SourceTime: day(5), InboundEventID: 17,
			TaskID: v.OpenTasks[0].ID, TaskOutcome: workflows.TaskDone})
	}, 5*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Empty(t, v.WaitingFor)
		require.Empty(t, v.OpenTasks)
		require.Len(t, v.Next, 1)
		require.Equal(t, day(7), v.Next[0].At, "the follow-up counts from the task's completion")
	}, 5*24*time.Hour+time.Minute)
	runFor(env, 10*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("proposal"))
	require.Equal(t, []string{"proposal-followup#1@168h0m0s"}, rec.sent())
	defer rec.lock()()
	require.Len(t, rec.closedTasks, 1)
	require.Equal(t, "done", rec.closedTasks[0].State)
	require.Equal(t, day(5), rec.closedTasks[0].At)
	st, _ := "", ""
	for _, o := range rec.outcomes {
		if o.InboundEventID == 17 {
			st = string(o.State)
		}
	}
	require.Equal(t, "applied", st)
}

func TestClosingATaskThatIsNotOpenIsIgnored(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventTaskClosed,
			Source: "cli", SourceEventID: "skip-1", SourceTime: day(1), InboundEventID: 18, TaskID: 999, TaskOutcome: workflows.TaskSkipped})
	}, 24*time.Hour)
	runFor(env, 2*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	state, reason := rec.outcome(18)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, "task 999 is not open")
	defer rec.lock()()
	require.Empty(t, rec.closedTasks)
}

// The on_stale ladder counts business minutes of the owner's calendar: 80% of ten business
// days (80 open hours) is 64 open hours after entry.
func TestStaleLadderWarnsAtEightyPercentThenMoves(t *testing.T) {
	t.Parallel()
	bd := func(n int) cadence.Duration { return cadence.Of(n, cadence.BusinessDays) }
	p := rulesPipeline()
	p.Calendar = &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de"}, BusinessHours: "Mon-Fri 09:00-17:00"}
	prospecting := &p.Stages[0]
	prospecting.Steps = nil
	prospecting.TimeLimit = bd(10)
	prospecting.StaleTasks = []cadence.StaleTask{
		{At: 50, Task: cadence.TaskSpec{Kind: "todo", Title: "Halfway: is the deal alive?", DueIn: bd(1)}},
		{At: 80, Task: cadence.TaskSpec{Kind: "call", Title: "Going stale: call or decide", DueIn: bd(1)}},
	}
	env, rec := newEnv(t, p)
	// Mon 2026-11-23 10:00 Berlin (09:00 UTC). 50% = 40 open hours = Mon 2026-11-30 10:00;
	// 80% = 64 open hours = Thu 2026-12-03 10:00; 100% = Mon 2026-12-07 10:00.
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Len(t, v.Next, 3)
		require.Equal(t, "stale-50#1", v.Next[0].ID)
		require.Equal(t, "stale-80#1", v.Next[1].ID)
		require.Equal(t, "stale", v.Next[2].ID)
	}, time.Minute)
	runFor(env, 20*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"stale-50#1@168h0m0s", "stale-80#1@240h0m0s"}, rec.taskLog())
	require.Equal(t, []string{"prospecting", "nurturing"}, rec.stages())
	defer rec.lock()()
	require.Equal(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), rec.transitions[1].At)
	require.Equal(t, time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), rec.tasks[1].DueAt.UTC(), "due one business day later")
	require.Len(t, rec.cancels, 1, "the rungs' tasks are cancelled when the deal moves")
}

// A signal delivered twice (a client retry racing the sweeper, or a crash between the signal
// and its record) is handled once: one reply task, one snooze, one pause.
func TestAnInboundEventDeliveredTwiceIsHandledOnce(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	reply := engagement("r-1", cadence.EngagedReply, day(4).Add(-time.Hour), 7)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, reply) }, 4*24*time.Hour-time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, reply) }, 4*24*time.Hour-time.Hour+2*time.Minute)
	hold := pauseEvent("hold", workflows.ScopeDeal, day(5), time.Time{}, 8)
	release := resumeEvent("release", workflows.ScopeDeal, day(6), 9)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, hold) }, 5*24*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, release) }, 6*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, hold) // the pause, redelivered after its resume
	}, 6*24*time.Hour+time.Hour)
	env.RegisterDelayedCallback(func() {
		require.False(t, query(t, env).Paused, "a stale redelivery does not pause the deal again")
	}, 6*24*time.Hour+2*time.Hour)
	runFor(env, 8*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	require.Equal(t, []string{"exit-reply#1@95h0m0s", "call#1@96h0m0s"}, rec.taskLog(), "one reply task")
	state, _ := rec.outcome(7)
	require.Equal(t, "applied", state)
}
