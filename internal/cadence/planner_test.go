package cadence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func testPipeline() cadence.Pipeline {
	return cadence.Pipeline{
		ID:      "test",
		Initial: "qualification",
		Stages: []cadence.Stage{
			{
				ID: "qualification", TimeLimit: cadence.Of(10, cadence.BusinessDays),
				Steps: []cadence.Step{
					{ID: "intro", Kind: cadence.StepEmail, After: cadence.Zero, Template: "t"},
					{ID: "call", Kind: cadence.StepTask, After: cadence.Of(2, cadence.BusinessDays),
						Task: &cadence.TaskSpec{Kind: "call", Title: "Call", DueIn: cadence.Of(1, cadence.BusinessDays)}},
					{ID: "followup", Kind: cadence.StepEmail, After: cadence.Of(4, cadence.BusinessDays), Template: "t"},
				},
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no progress in qualification",
					Task: &cadence.TaskSpec{Kind: "todo", Title: "Decide", DueIn: cadence.Of(2, cadence.Hours)}},
			},
			{
				ID: "nurturing",
				Steps: []cadence.Step{
					{ID: "nurture", Kind: cadence.StepEmail, After: cadence.Of(21, cadence.Days), Times: 3, Template: "t"},
				},
				OnExhausted: &cadence.Move{After: cadence.Of(7, cadence.Days), MoveTo: "lost", Reason: "unresponsive"},
			},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]cadence.Template{"t": {Subject: "s", Text: "x"}},
	}
}

func ids(items []cadence.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestPlanFreshVisit(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	require.NoError(t, p.Validate())
	items, err := cadence.Plan(p, cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: t0}, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"intro#1", "call#1", "followup#1", "stale"}, ids(items))
	require.Equal(t, t0, items[0].At)
	require.Equal(t, t0.AddDate(0, 0, 2), items[1].At)
	require.Equal(t, t0.AddDate(0, 0, 3), items[1].DueAt, "task due counts from its own instant")
	require.Equal(t, t0.AddDate(0, 0, 6), items[2].At, "planned steps chain from the previous planned instant")
	require.Equal(t, t0.AddDate(0, 0, 10), items[3].At)
	require.Equal(t, t0.AddDate(0, 0, 10).Add(2*time.Hour), items[3].DueAt)
	require.Contains(t, items[3].Reason, "move to nurturing")
	for _, it := range items {
		require.NotEmpty(t, it.Reason, "every item says why")
	}
}

func TestPlanStableIDsAcrossReplans(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	v := cadence.Visit{Stage: "nurturing", Number: 4, EnteredAt: t0}
	first, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"nurture#1", "nurture#2", "nurture#3", "exhausted"}, ids(first))

	v.Done = append(v.Done, cadence.Done{StepID: "nurture", Occurrence: 1, At: first[0].At, Outcome: "sent"})
	second, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"nurture#2", "nurture#3", "exhausted"}, ids(second))
	for i, it := range second {
		require.Equal(t, first[i+1].At, it.At, "re-planning after an on-time step moves nothing: %s", it.ID)
	}
	require.Contains(t, second[0].Reason, "nurture#1 sent")
}

func TestPlanCountsAfterFromActualTimes(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	late := t0.Add(5 * time.Hour) // the intro email went out five hours after entry (SMTP retries)
	v := cadence.Visit{Stage: "qualification", Number: 1, EnteredAt: t0,
		Done: []cadence.Done{{StepID: "intro", Occurrence: 1, At: late, Outcome: "sent"}}}
	items, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, []string{"call#1", "followup#1", "stale"}, ids(items))
	require.Equal(t, late.AddDate(0, 0, 2), items[0].At)
	require.Contains(t, items[0].Reason, "intro#1 sent")
	require.Equal(t, late.AddDate(0, 0, 6), items[1].At)
	require.Equal(t, t0.AddDate(0, 0, 10), items[2].At, "the time limit counts from stage entry, not from steps")
}

func TestPlanDeferralPushesLaterItems(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	until := t0.AddDate(0, 0, 5) // out of office: back in five days
	v := cadence.Visit{Stage: "nurturing", Number: 2, EnteredAt: t0,
		Deferrals: []cadence.Deferral{{ItemID: "nurture#1", Until: t0.AddDate(0, 0, 30), Why: "out of office"},
			{ItemID: "nurture#1", Until: until, Why: "earlier deferral"}}}
	items, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, t0.AddDate(0, 0, 30), items[0].At, "the latest deferral wins")
	require.Contains(t, items[0].Reason, "out of office")
	require.Equal(t, t0.AddDate(0, 0, 51), items[1].At, "the next occurrence counts from the deferred one")
	require.Equal(t, t0.AddDate(0, 0, 72), items[2].At)
	require.Equal(t, t0.AddDate(0, 0, 79), items[3].At)
	require.Equal(t, "exhausted", items[3].ID)

	// A deferral earlier than the planned instant does not pull the item forward.
	v.Deferrals = []cadence.Deferral{{ItemID: "nurture#1", Until: t0.AddDate(0, 0, 1), Why: "short"}}
	items, err = cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, t0.AddDate(0, 0, 21), items[0].At)
}

func TestPlanSuppressedStepCountsAtPlannedInstant(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	planned := t0.AddDate(0, 0, 21)
	v := cadence.Visit{Stage: "nurturing", Number: 2, EnteredAt: t0,
		Done: []cadence.Done{{StepID: "nurture", Occurrence: 1, At: planned, Outcome: "suppressed"}}}
	items, err := cadence.Plan(p, v, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, planned.AddDate(0, 0, 21), items[0].At)
}

func TestPlanTerminalStageWithoutStepsIsEmpty(t *testing.T) {
	t.Parallel()
	items, err := cadence.Plan(testPipeline(), cadence.Visit{Stage: "lost", Number: 3, EnteredAt: t0}, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Empty(t, items)
	_, err = cadence.Plan(testPipeline(), cadence.Visit{Stage: "nowhere", EnteredAt: t0}, cadence.DefaultCalendars())
	require.ErrorContains(t, err, `stage "nowhere"`)
}

func TestDefaultPipelineIsValidAndHashStable(t *testing.T) {
	t.Parallel()
	p := cadence.Default()
	require.NoError(t, p.Validate())
	h1, err := p.Hash()
	require.NoError(t, err)
	h2, err := cadence.Default().Hash()
	require.NoError(t, err)
	require.Equal(t, h1, h2)
	p.Templates["intro"] = cadence.Template{Subject: "changed", Text: "x"}
	h3, err := p.Hash()
	require.NoError(t, err)
	require.NotEqual(t, h1, h3, "a template edit is a new version")
	require.Equal(t, []string{"prospecting", "qualification", "meeting", "proposal", "negotiation", "nurturing", "won", "lost"}, cadence.Default().StageIDs())
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	p.Initial = "nope"
	p.Stages[0].OnStale.MoveTo = "limbo"
	p.Stages[0].Steps[0].Template = "missing"
	p.Stages[1].Steps[0].After = cadence.Duration{Amount: 3, Unit: "fortnights"}
	err := p.Validate()
	require.Error(t, err)
	for _, want := range []string{`initial stage "nope"`, `move_to "limbo" names no stage`, `template "missing" is not defined`, `unknown unit "fortnights"`} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%s", want, err)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	cases := map[string]cadence.Duration{
		"0":                cadence.Zero,
		"30 seconds":       cadence.Of(30, cadence.Seconds),
		"1 minute":         cadence.Of(1, cadence.Minutes),
		"1 business day":   cadence.Of(1, cadence.BusinessDays),
		"10 business days": cadence.Of(10, cadence.BusinessDays),
		"4 Business Hours": cadence.Of(4, cadence.BusinessHours),
		"21 days":          cadence.Of(21, cadence.Days),
	}
	for in, want := range cases {
		got, err := cadence.ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "soon", "3", "-1 days", "2 fortnights", "two days", "1 business"} {
		_, err := cadence.ParseDuration(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "2 business days", cadence.Of(2, cadence.BusinessDays).String())
	require.Equal(t, "1 business day", cadence.Of(1, cadence.BusinessDays).String())
}

func TestSimulateDefaultPipelineWithoutAnswers(t *testing.T) {
	t.Parallel()
	entries, err := cadence.Simulate(cadence.Default(), cadence.DefaultCalendars(), t0, 365*24*time.Hour, 100)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Stage+":"+e.Item.ID)
	}
	require.Equal(t, []string{
		"prospecting:intro#1", "prospecting:intro-call#1", "prospecting:value-followup#1", "prospecting:stale",
		"nurturing:nurture#1", "nurturing:nurture#2", "nurturing:nurture#3", "nurturing:nurture#4", "nurturing:nurture#5",
		"nurturing:nurture#6", "nurturing:exhausted",
	}, got, "prospecting goes stale, nurturing runs out, the deal is lost")
	require.Equal(t, t0.AddDate(0, 0, 15), entries[3].Item.At)
	require.Equal(t, t0.AddDate(0, 0, 15+21), entries[4].Item.At)
	require.Equal(t, t0.AddDate(0, 0, 15+6*21+14), entries[10].Item.At)

	short, err := cadence.Simulate(cadence.Default(), cadence.DefaultCalendars(), t0, 20*24*time.Hour, 100)
	require.NoError(t, err)
	require.Len(t, short, 4, "the horizon cuts the timeline")
}
