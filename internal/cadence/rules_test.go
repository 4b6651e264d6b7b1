package cadence_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
)

// berlinCals: an owner and a contact in Berlin, German holidays, business hours Mon–Fri
// 09:00–17:00 and an email window Tue–Thu 09:00–11:30.
func berlinCals(t *testing.T, jitterKey string) cadence.Calendars {
	t.Helper()
	spec := &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de"},
		BusinessHours: "Mon-Fri 09:00-17:00", EmailWindow: "Tue-Thu 09:00-11:30"}
	cals, err := calendar.ForDeal(spec, calendar.Party{}, calendar.Party{}).Calendars()
	require.NoError(t, err)
	cals.JitterKey = jitterKey
	return cals
}

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	require.NoError(t, err)
	return at
}

func TestDeferredEmailLandsInTheWindowAndPushesLaterSteps(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	entered := berlin(t, "2026-11-24 10:00") // Tuesday
	v := cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: entered,
		Done: []cadence.Done{{StepID: "intro", Occurrence: 1, At: entered, Outcome: "sent"},
			{StepID: "call", Occurrence: 1, At: berlin(t, "2026-11-26 10:00"), Outcome: "created"}},
		// Out of office until Saturday: the window next opens on Tuesday.
		Deferrals: []cadence.Deferral{{ItemID: "followup#1", Until: berlin(t, "2026-12-05 00:00"), Why: "out of office"}},
	}
	items, err := cadence.Plan(p, v, berlinCals(t, ""))
	require.NoError(t, err)
	require.Equal(t, []string{"followup#1", "stale"}, ids(items))
	followup := items[0]
	require.True(t, berlin(t, "2026-12-08 09:00").Equal(followup.At), "got %s", followup.At)
	require.Contains(t, followup.Reason, "deferred to 2026-12-04 23:00 UTC: out of office")
	require.Contains(t, followup.Reason, "moved:")
}

func TestStoppedEmailsKeepTheirInstantsForCountingAndEndExhaustion(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	v := cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: t0,
		Done:          []cadence.Done{{StepID: "intro", Occurrence: 1, At: t0, Outcome: "sent"}},
		EmailsStopped: "the prospect replied", Responded: true}
	items, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"call#1", "stale"}, ids(items), "no email; the task and the limit remain")
	require.Equal(t, t0.AddDate(0, 0, 2), items[0].At)

	nurture := cadence.Visit{Stage: "nurturing", Number: 2, EnteredAt: t0, EmailsStopped: "the prospect replied", Responded: true}
	items, err = cadence.Plan(p, nurture, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Empty(t, items, "a prospect who replied is not exhausted")

	nurture.Responded = false // an opt-out: the track runs silently, then the deal is lost
	items, err = cadence.Plan(p, nurture, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"exhausted"}, ids(items))
	require.Equal(t, t0.AddDate(0, 0, 70), items[0].At, "three silent nurture slots of 21 days, then 7")
}

func TestBlockingTaskStopsPlanningUntilClosed(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	p.Stages[0].Steps[1].Blocking = true
	require.NoError(t, p.Validate())
	callAt := t0.AddDate(0, 0, 2)
	v := cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: t0, Done: []cadence.Done{
		{StepID: "intro", Occurrence: 1, At: t0, Outcome: "sent"},
		{StepID: "call", Occurrence: 1, At: callAt, Outcome: cadence.OutcomeOpen}}}
	items, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"stale"}, ids(items), "only the time limit is planned while the task is open")
	b, ok := cadence.BlockedOn(p, v)
	require.True(t, ok)
	require.Equal(t, "call", b.StepID)

	closedAt := t0.AddDate(0, 0, 5)
	v.Done[1] = cadence.Done{StepID: "call", Occurrence: 1, At: closedAt, Outcome: "done"}
	items, err = cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"followup#1", "stale"}, ids(items))
	require.Equal(t, closedAt.AddDate(0, 0, 4), items[0].At, "the follow-up counts from the task's completion")
	_, ok = cadence.BlockedOn(p, v)
	require.False(t, ok)
}

func TestWaitStepIsPlannedAndCounts(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	p.Stages[0].Steps = append([]cadence.Step{{ID: "cool-off", Kind: cadence.StepWait, After: cadence.Of(3, cadence.Days)}}, p.Stages[0].Steps...)
	require.NoError(t, p.Validate())
	items, err := cadence.Plan(p, cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: t0}, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"cool-off#1", "intro#1", "call#1", "followup#1", "stale"}, ids(items))
	require.Equal(t, cadence.ItemWait, items[0].Kind)
	require.Equal(t, t0.AddDate(0, 0, 3), items[1].At)
}

func TestJitterSpreadsEmailsInsideTheSameWindow(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	entered := berlin(t, "2026-11-23 16:00") // Monday: intro waits for Tuesday 09:00
	v := cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: entered}
	plain, err := cadence.Plan(p, v, berlinCals(t, ""))
	require.NoError(t, err)
	require.True(t, berlin(t, "2026-11-24 09:00").Equal(plain[0].At))
	contact := berlinCals(t, "")
	slot := contact.Contact.(cadence.Slotted)
	distinct := map[time.Time]bool{}
	for i := range 200 {
		key := fmt.Sprintf("deal-%d", i)
		items, err := cadence.Plan(p, v, berlinCals(t, key))
		require.NoError(t, err)
		again, err := cadence.Plan(p, v, berlinCals(t, key))
		require.NoError(t, err)
		require.Equal(t, items[0].At, again[0].At, "deterministic")
		at := items[0].At
		require.True(t, slot.InSlot(at), "%s is inside the window", at)
		require.False(t, at.Before(plain[0].At))
		require.Less(t, at.Sub(plain[0].At), 10*time.Minute)
		distinct[at] = true
		if at.After(plain[0].At) {
			require.Contains(t, items[0].Reason, "spread by")
		}
	}
	require.Greater(t, len(distinct), 100, "200 deals do not leave in one burst")
}

func TestStaleRungsCountBusinessMinutes(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	p.Stages[0].Steps = nil
	p.Stages[0].StaleTasks = []cadence.StaleTask{{At: 75, Task: cadence.TaskSpec{Kind: "todo", Title: "Going stale", DueIn: cadence.Of(4, cadence.BusinessHours)}}}
	require.NoError(t, p.Validate())
	entered := berlin(t, "2026-11-27 16:00") // Friday, one open hour left that day
	items, err := cadence.Plan(p, cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: entered}, berlinCals(t, ""))
	require.NoError(t, err)
	require.Equal(t, []string{"stale-75#1", "stale"}, ids(items))
	// 10 business days = 80 open hours (to Fri 2026-12-11 16:00); 75% = 60 open hours: one on
	// Friday, seven full days (56), then three on Wednesday 2026-12-09.
	require.True(t, berlin(t, "2026-12-09 12:00").Equal(items[0].At), "got %s", items[0].At.In(entered.Location()))
	require.True(t, berlin(t, "2026-12-09 16:00").Equal(items[0].DueAt))
	require.True(t, berlin(t, "2026-12-11 16:00").Equal(items[1].At), "got %s", items[1].At.In(entered.Location()))
}

func TestValidateRulesOfTheNewConstructs(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	p.Stages[0].StaleTasks = []cadence.StaleTask{{At: 80, Task: cadence.TaskSpec{Kind: "todo", Title: "x"}}, {At: 60, Task: cadence.TaskSpec{Kind: "todo", Title: "y"}}, {At: 100, Task: cadence.TaskSpec{Kind: "todo", Title: "z"}}}
	p.Stages[0].Steps[0].Blocking = true
	p.Stages[1].OnEngaged = &cadence.OnEngaged{On: []cadence.Engagement{cadence.EngagedBounce}, MoveTo: "nowhere"}
	p.Stages[1].Steps = append(p.Stages[1].Steps, cadence.Step{ID: "idle", Kind: cadence.StepWait})
	p.Exits = &cadence.Exits{Reply: &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "fax", Title: "Answer"}}}
	err := p.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`on_stale at 60%: rungs go in ascending order`,
		`on_stale at 100%: a task rung is at 1% to 99%`,
		`step "intro": only task steps can block`,
		`on_engaged: move_to "nowhere" names no stage`,
		`on_engaged: a move needs a reason`,
		`on_engaged: "bounce" cannot re-engage a deal`,
		`step "idle": a wait step needs a duration`,
		`exits.reply: task kind "fax"`,
	} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%s", want, err)
	}
}
