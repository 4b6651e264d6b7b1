package deals_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// refusing is a Temporal that is down and says so at once (Unavailable).
type refusing struct{ client.Client }

func (refusing) SignalWorkflow(context.Context, string, string, string, any) error {
	return serviceerror.NewUnavailable("temporal is down")
}

func (refusing) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("temporal is down")
}

func (refusing) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("temporal is down")
}

// sent is what a verb answered of its event.
type sent struct {
	id        int64
	state     store.EventState
	duplicate bool
}

// sender sends one kind's request for deal under event id id; variant changes its payload.
type sender func(deal, id string, variant bool) (sent, error)

// kindSenders is each kind's verb as a sender, for the deals given (deal id → the external
// id a create names it by); each deal gets an open task to close or snooze.
func kindSenders(t *testing.T, svc *deals.Service, ext map[string]string) map[string]sender {
	ctx := context.Background()
	tasks := map[string]int64{}
	for deal := range ext {
		tk, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: deal, Visit: 1, StepID: "s", Occurrence: 1,
			Kind: "call", Title: "Call Bob", DueAt: time.Now().Add(24 * time.Hour), At: time.Now()})
		require.NoError(t, err)
		tasks[deal] = tk.ID
	}
	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	pick := func(variant bool, a, b string) string {
		if variant {
			return b
		}
		return a
	}
	later := func(variant bool) time.Time {
		if variant {
			return until.Add(time.Hour)
		}
		return until
	}
	answer := func(r deals.EventResponse, err error) (sent, error) {
		return sent{r.EventID, r.State, r.Duplicate}, err
	}
	return map[string]sender{
		"created": func(deal, id string, variant bool) (sent, error) {
			r, err := svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: pick(variant, ext[deal], ext[deal]+"-other"), EventID: id,
				Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob@prospect.test"}})
			return sent{r.EventID, r.State, !r.Created}, err
		},
		"stage_changed": func(deal, id string, variant bool) (sent, error) {
			r, err := svc.ChangeStage(ctx, deals.StageRequest{Deal: deal, Stage: pick(variant, "qualification", "nurturing"), Source: "crm", EventID: id})
			return sent{r.EventID, r.State, r.Duplicate}, err
		},
		"engaged": func(deal, id string, variant bool) (sent, error) {
			kind := cadence.Engagement(pick(variant, string(cadence.EngagedReply), string(cadence.EngagedClick)))
			return answer(svc.Engage(ctx, deals.EngageRequest{Deal: deal, Kind: kind, Source: "crm", EventID: id}))
		},
		"task_closed": func(deal, id string, variant bool) (sent, error) {
			return answer(svc.CloseTask(ctx, deals.TaskRequest{Deal: deal, TaskID: tasks[deal],
				Outcome: pick(variant, workflows.TaskDone, workflows.TaskSkipped), Source: "crm", EventID: id}))
		},
		"task_snoozed": func(deal, id string, variant bool) (sent, error) {
			return answer(svc.SnoozeTask(ctx, deals.SnoozeRequest{Deal: deal, TaskID: tasks[deal], Until: later(variant), Source: "crm", EventID: id}))
		},
		"paused": func(deal, id string, variant bool) (sent, error) {
			return answer(svc.PauseDeal(ctx, deals.PauseRequest{Deal: deal, Until: later(variant), Source: "crm", EventID: id}))
		},
		"resumed": func(deal, id string, _ bool) (sent, error) { // a resume's payload has nothing to differ in
			return answer(svc.ResumeDeal(ctx, deals.ResumeRequest{Deal: deal, Source: "crm", EventID: id}))
		},
		"owner_changed": func(deal, id string, _ bool) (sent, error) { // the sweeper's request of a handover
			d, err := svc.Store.DealByID(ctx, deal)
			require.NoError(t, err)
			return answer(svc.ChangeOwner(ctx, deals.OwnerChangedRequest{Deal: deal, From: d.OwnerID, To: d.OwnerID, Source: "crm", EventID: id}))
		},
	}
}

// Every kind of the intake's table through the one intake, as its verb sends it: new while
// Temporal is down (recorded received, pending), the same request again (a duplicate, still
// pending), swept once Temporal answers (signalled by the verb's own code), the same request
// again (a duplicate, nothing signalled), the id reused on another deal (refused, naming the
// event), and a new event for a closed deal (recorded refused). The ordering rules (an event
// older than the watermark) are the workflow's, tested in workflows/rules_test.go.
func TestEveryKindThroughTheOneIntake(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	live := svc.Temporal
	open := create(t, svc, "in-open", "ana@vendor.test")
	closed := create(t, svc, "in-closed", "ana@vendor.test")
	require.NoError(t, svc.Store.MarkClosed(ctx, closed, "lost", 1, time.Now()))
	kinds := kindSenders(t, svc, map[string]string{open: "in-new", closed: "in-closed"})
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	var table []string
	for k := range deals.IntakeKinds() {
		table = append(table, k)
	}
	sort.Strings(names)
	sort.Strings(table)
	require.Equal(t, table, names, "every kind of the table is tested here")

	// In the order the deal can take them (a task is closed after it is snoozed).
	for _, kind := range []string{"created", "stage_changed", "engaged", "task_snoozed", "task_closed", "paused", "resumed", "owner_changed"} {
		send := func(deal, id string) (sent, error) { return kinds[kind](deal, id, false) }
		t.Run(kind, func(t *testing.T) {
			id := "in-" + kind
			svc.Temporal = refusing{live}
			first, err := send(open, id)
			require.ErrorIs(t, err, deals.ErrDeliveryPending, "Temporal down: recorded, delivery pending")
			require.Equal(t, store.EventReceived, first.state)
			again, err := send(open, id)
			require.ErrorIs(t, err, deals.ErrDeliveryPending)
			require.Equal(t, sent{first.id, store.EventReceived, true}, again, "the same request again: a duplicate")

			svc.Temporal = live
			res, err := svc.SweepReceived(ctx, 0, 100)
			require.NoError(t, err)
			require.Len(t, res.Events, 1, "%+v", res)
			require.Equal(t, deals.SweptEvent{ID: first.id, Kind: store.EventKind(kind), Source: "crm", SourceEventID: id,
				DealID: res.Events[0].DealID, Result: deals.SweepSignalled, State: store.EventSignalled}, res.Events[0])
			run := temporaltest.ReadDealRun(t, devServer.Client(), res.Events[0].DealID)
			if kind == "created" {
				require.Equal(t, id, run.Input.Start.SourceEventID, "swept: the run starts with the create")
			} else {
				require.Equal(t, id, run.LastSignal(t).SourceEventID, "swept: the deal heard it")
			}
			signals := len(run.Signals)

			again, err = send(open, id)
			require.NoError(t, err)
			require.Equal(t, sent{first.id, store.EventSignalled, true}, again)
			require.Len(t, temporaltest.ReadDealRun(t, devServer.Client(), res.Events[0].DealID).Signals, signals, "a duplicate signals nothing")

			_, err = send(closed, id)
			require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id on another deal")
			require.ErrorContains(t, err, "event id \""+id+"\" of source crm was already used for another request")

			refused, err := send(closed, id+"-closed")
			require.ErrorIs(t, err, deals.ErrDealClosed)
			rec, err := svc.Store.InboundEventByKey(ctx, "crm", id+"-closed")
			require.NoError(t, err)
			require.Equal(t, store.EventRefused, rec.State, "recorded, and refused")
			if refused.id != 0 {
				require.Equal(t, rec.ID, refused.id)
			}
		})
	}
}

// The sweeper has no per-kind code of its own: each kind's row decodes into the request its
// verb takes, and is sent through that verb (TestEveryKindThroughTheOneIntake shows the
// result is the verb's).
func TestTheSweeperSendsEachKindThroughItsVerb(t *testing.T) {
	require.Equal(t, map[string]string{
		"created":       "*deals.CreateRequest",
		"stage_changed": "*deals.StageRequest",
		"engaged":       "*deals.EngageRequest",
		"task_closed":   "*deals.TaskRequest",
		"task_snoozed":  "*deals.SnoozeRequest",
		"paused":        "*deals.PauseRequest",
		"resumed":       "*deals.ResumeRequest",
		"owner_changed": "*deals.OwnerChangedRequest",
	}, deals.IntakeKinds())
}
