package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/workflows"
)

// outagePipeline: prospecting sends intro at once, gives a call task 10 minutes after it and
// sends a follow-up 20 minutes after that; a warning at 50% of its 1-hour limit, and the
// limit moves the deal to nurturing. Calendar time, so instants are easy to read.
func outagePipeline() cadence.Pipeline {
	mins := func(n int) cadence.Duration { return cadence.Of(n, cadence.Minutes) }
	return cadence.Pipeline{
		ID: "outage", Initial: "prospecting",
		Stages: []cadence.Stage{
			{ID: "prospecting", TimeLimit: cadence.Of(1, cadence.Hours),
				Steps: []cadence.Step{
					{ID: "intro", Kind: cadence.StepEmail, After: cadence.Zero, Template: "t"},
					{ID: "call", Kind: cadence.StepTask, After: mins(10), Task: &cadence.TaskSpec{Kind: "call", Title: "Call", DueIn: mins(30)}},
					{ID: "followup", Kind: cadence.StepEmail, After: mins(20), Template: "t"},
				},
				StaleTasks: []cadence.StaleTask{{At: 50, Task: cadence.TaskSpec{Kind: "todo", Title: "Going stale", DueIn: mins(10)}}},
				OnStale:    &cadence.Move{MoveTo: "nurturing", Reason: "no response in prospecting"}},
			{ID: "nurturing", Steps: []cadence.Step{{ID: "nurture", Kind: cadence.StepEmail, After: cadence.Of(1, cadence.Days), Template: "t"}}},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]cadence.Template{"t": {Subject: "s", Text: "t"}},
	}
}

func smtpDown() error {
	return temporal.NewApplicationError("SMTP transient failure (reply 421 4.3.2)", activities.ErrTypeSMTPTransient)
}

// An SMTP outage keeps intro's send retrying for the whole visit: the stage's warning and its
// time limit still fire on time, the move stops the send's retries, and no later step of the
// old visit runs.
func TestStageTimersFireWhileASendRetries(t *testing.T) {
	t.Parallel()
	// A 45-minute limit: the unit-test environment stops retrying after 10 attempts (at 51
	// minutes), where a real server retries for the send's Schedule-To-Close of hours.
	p := outagePipeline()
	p.Stages[0].TimeLimit = cadence.Of(45, cadence.Minutes)
	env, rec := newEnv(t, p)
	rec.sendFail = func(in activities.SendInput, _ time.Time) error {
		if in.StepID == "intro" {
			return smtpDown() // all hour long
		}
		return nil
	}
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "prospecting", v.Stage)
		require.Equal(t, "intro#1", v.Next[0].ID)
		require.Contains(t, v.Next[0].Reason, "being sent since")
	}, 20*time.Minute)
	runFor(env, 3*time.Hour)
	in := newInput()
	in.Start.Stage = "prospecting"
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	requireCancelled(t, env)

	require.Equal(t, []string{"stale-50#1@22m30s"}, rec.taskLog(), "the warning at 50% fires on time; no call task: it counts from intro, which never went")
	require.Equal(t, []string{"prospecting", "nurturing"}, rec.stages())
	defer rec.lock()()
	require.True(t, start.Add(45*time.Minute).Equal(rec.transitions[1].At), "the time limit fires on time: %s", rec.transitions[1].At)
	require.NotEmpty(t, rec.attempts)
	for _, at := range rec.attempts {
		require.Contains(t, at, "intro#1@")
		d, err := time.ParseDuration(at[len("intro#1@") : len(at)-len(":error")])
		require.NoError(t, err)
		require.Less(t, d, 45*time.Minute, "no attempt of the old visit's send after the move: %v", rec.attempts)
	}
	for _, s := range rec.sends {
		require.Equal(t, "nurture", s.StepID, "nothing of prospecting was sent")
	}
	require.Len(t, rec.cancelledSends, 1)
	require.Equal(t, "intro", rec.cancelledSends[0].StepID)
	require.Equal(t, "not sent: the deal moved from prospecting to nurturing", rec.cancelledSends[0].Reason)
}

// A later email of the visit waits for the one in flight: the follow-up goes after intro is
// accepted, counted from that instant, so order and threading hold.
func TestLaterEmailWaitsForTheSendInFlight(t *testing.T) {
	t.Parallel()
	p := outagePipeline()
	p.Stages[0].TimeLimit = cadence.Of(10, cadence.Hours)
	p.Stages[0].StaleTasks = nil
	env, rec := newEnv(t, p)
	rec.sendFail = func(in activities.SendInput, now time.Time) error {
		if in.StepID == "intro" && now.Before(start.Add(45*time.Minute)) {
			return smtpDown()
		}
		return nil
	}
	runFor(env, 3*time.Hour)
	in := newInput()
	in.Start.Stage = "prospecting"
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	requireCancelled(t, env)

	sent := rec.sent()
	require.Len(t, sent, 2)
	require.Equal(t, "intro#1", sent[0][:len("intro#1")])
	defer rec.lock()()
	introAt := rec.sentAt[0]
	require.False(t, introAt.Before(start.Add(45*time.Minute)))
	require.Equal(t, "followup", rec.sends[1].StepID)
	require.True(t, introAt.Add(30*time.Minute).Equal(rec.sentAt[1]), "the call 10 min after intro was accepted, the follow-up 20 min after the call: %s", rec.sentAt[1])
	require.Len(t, rec.tasks, 1)
	require.True(t, introAt.Add(10*time.Minute).Equal(rec.tasks[0].At), "the call task waited for intro too: %s", rec.tasks[0].At)
}

// A reply while an email is retrying stops that email: it must not go out after the reply.
func TestReplyStopsTheSendInFlight(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, outagePipeline())
	rec.sendFail = func(in activities.SendInput, _ time.Time) error { return smtpDown() }
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, engagement("r-1", cadence.EngagedReply, start.Add(5*time.Minute), 10))
	}, 5*time.Minute)
	runFor(env, 50*time.Minute)
	in := newInput()
	in.Start.Stage = "prospecting"
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	requireCancelled(t, env)
	defer rec.lock()()
	for _, at := range rec.attempts {
		d, err := time.ParseDuration(at[len("intro#1@") : len(at)-len(":error")])
		require.NoError(t, err)
		require.LessOrEqual(t, d, 5*time.Minute, "no attempt after the reply: %v", rec.attempts)
	}
	require.Empty(t, rec.sends)
	require.Len(t, rec.cancelledSends, 1)
	require.Equal(t, "not sent: the prospect replied", rec.cancelledSends[0].Reason)
}

// The relay refuses the address during the send (550 5.1.1): the same rule as a reported
// bounce — the visit's emails stop with the reason, the owner gets the exit task once, and
// later visits start stopped.
func TestSynchronousHardBounceIsABounce(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, rulesPipeline())
	rec.sendResult = func(in activities.SendInput, _ time.Time) (activities.SendResult, bool) {
		return activities.SendResult{Outcome: activities.SendBounced, Code: 550, Enhanced: "5.1.1"}, true
	}
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "the address bounced", v.EmailsStopped)
		for _, it := range v.Next {
			require.NotEqual(t, cadence.ItemEmail, it.Kind, "no email is listed as next: %v", itemIDs(v.Next))
		}
		// The mail provider reports the same bounce later: no second task.
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
	requireCancelled(t, env)

	require.Equal(t, []string{"exit-bounce#1@0s"}, rec.taskLog(), "the exit task once; the call task's visit stopped")
	state, reason := rec.outcome(10)
	require.Equal(t, "applied", state)
	require.Contains(t, reason, "already")
	defer rec.lock()()
	require.Len(t, rec.attempts, 1, "intro only: nothing else was attempted, %v", rec.attempts)
}
