package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/workflows"
)

// limitsPipeline: Berlin calendar with an email window Tue–Thu 09:00–11:30; an intro at once
// and a follow-up one business day later.
func limitsPipeline() cadence.Pipeline {
	return cadence.Pipeline{
		ID: "limits", Initial: "prospecting",
		Calendar: &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de"},
			BusinessHours: "Mon-Fri 09:00-17:00", EmailWindow: "Tue-Thu 09:00-11:30"},
		Stages: []cadence.Stage{
			{ID: "prospecting", Steps: []cadence.Step{
				{ID: "intro", Kind: cadence.StepEmail, After: cadence.Zero, Template: "t"},
				{ID: "followup", Kind: cadence.StepEmail, After: cadence.Of(1, cadence.BusinessDays), Template: "t"},
			}},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]cadence.Template{"t": {Subject: "s", Text: "t"}},
	}
}

func berlinAt(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	require.NoError(t, err)
	return at
}

// The mailbox cap is reached when the intro is due: the send is deferred, not failed; the
// workflow re-plans the same item into the next window and the follow-up counts from the
// intro's real time.
func TestMailboxCapDefersToTheNextWindow(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, limitsPipeline())
	freed := berlinAt(t, "2026-11-24 15:00") // a slot frees after the window closed
	deferred := 0
	rec.sendResult = func(in activities.SendInput, now time.Time) (activities.SendResult, bool) {
		if in.StepID == "intro" && deferred == 0 {
			deferred++
			return activities.SendResult{Outcome: activities.SendDeferred, DeferredUntil: freed,
				DeferReason: "the sending mailbox reached its cap of 200 emails in 24 hours"}, true
		}
		return activities.SendResult{}, false
	}
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "intro#1", v.Next[0].ID)
		require.True(t, berlinAt(t, "2026-11-25 09:00").Equal(v.Next[0].At), "next window: %s", v.Next[0].At)
		require.Contains(t, v.Next[0].Reason, "the sending mailbox reached its cap of 200 emails in 24 hours")
		require.Contains(t, v.Next[0].Reason, "outside the email window")
	}, 30*time.Hour) // Tue 2026-11-24 16:00 Berlin: after the refused attempt
	runFor(env, 5*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))

	defer rec.lock()()
	require.Len(t, rec.attempts, 1)
	require.Contains(t, rec.attempts[0], "intro#1@")
	require.Contains(t, rec.attempts[0], ":deferred")
	require.Len(t, rec.sends, 2, "deferred, not failed: the intro goes out once, then the follow-up")
	require.Equal(t, "intro", rec.sends[0].StepID)
	require.Equal(t, 1, rec.sends[0].Visit, "the same ledger key")
	require.True(t, berlinAt(t, "2026-11-25 09:00").Equal(rec.sentAt[0]), "intro at %s", rec.sentAt[0])
	followupAt := rec.sentAt[1].In(freed.Location())
	require.Equal(t, "2026-11-26", followupAt.Format("2006-01-02"), "one business day after the intro really went")
	require.False(t, followupAt.Before(berlinAt(t, "2026-11-26 09:00")))
	require.True(t, followupAt.Before(berlinAt(t, "2026-11-26 09:10")), "within the jitter: %s", followupAt)
}

// Another deal emailed the contact an hour ago: this deal's intro waits for the spacing, and
// lands at that instant since it is inside the window.
func TestTwoDealsOnOneContactAreSpaced(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, limitsPipeline())
	spacedUntil := berlinAt(t, "2026-11-24 10:45")
	rec.sendResult = func(in activities.SendInput, now time.Time) (activities.SendResult, bool) {
		if in.StepID == "intro" && now.Before(spacedUntil) {
			return activities.SendResult{Outcome: activities.SendDeferred, DeferredUntil: spacedUntil,
				DeferReason: "another deal emailed this contact less than 24h0m0s ago"}, true
		}
		return activities.SendResult{}, false
	}
	runFor(env, 3*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, rulesInput("prospecting"))
	defer rec.lock()()
	require.Len(t, rec.attempts, 1)
	require.NotEmpty(t, rec.sends)
	require.True(t, spacedUntil.Equal(rec.sentAt[0]), "intro at %s", rec.sentAt[0])
}

// Ops hold every send for four and a half days: the email asks again and
// goes at the first ask after the release (asks are 15 minutes apart); tasks that do not follow it go on meanwhile.
func TestGlobalSendSwitchHoldsEmailsNotTasks(t *testing.T) {
	t.Parallel()
	p := rulesPipeline()
	p.Stages[0].StaleTasks = []cadence.StaleTask{{At: 10, Task: cadence.TaskSpec{Kind: "todo", Title: "Check in"}}}
	env, rec := newEnv(t, p)
	released := day(4).Add(12 * time.Hour)
	rec.sendResult = func(in activities.SendInput, now time.Time) (activities.SendResult, bool) {
		if now.Before(released) {
			return activities.SendResult{Outcome: activities.SendDeferred, DeferredUntil: now.Add(activities.SendHoldRecheck),
				DeferReason: "sending is held by ops: domain warm-up"}, true
		}
		return activities.SendResult{}, false
	}
	runFor(env, 6*24*time.Hour)
	in := rulesInput("prospecting")
	in.IterationCap = 5000 // one run for the whole hold; continue-as-new is tested elsewhere
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	require.Equal(t, []string{"stale-10#1@48h0m0s"}, rec.taskLog(), "the stale rung's task came on time while emails were held")
	sent := rec.sent()
	require.NotEmpty(t, sent)
	require.Equal(t, "intro#1@108h0m0s", sent[0], "the intro goes at the first ask after the release")
}
