package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// down is a front door on the env's database whose Temporal does not answer: what it records
// stays in received.
func (e *env) down() *deals.Service {
	e.t.Helper()
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: e.namespace, Logger: temporaltest.QuietLogger()})
	require.NoError(e.t, err)
	e.t.Cleanup(dead.Close)
	return &deals.Service{Store: e.store, Temporal: dead}
}

// eventRow reads the state and outcome reason of the one inbound event matching where.
func (e *env) eventRow(where string, args ...any) (state, reason string) {
	e.t.Helper()
	require.NoError(e.t, e.store.Pool().QueryRow(context.Background(),
		`SELECT state, outcome_reason FROM inbound_events WHERE `+where, args...).Scan(&state, &reason))
	return state, reason
}

func (e *env) countReceived() int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.store.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM inbound_events WHERE state = 'received'`).Scan(&n))
	return n
}

// eventuallyRow waits until the event matching where is in state.
func (e *env) eventuallyRow(state string, timeout time.Duration, where string, args ...any) string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, reason := e.eventRow(where, args...)
		if got == state {
			return reason
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for the event %s %v to be %s; it is %s (%s)", where, args, state, got, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signalsWith counts the deal events the deal's workflow received under a source event id.
func (e *env) signalsWith(dealID, sourceEventID string) int {
	e.t.Helper()
	n := 0
	for _, he := range e.history(workflows.WorkflowID(dealID), "").Events {
		attrs := he.GetWorkflowExecutionSignaledEventAttributes()
		if attrs == nil || attrs.GetSignalName() != workflows.EventSignal {
			continue
		}
		var ev workflows.Event
		require.NoError(e.t, converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &ev))
		if ev.SourceEventID == sourceEventID {
			n++
		}
	}
	return n
}

func sweepPipeline() cadence.Pipeline {
	p := fixturePipeline(time.Hour)
	p.ID = "it-sweep"
	p.Stages[1].TimeLimit = cadence.Of(1, cadence.Hours) // qualification's task stays open
	return p
}

// Events recorded while Temporal does not answer stay in received; the sweeper re-sends each
// through its kind's code path and the workflow applies it; a closed deal's ends refused, rows
// that cannot be rebuilt end with a reason, and a second sweep finds nothing.
func TestSweeperResignalsEventsStuckInReceived(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-sweep", sweepPipeline())
	e.start()
	ctx := context.Background()
	down := e.down()
	dctx := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	v1 := e.cadence.Version
	entered := func(id string) {
		e.eventually("the deal entered its first stage", 20*time.Second, func(tl store.Timeline) bool {
			return hasTransitionTo("prospecting", 1)(tl) && tl.Deal.StageEnteredAt != nil
		}, id)
	}

	// A row that cannot be rebuilt, one of a kind nobody sends, and a reopen never started:
	// the oldest, so they are swept first and must not stop the rest.
	bad := e.create("sweep-bad")
	for _, row := range []struct{ id, kind, payload string }{
		{"garbled", "stage_changed", `{"stage": 5}`},
		{"mystery", "teleported", `{}`},
		{"reopen-lost", "reopen", `{"deal": "x"}`},
	} {
		_, err := e.store.Pool().Exec(ctx, `INSERT INTO inbound_events (source, source_event_id, kind, deal_id, source_time, payload, received_at)
			VALUES ('crm', $1, $2, $3, now(), $4, now() - interval '10 minutes')`, row.id, row.kind, bad.DealID, row.payload)
		require.NoError(t, err)
	}

	// created: the deal is recorded, its workflow never started.
	_, err := down.Create(dctx(), deals.CreateRequest{Source: "crm", ExternalID: "sweep-new", CadenceVersion: &v1,
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "sweep-new@prospect.test"}})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	fresh, err := e.store.DealByExternalID(ctx, "crm", "sweep-new")
	require.NoError(t, err)

	// stage_changed.
	moved := e.create("sweep-stage")
	entered(moved.DealID)
	_, err = down.ChangeStage(dctx(), deals.StageRequest{Deal: "crm:sweep-stage", Stage: "qualification", Source: "crm", EventID: "q-1"})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)

	// engaged: out of office until a date, recorded with the instant it means.
	away := e.create("sweep-ooo")
	entered(away.DealID)
	_, err = down.Engage(dctx(), deals.EngageRequest{Deal: away.DealID, Kind: cadence.EngagedOutOfOffice, Source: "mailbox",
		EventID: "ooo-1", ReturnOn: time.Now().AddDate(0, 0, 20).Format(time.DateOnly)})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)

	// paused (the deal's own pause).
	held := e.create("sweep-pause")
	entered(held.DealID)
	_, err = down.PauseDeal(dctx(), deals.PauseRequest{Deal: held.DealID, Source: "cli", EventID: "p-1", Reason: "budget freeze"})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)

	// A deal pause stuck, then resumed by the rep while Temporal is back: the resume is
	// ignored (not paused), and the sweep must not pause the deal afterwards for good.
	unheld := e.create("sweep-unheld")
	entered(unheld.DealID)
	_, err = down.PauseDeal(dctx(), deals.PauseRequest{Deal: unheld.DealID, Source: "cli", EventID: "p-stale"})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	_, err = e.svc.ResumeDeal(ctx, deals.ResumeRequest{Deal: unheld.DealID, Source: "cli", EventID: "r-after"})
	require.NoError(t, err)
	e.eventuallyRow("ignored", 20*time.Second, `source_event_id = 'r-after'`)

	// paused (an owner's pause, told deal by deal).
	olga, err := e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "sweep-olga", CadenceVersion: &v1,
		Owner: store.OwnerInput{Email: "olga@vendor.test"}, Contact: store.ContactInput{Email: "sweep-olga@prospect.test"}})
	require.NoError(t, err)
	entered(olga.DealID)
	scope, err := down.PauseOwner(dctx(), deals.ScopePauseRequest{Target: "olga@vendor.test", Source: "cli", Reason: "holiday"})
	require.NoError(t, err, "recorded: the sweeper delivers it")
	require.Equal(t, 1, scope.Pending)
	require.Equal(t, []string{olga.DealID}, scope.PendingDeals)

	// task_snoozed, then task_closed, of the same task.
	tasked := e.create("sweep-task")
	entered(tasked.DealID)
	e.moveTo(tasked.DealID, "qualification", "q-task", time.Now())
	tl := e.eventually("the qualification task", 20*time.Second, func(tl store.Timeline) bool {
		return len(tl.Tasks) == 1 && tl.Tasks[0].State == "open"
	}, tasked.DealID)
	taskID := tl.Tasks[0].ID
	_, err = down.SnoozeTask(dctx(), deals.SnoozeRequest{Deal: tasked.DealID, TaskID: taskID, Source: "cli",
		EventID: "snooze-1", UntilOn: time.Now().AddDate(0, 0, 10).Format(time.DateOnly)})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	_, err = down.CloseTask(dctx(), deals.TaskRequest{Deal: tasked.DealID, TaskID: taskID, Outcome: workflows.TaskDone, Source: "cli", Note: "called"})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)

	// migrate, one deal to version 2.
	migrating := e.create("sweep-migrate")
	entered(migrating.DealID)
	p2 := sweepPipeline()
	p2.Stages[0].Steps[1].After = cadence.Of(2, cadence.Hours)
	v2, err := e.store.PublishCadence(ctx, 2, p2)
	require.NoError(t, err)
	res, err := down.Migrate(dctx(), deals.MigrateRequest{From: v1, To: v2.Version, Deal: migrating.DealID})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, "received", res[0].State, "%+v", res[0])

	// A stage change stuck while the deal then closes.
	closing := e.create("sweep-closed")
	entered(closing.DealID)
	_, err = down.ChangeStage(dctx(), deals.StageRequest{Deal: closing.DealID, Stage: "proposal", Source: "crm", EventID: "late-1"})
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	e.moveTo(closing.DealID, "lost", "lost-1", time.Now())
	e.eventually("the deal closed", 20*time.Second, func(tl store.Timeline) bool { return tl.Deal.Closed() }, closing.DealID)

	require.Equal(t, 13, e.countReceived(), "every event recorded while Temporal was down waits in received")

	// Nothing has waited an hour yet.
	none, err := e.svc.SweepReceived(ctx, time.Hour, 100)
	require.NoError(t, err)
	require.Zero(t, none.Found)

	swept, err := e.svc.SweepReceived(ctx, 0, 100)
	require.NoError(t, err)
	require.Equal(t, 13, swept.Found)
	require.Equal(t, 8, swept.Signalled, "%+v", swept.Events)
	require.Equal(t, 5, swept.Settled, "%+v", swept.Events)
	require.Zero(t, swept.Failed+swept.Skipped+swept.Left, "%+v", swept.Events)
	require.Equal(t, "garbled", swept.Events[0].SourceEventID, "oldest first")
	require.Zero(t, e.countReceived())

	// Each signalled event is applied by its workflow.
	e.eventually("the created deal's run started", 20*time.Second, hasTransitionTo("prospecting", 1), fresh.ID)
	e.eventuallyRow("applied", 20*time.Second, `source = 'crm' AND source_event_id = $1`, "create:sweep-new")
	e.eventually("the stage change", 20*time.Second, hasTransitionTo("qualification", 2), moved.DealID)
	e.eventuallyRow("applied", 20*time.Second, `source_event_id = 'q-1'`)
	reason := e.eventuallyRow("applied", 20*time.Second, `source_event_id = 'ooo-1'`)
	require.Contains(t, reason, "deferred: out of office until")
	e.eventuallyRow("applied", 20*time.Second, `source_event_id = 'p-1'`)
	v := e.view(held.DealID)
	require.True(t, v.Paused)
	require.Equal(t, workflows.ScopeDeal, v.Pauses[0].Scope)
	e.eventuallyRow("applied", 20*time.Second, `source = 'ops' AND deal_id = $1`, olga.DealID)
	v = e.view(olga.DealID)
	require.True(t, v.Paused)
	require.Equal(t, workflows.ScopeOwner, v.Pauses[0].Scope)
	e.eventuallyRow("applied", 20*time.Second, `source_event_id = 'snooze-1'`)
	e.eventuallyRow("applied", 20*time.Second, `source_event_id = $1`, fmt.Sprintf("task-%d-done", taskID))
	tl = e.eventually("the task done", 20*time.Second, func(tl store.Timeline) bool { return tl.Tasks[0].State == "done" }, tasked.DealID)
	require.Equal(t, "called", tl.Tasks[0].CloseReason)
	e.eventuallyRow("applied", 20*time.Second, `source = 'migration' AND deal_id = $1`, migrating.DealID)
	// The event is recorded applied inside the handler; the live view follows when it ends.
	require.Eventually(t, func() bool { return e.view(migrating.DealID).CadenceVersion == v2.Version },
		20*time.Second, 100*time.Millisecond, "the deal runs on version %d", v2.Version)

	// The stale pause is settled, never sent: the deal runs on.
	state, reason := e.eventRow(`source_event_id = 'p-stale'`)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, "superseded: a later pause or resume of the deal")
	require.Zero(t, e.signalsWith(unheld.DealID, "p-stale"))
	require.False(t, e.view(unheld.DealID).Paused)

	// A closed deal's event is refused, as the request sent now would be.
	state, reason = e.eventRow(`source_event_id = 'late-1'`)
	require.Equal(t, "refused", state)
	require.Equal(t, "deal is closed; reopen it to continue", reason)
	require.Zero(t, e.signalsWith(closing.DealID, "late-1"))
	state, reason = e.eventRow(`source_event_id = 'garbled'`)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, "its recorded payload is not a stage_changed request")
	state, reason = e.eventRow(`source_event_id = 'mystery'`)
	require.Equal(t, "ignored", state)
	require.Contains(t, reason, `unknown event kind "teleported"`)
	state, reason = e.eventRow(`source_event_id = 'reopen-lost'`)
	require.Equal(t, "refused", state)
	require.Contains(t, reason, "send the reopen again")

	// A second sweep finds nothing: each event reached its deal once.
	again, err := e.svc.SweepReceived(ctx, 0, 100)
	require.NoError(t, err)
	require.Equal(t, deals.SweepResult{}, again)
	require.Equal(t, 1, e.signalsWith(moved.DealID, "q-1"))
	require.Equal(t, 1, e.signalsWith(away.DealID, "ooo-1"))
}

// barrierClient is a sweeper's Temporal client that holds the sweeper at its first health
// check until every sweeper sharing all got there. SweepReceived checks Temporal's health once
// it has read the rows to sweep and before it handles the first, so the sweepers held this
// way all sweep the same rows, at the same time. A sweeper kept waiting beyond the health
// check's own timeout (10s) gets an error instead of hanging the test.
type barrierClient struct {
	client.Client
	once    sync.Once
	arrived func()
	all     <-chan struct{} // closed when every sweeper arrived
}

func (c *barrierClient) CheckHealth(ctx context.Context, req *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	c.once.Do(c.arrived)
	select {
	case <-c.all:
	case <-ctx.Done():
		return nil, fmt.Errorf("the other sweepers did not reach the barrier: %w", ctx.Err())
	}
	return c.Client.CheckHealth(ctx, req)
}

// Two sweepers (two processes: two pools) sweeping the same rows at once signal each event
// once; the server's loop sweeps on its own and stops with its context.
func TestConcurrentSweepersSignalEachEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-sweep-race", sweepPipeline()) // no worker: signals stay in history
	ctx := context.Background()
	down := e.down()
	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.create(fmt.Sprintf("race-%d", i)).DealID
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := down.ChangeStage(dctx, deals.StageRequest{Deal: ids[i], Stage: "qualification", Source: "crm", EventID: fmt.Sprintf("race-q-%d", i)})
		cancel()
		require.ErrorIs(t, err, deals.ErrDeliveryPending)
	}
	require.Equal(t, n, e.countReceived())

	other, err := store.Open(ctx, e.dbURL, store.PoolOptions{Other: 4})
	require.NoError(t, err)
	t.Cleanup(other.Close)
	// Both sweepers read the rows before either handles one (a barrier, not a timing guess):
	// they overlap on every row.
	var arrived sync.WaitGroup
	arrived.Add(2)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	held := func() client.Client { return &barrierClient{Client: e.client, arrived: arrived.Done, all: all} }
	sweepers := []*deals.Service{{Store: e.store, Temporal: held()}, {Store: store.New(other), Temporal: held()}}
	results := make([]deals.SweepResult, len(sweepers))
	errs := make([]error, len(sweepers))
	var wg sync.WaitGroup
	for i, s := range sweepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.SweepReceived(ctx, 0, 100)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, n, results[0].Signalled+results[1].Signalled, "%+v", results)
	require.Zero(t, results[0].Failed+results[1].Failed)
	// They did overlap: each found every row, and skipped each row the other signalled (held
	// by it, or no longer received). Run one after the other, the second would find none.
	require.Equal(t, n, results[0].Found, "%+v", results[0])
	require.Equal(t, n, results[1].Found, "%+v", results[1])
	require.Equal(t, n, results[0].Skipped+results[1].Skipped, "%+v", results)
	t.Logf("sweeper A: %d signalled, %d skipped; sweeper B: %d signalled, %d skipped",
		results[0].Signalled, results[0].Skipped, results[1].Signalled, results[1].Skipped)
	for i, id := range ids {
		require.Equal(t, 1, e.signalsWith(id, fmt.Sprintf("race-q-%d", i)), "deal %d signalled once", i)
		state, _ := e.eventRow(`source_event_id = $1`, fmt.Sprintf("race-q-%d", i))
		require.Equal(t, "signalled", state)
	}

	// The loop `starter serve` runs: it sweeps a row stuck later, and returns when told to stop.
	late := e.create("race-late").DealID
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = down.ChangeStage(dctx, deals.StageRequest{Deal: late, Stage: "qualification", Source: "crm", EventID: "race-late-q"})
	cancel()
	require.ErrorIs(t, err, deals.ErrDeliveryPending)
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.SweepEvery(loopCtx, 100*time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	e.eventuallyRow("signalled", 10*time.Second, `source_event_id = 'race-late-q'`)
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep loop did not stop with its context")
	}
	require.Equal(t, 1, e.signalsWith(late, "race-late-q"))
}
