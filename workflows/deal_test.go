package workflows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/workflows"
)

var a *activities.Activities

var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// testPipeline: qualification has a task, an email and a 10-day limit that moves the deal
// to nurturing with a task; proposal has a 14-day limit; lost closes the deal.
func testPipeline() cadence.Pipeline {
	day := func(n int) cadence.Duration { return cadence.Of(n, cadence.BusinessDays) }
	return cadence.Pipeline{
		ID: "unit", Initial: "qualification",
		Stages: []cadence.Stage{
			{ID: "qualification", TimeLimit: day(10),
				Steps: []cadence.Step{
					{ID: "qualify", Kind: cadence.StepTask, After: cadence.Zero, Task: &cadence.TaskSpec{Kind: "call", Title: "Qualify", DueIn: day(2)}},
					{ID: "followup", Kind: cadence.StepEmail, After: day(3), Template: "t"},
				},
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no progress in qualification",
					Task: &cadence.TaskSpec{Kind: "todo", Title: "Deal went stale", DueIn: day(2)}}},
			{ID: "proposal", TimeLimit: day(14),
				Steps:   []cadence.Step{{ID: "proposal-email", Kind: cadence.StepEmail, After: day(2), Template: "t"}},
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "proposal unanswered"}},
			{ID: "nurturing", Steps: []cadence.Step{{ID: "nurture", Kind: cadence.StepEmail, After: cadence.Of(21, cadence.Days), Times: 2, Template: "t"}},
				OnExhausted: &cadence.Move{After: cadence.Of(7, cadence.Days), MoveTo: "lost", Reason: "unresponsive"}},
			{ID: "won", Terminal: true},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]cadence.Template{"t": {Subject: "s", Text: "t"}},
	}
}

// recorder captures the mocked activities' calls; the test env runs them on goroutines.
type recorder struct {
	mu          sync.Mutex
	transitions []activities.TransitionInput
	tasks       []activities.TaskInput
	cancels     []activities.CancelTasksInput
	sends       []activities.SendInput
	outcomes    []activities.EventOutcomeInput
	closes      []activities.CloseInput
	projections []activities.ProjectionInput
	migrations  []activities.MigrationInput
	closedTasks []activities.CloseTaskInput
	snoozes     []activities.SnoozeTaskInput
	// sendResult, when set, may answer a send instead of "sent" (a limit deferring it).
	sendResult func(in activities.SendInput, now time.Time) (activities.SendResult, bool)
	// sendFail, when set, may fail an attempt instead (an SMTP outage: the retry policy runs).
	sendFail func(in activities.SendInput, now time.Time) error
	// cancelledSends are the keys the deal stopped while their send was retried.
	cancelledSends []activities.SendInput
	attempts       []string
	sentAt         []time.Time
	loads          int
	nextTaskID     int64
	// projectDelay, when set, delays the n-th ProjectDeal call (counting from 1) on the
	// workflow clock: a slow or retrying database.
	projectDelay func(n int) time.Duration
	projectCalls int
	// owner is the deal owner's calendar override LoadCalendars answers with (a handover
	// changes it).
	owner calendar.Party
}

func (r *recorder) lock() func() { r.mu.Lock(); return r.mu.Unlock }

func (r *recorder) stages() []string {
	defer r.lock()()
	var out []string
	for _, t := range r.transitions {
		out = append(out, t.To)
	}
	return out
}

func newEnv(t *testing.T, p cadence.Pipeline) (*testsuite.TestWorkflowEnvironment, *recorder) {
	return newEnvVersions(t, map[int64]cadence.Pipeline{3: p})
}

// newEnvVersions serves each cadence version its own pipeline (migration tests).
func newEnvVersions(t *testing.T, versions map[int64]cadence.Pipeline) (*testsuite.TestWorkflowEnvironment, *recorder) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.SetTestTimeout(30 * time.Second)
	env.RegisterActivity(a)
	rec := &recorder{}
	env.OnActivity(a.LoadCadence, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CadenceInput) (cadence.Pipeline, error) {
			defer rec.lock()()
			rec.loads++
			p, ok := versions[in.Version]
			if !ok {
				return cadence.Pipeline{}, temporal.NewNonRetryableApplicationError("no such version", activities.ErrTypeBadInput, nil)
			}
			return p, nil
		})
	env.OnActivity(a.LoadCalendars, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CalendarsInput) (calendar.DealSpecs, error) {
			defer rec.lock()()
			return calendar.ForDeal(in.Pipeline, rec.owner, calendar.Party{}), nil
		})
	env.OnActivity(a.RecordMigration, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MigrationInput) error {
			defer rec.lock()()
			rec.migrations = append(rec.migrations, in)
			return nil
		})
	env.OnActivity(a.RecordTransition, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransitionInput) error {
			defer rec.lock()()
			rec.transitions = append(rec.transitions, in)
			return nil
		})
	env.OnActivity(a.CreateTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TaskInput) (activities.TaskRef, error) {
			defer rec.lock()()
			rec.tasks = append(rec.tasks, in)
			rec.nextTaskID++
			return activities.TaskRef{ID: rec.nextTaskID, StepID: in.StepID, Occurrence: in.Occurrence, Kind: in.Kind, DueAt: in.DueAt}, nil
		})
	env.OnActivity(a.SnoozeTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SnoozeTaskInput) (bool, error) {
			defer rec.lock()()
			rec.snoozes = append(rec.snoozes, in)
			return true, nil
		})
	env.OnActivity(a.CloseTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CloseTaskInput) (bool, error) {
			defer rec.lock()()
			rec.closedTasks = append(rec.closedTasks, in)
			return true, nil
		})
	env.OnActivity(a.CancelVisitTasks, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CancelTasksInput) (int, error) {
			defer rec.lock()()
			rec.cancels = append(rec.cancels, in)
			return 1, nil
		})
	env.OnActivity(a.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
			defer rec.lock()()
			if rec.sendFail != nil {
				if err := rec.sendFail(in, env.Now()); err != nil {
					rec.attempts = append(rec.attempts, fmt.Sprintf("%s#%d@%s:error", in.StepID, in.Occurrence, env.Now().Sub(start)))
					return activities.SendResult{}, err
				}
			}
			if rec.sendResult != nil {
				if res, ok := rec.sendResult(in, env.Now()); ok {
					rec.attempts = append(rec.attempts, fmt.Sprintf("%s#%d@%s:%s", in.StepID, in.Occurrence, env.Now().Sub(start), res.Outcome))
					return res, nil
				}
			}
			rec.sends = append(rec.sends, in)
			rec.sentAt = append(rec.sentAt, env.Now())
			return activities.SendResult{Outcome: activities.SendSent, MessageID: fmt.Sprintf("m%d@test", len(rec.sends)), Attempts: 1}, nil
		})
	env.OnActivity(a.RecordEventOutcome, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EventOutcomeInput) error {
			defer rec.lock()()
			rec.outcomes = append(rec.outcomes, in)
			return nil
		})
	env.OnActivity(a.MarkClosed, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CloseInput) error {
			defer rec.lock()()
			rec.closes = append(rec.closes, in)
			return nil
		})
	env.OnActivity(a.ProjectDeal, mock.Anything, mock.Anything).AfterFn(func() time.Duration {
		defer rec.lock()()
		rec.projectCalls++
		if rec.projectDelay == nil {
			return 0
		}
		return rec.projectDelay(rec.projectCalls)
	}).Return(
		func(_ context.Context, in activities.ProjectionInput) error {
			defer rec.lock()()
			rec.projections = append(rec.projections, in)
			return nil
		})
	env.OnActivity(a.AbandonEmail, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.CancelEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendInput) error {
			defer rec.lock()()
			rec.cancelledSends = append(rec.cancelledSends, in)
			return nil
		})
	return env, rec
}

func newInput() workflows.DealInput {
	return workflows.DealInput{
		Version: workflows.InputVersion, DealID: "d-1", OwnerID: "o-1",
		Cadence: workflows.CadenceRef{Version: 3, Hash: "h"},
		Start: workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventCreated, Source: "crm",
			SourceEventID: "create-1", SourceTime: start, InboundEventID: 1, Stage: "qualification", Reason: "deal created"},
	}
}

func stageEvent(id string, stage string, at time.Time, inbound int64) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventStageChanged, Source: "crm",
		SourceEventID: id, SourceTime: at, InboundEventID: inbound, Stage: stage}
}

func query(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.View {
	t.Helper()
	val, err := env.QueryWorkflow(workflows.StateQuery)
	require.NoError(t, err)
	var v workflows.View
	require.NoError(t, val.Get(&v))
	return v
}

func TestDeadlineMovesDealAndCreatesTaskForNewVisit(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "qualification", v.Stage)
		require.Equal(t, start.AddDate(0, 0, 10), v.Deadline)
		require.Equal(t, []string{"followup#1", "stale"}, itemIDs(v.Next))
		require.Contains(t, v.Next[1].Reason, "move to nurturing")
		require.Len(t, v.OpenTasks, 1)
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "nurturing", v.Stage)
		require.Equal(t, 2, v.Visit)
		require.Equal(t, start.AddDate(0, 0, 10), v.EnteredAt, "the engine's move carries workflow.Now at the deadline")
		require.Len(t, v.OpenTasks, 1)
		require.Equal(t, "move-from-qualification", v.OpenTasks[0].StepID)
		env.CancelWorkflow()
	}, 11*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)

	defer rec.lock()()
	require.Len(t, rec.transitions, 2)
	stale := rec.transitions[1]
	require.Equal(t, "qualification", stale.From)
	require.Equal(t, "nurturing", stale.To)
	require.Equal(t, 2, stale.Visit)
	require.Equal(t, "no progress in qualification", stale.Reason)
	require.Equal(t, workflows.SourceEngine, stale.Source)
	require.Equal(t, start.AddDate(0, 0, 10), stale.At)
	// The qualify task (visit 1), then the stale task, which belongs to the new visit.
	require.Len(t, rec.tasks, 2)
	require.Equal(t, 1, rec.tasks[0].Visit)
	require.Equal(t, 2, rec.tasks[1].Visit)
	require.Equal(t, "move-from-qualification", rec.tasks[1].StepID)
	require.Equal(t, start.AddDate(0, 0, 12), rec.tasks[1].DueAt)
	// Leaving qualification cancelled its open task, before the move's own task existed.
	require.Equal(t, []activities.CancelTasksInput{{DealID: "d-1", Visit: 1, At: start.AddDate(0, 0, 10),
		Reason: "deal moved from qualification to nurturing"}}, rec.cancels)
	require.Len(t, rec.sends, 1, "the follow-up email on day 3 went out before the deadline")
	require.Equal(t, activities.SendInput{DealID: "d-1", CadenceVersion: 3, Visit: 1, StepID: "followup", Occurrence: 1, Template: "t"}, rec.sends[0])
}

func itemIDs(items []cadence.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestStageSignalBeforeDeadlineCancelsIt(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "proposal", start.Add(24*time.Hour), 2))
	}, 24*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "proposal", v.Stage)
		require.Equal(t, start.Add(24*time.Hour).AddDate(0, 0, 14), v.Deadline, "the new stage's own limit")
		env.CancelWorkflow()
	}, 12*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)

	require.Equal(t, []string{"qualification", "proposal"}, rec.stages(), "qualification's deadline on day 10 never fired")
	defer rec.lock()()
	require.Len(t, rec.cancels, 1)
	require.Equal(t, 1, rec.cancels[0].Visit)
	require.Equal(t, int64(2), rec.transitions[1].InboundEventID)
	for _, s := range rec.sends {
		require.NotEqual(t, "followup", s.StepID, "the old stage's pending email was cancelled with it")
	}
	require.Len(t, rec.sends, 1)
	require.Equal(t, "proposal-email", rec.sends[0].StepID)
	require.Equal(t, 2, rec.sends[0].Visit)
}

func TestDuplicateAndOlderEventsAreRecordedAndIgnored(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	t1 := start.Add(2 * time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "proposal", t1, 2))
	}, 3*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "proposal", t1, 3))                     // the same event again
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-0", "won", start.Add(time.Hour), 4))        // older than the last transition
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-2", "mars", start.Add(5*time.Hour), 5))     // unknown stage
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-3", "proposal", start.Add(5*time.Hour), 6)) // already there
		created := newInput().Start
		created.SourceEventID, created.InboundEventID = "create-again", 7
		env.SignalWorkflow(workflows.EventSignal, created) // a second create converges
	}, 4*time.Hour)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, "proposal", query(t, env).Stage)
		env.CancelWorkflow()
	}, 5*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)

	require.Equal(t, []string{"qualification", "proposal"}, rec.stages())
	defer rec.lock()()
	got := map[int64]string{}
	for _, o := range rec.outcomes {
		got[o.InboundEventID] = string(o.State) + ": " + o.Reason
	}
	require.Equal(t, map[int64]string{
		3: "duplicate: already applied",
		4: "ignored: older than the last transition (crm at " + t1.Format(time.RFC3339) + ")",
		5: `ignored: stage "mars" is not in pipeline "unit"`,
		6: "ignored: deal is already in proposal",
		7: "duplicate: deal already exists: create converged on the running deal",
	}, got)
}

func TestNewerBackwardMoveIsApplied(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "proposal", start.Add(time.Hour), 2))
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		// A rep corrects the stage: earlier in the pipeline, but newer in time.
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-2", "qualification", start.Add(2*time.Hour), 3))
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, "qualification", v.Stage)
		require.Equal(t, 3, v.Visit)
		env.CancelWorkflow()
	}, 3*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)
	require.Equal(t, []string{"qualification", "proposal", "qualification"}, rec.stages())
	defer rec.lock()()
	require.Empty(t, rec.outcomes)
	// The re-entered qualification gets its own qualify task, keyed by the new visit.
	require.Equal(t, 3, rec.tasks[len(rec.tasks)-1].Visit)
}

func TestLostClosesTheDeal(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "lost", start.Add(time.Hour), 2))
	}, time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.Result{Stage: "lost", Visit: 2}, res)
	defer rec.lock()()
	require.Len(t, rec.closes, 1)
	require.Equal(t, "lost", rec.closes[0].Stage)
}

func TestWonDealFinishesPostSaleStepsBeforeClosing(t *testing.T) {
	t.Parallel()
	p := testPipeline()
	for i := range p.Stages {
		if p.Stages[i].ID == "won" {
			p.Stages[i].Steps = []cadence.Step{{ID: "checkin", Kind: cadence.StepTask, After: cadence.Of(7, cadence.Days),
				Task: &cadence.TaskSpec{Kind: "call", Title: "Check in", DueIn: cadence.Of(1, cadence.Days)}}}
		}
	}
	env, rec := newEnv(t, p)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-1", "won", start.Add(time.Hour), 2))
	}, time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	require.True(t, env.IsWorkflowCompleted())
	defer rec.lock()()
	require.Len(t, rec.closes, 1)
	require.Equal(t, start.Add(time.Hour).AddDate(0, 0, 7), rec.closes[0].At)
	require.Equal(t, "checkin", rec.tasks[len(rec.tasks)-1].StepID)
}

func TestReopenStartsAfterTheStoredVisitCounter(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	in := newInput()
	in.Start = workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventStageChanged, Source: "cli",
		SourceEventID: "reopen-1", SourceTime: start, InboundEventID: 9, Stage: "qualification", Reason: "customer came back"}
	in.PrevStage, in.PrevVisit, in.PrevRevision = "lost", 5, 40
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, 6, v.Visit)
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	requireCancelled(t, env)
	defer rec.lock()()
	require.Equal(t, activities.TransitionInput{DealID: "d-1", Visit: 6, From: "lost", To: "qualification", At: start,
		Source: "cli", SourceEventID: "reopen-1", SourceTime: start, InboundEventID: 9, Reason: "customer came back"}, rec.transitions[0])
	require.Equal(t, 6, rec.tasks[0].Visit, "ledger keys of the new run never collide with the old visits")
	require.Greater(t, rec.projections[0].Revision, int64(40), "projection revisions continue from PostgreSQL's")
}

func TestExhaustedNurtureMovesToLost(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	in := newInput()
	in.Start.Stage = "nurturing"
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.Equal(t, []string{"nurturing", "lost"}, rec.stages())
	defer rec.lock()()
	require.Len(t, rec.sends, 2)
	require.Equal(t, "unresponsive", rec.transitions[1].Reason)
	require.Equal(t, start.AddDate(0, 0, 21+21+7), rec.transitions[1].At)
}

// parentWorkflow runs the deal as a child: the test environment ends a top-level run at
// continue-as-new, but follows a child through it.
func parentWorkflow(ctx workflow.Context, in workflows.DealInput) (workflows.Result, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "child-deal"})
	var res workflows.Result
	err := workflow.ExecuteChildWorkflow(ctx, workflows.DealWorkflow, in).Get(ctx, &res)
	return res, err
}

func TestContinueAsNewLosesNoSignal(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterWorkflow(parentWorkflow)
	env.RegisterWorkflow(workflows.DealWorkflow)
	in := newInput()
	in.IterationCap = 2 // continue as new every other loop turn
	const moves = 20
	stages := []string{"proposal", "qualification"}
	var want []string
	want = append(want, "qualification")
	for i := 1; i <= moves; i++ {
		want = append(want, stages[(i-1)%2])
	}
	want = append(want, "lost")
	for i := 1; i <= moves; i++ {
		i := i
		// Pairs of signals land at the same instant, so some arrive while a run is deciding
		// to continue as new.
		at := time.Duration((i+1)/2) * time.Hour
		env.RegisterDelayedCallback(func() {
			ev := stageEvent(fmt.Sprintf("e-%02d", i), stages[(i-1)%2], start.Add(at).Add(time.Duration(i)*time.Second), int64(100+i))
			require.NoError(t, env.SignalWorkflowByID("child-deal", workflows.EventSignal, ev))
		}, at)
	}
	env.RegisterDelayedCallback(func() {
		require.NoError(t, env.SignalWorkflowByID("child-deal", workflows.EventSignal, stageEvent("e-last", "lost", start.Add(100*time.Hour), 999)))
	}, 100*time.Hour)
	env.ExecuteWorkflow(parentWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.Result{Stage: "lost", Visit: moves + 2}, res)
	require.Equal(t, want, rec.stages(), "every signal was applied, in order, across runs")
	defer rec.lock()()
	require.Greater(t, rec.loads, 5, "the deal continued as new several times")
	require.Empty(t, rec.outcomes, "no event was ignored")
	for i, tr := range rec.transitions {
		require.Equal(t, i+1, tr.Visit, "visits count on across runs")
	}
}

// requireCancelled checks that a test ended by env.CancelWorkflow stopped the workflow as
// cancelled, rather than spinning on until it continued as new.
func requireCancelled(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.True(t, temporal.IsCanceledError(err), "want cancelled, got %v", err)
}

func TestEventDeliveredDuringSlowActivityWinsOverDueDeadline(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	// The projection after the day-3 email takes eight days (a database outage): the
	// deadline on day 10 falls due while it runs, and so does a CRM move on day 9.
	rec.projectDelay = func(n int) time.Duration {
		if n == 3 {
			return 8 * 24 * time.Hour
		}
		return 0
	}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.EventSignal, stageEvent("e-9", "proposal", start.AddDate(0, 0, 9), 2))
	}, 9*24*time.Hour)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, "proposal", query(t, env).Stage)
		env.CancelWorkflow()
	}, 12*24*time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)
	require.Equal(t, []string{"qualification", "proposal"}, rec.stages(), "the earlier CRM move wins; no stale move")
	defer rec.lock()()
	require.Empty(t, rec.outcomes)
}

func TestCancelStopsTheWorkflow(t *testing.T) {
	t.Parallel()
	env, rec := newEnv(t, testPipeline())
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(workflows.DealWorkflow, newInput())
	requireCancelled(t, env)
	defer rec.lock()()
	require.Equal(t, 1, rec.loads, "cancelled, not continued as new")
}

func TestMigrateResendsNothingAndPicksUpNewSteps(t *testing.T) {
	t.Parallel()
	v3 := testPipeline()
	v4 := testPipeline()
	for i := range v4.Stages {
		if v4.Stages[i].ID == "nurturing" {
			// Version 4: four nurture emails 14 days apart, then a case study.
			v4.Stages[i].Steps = []cadence.Step{
				{ID: "nurture", Kind: cadence.StepEmail, After: cadence.Of(14, cadence.Days), Times: 4, Template: "t"},
				{ID: "case-study", Kind: cadence.StepEmail, After: cadence.Of(7, cadence.Days), Template: "t"},
			}
		}
	}
	env, rec := newEnvVersions(t, map[int64]cadence.Pipeline{3: v3, 4: v4})
	in := newInput()
	in.Start.Stage = "nurturing"
	day := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	migrate := func(from, version int64, id string, inbound int64) workflows.Event {
		return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventMigrate, Source: "cli", SourceEventID: id,
			SourceTime: start, InboundEventID: inbound, Cadence: &workflows.CadenceRef{Version: version, Hash: "h4"}, MigrateFrom: from}
	}
	// nurture#1 goes out on day 21 under version 3; the deal migrates on day 22.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, migrate(3, 4, "mig-1", 7)) }, day(22))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, migrate(3, 4, "mig-2", 8)) }, day(23))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, migrate(4, 9, "mig-3", 9)) }, day(24))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.EventSignal, migrate(2, 3, "mig-stale", 10)) }, day(24))
	env.RegisterDelayedCallback(func() {
		v := query(t, env)
		require.Equal(t, int64(4), v.CadenceVersion)
		require.Equal(t, []string{"nurture#2", "nurture#3", "nurture#4", "case-study#1", "exhausted"}, itemIDs(v.Next))
		require.Equal(t, start.AddDate(0, 0, 21+14), v.Next[0].At, "after counts from nurture#1's actual time")
	}, day(25))
	env.ExecuteWorkflow(workflows.DealWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	defer rec.lock()()
	var sent []string
	for _, s := range rec.sends {
		sent = append(sent, fmt.Sprintf("%s#%d", s.StepID, s.Occurrence))
		if s.StepID == "nurture" && s.Occurrence == 1 {
			require.Equal(t, int64(3), s.CadenceVersion)
		} else {
			require.Equal(t, int64(4), s.CadenceVersion)
		}
	}
	require.Equal(t, []string{"nurture#1", "nurture#2", "nurture#3", "nurture#4", "case-study#1"}, sent, "nothing resent, new steps picked up")
	require.Equal(t, []activities.MigrationInput{{DealID: "d-1", From: 3, To: 4, InboundEventID: 7, At: start.AddDate(0, 0, 22)}}, rec.migrations)
	outcomes := map[int64]string{}
	for _, o := range rec.outcomes {
		outcomes[o.InboundEventID] = string(o.State) + ": " + o.Reason
	}
	require.Equal(t, "ignored: deal is already on cadence version 4", outcomes[8])
	require.Contains(t, outcomes[9], "cannot migrate")
	require.Equal(t, "ignored: migration from version 2, but the deal is on version 4", outcomes[10], "a stale migration never moves a deal back")
	require.Equal(t, "lost", rec.transitions[len(rec.transitions)-1].To, "version 3's exhaustion rule still ends the deal")
}
