package deals_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// One rule for every kind: a (source, event id) names one request. The same request again
// (same deal, kind and payload) is an idempotent duplicate; the id reused for another deal,
// kind or payload is refused with ErrEventIDTaken, naming the event that holds it, and the
// deal it was sent for hears nothing.
func TestAnEventIDNamesOneRequestForEveryKind(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	a := create(t, svc, "id-a", "ana@vendor.test")
	b := create(t, svc, "id-b", "ana@vendor.test")
	task := func(deal string) int64 {
		tk, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: deal, Visit: 1, StepID: "s", Occurrence: 1,
			Kind: "call", Title: "Call Bob", DueAt: time.Now().Add(24 * time.Hour), At: time.Now()})
		require.NoError(t, err)
		return tk.ID
	}
	taskA, taskB := task(a), task(b)
	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	// Each kind's request for deal, under event id id; variant changes its payload.
	type send func(deal, id string, variant bool) (duplicate bool, err error)
	kinds := []struct {
		kind string
		send send
	}{
		{"created", func(deal, id string, variant bool) (bool, error) {
			ext := map[string]string{a: "id-a", b: "id-b"}[deal]
			if variant {
				ext = "id-c"
			}
			r, err := svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: ext, EventID: id,
				Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob@prospect.test"}})
			return !r.Created, err
		}},
		{"stage_changed", func(deal, id string, variant bool) (bool, error) {
			stage := "qualification"
			if variant {
				stage = "nurturing"
			}
			r, err := svc.ChangeStage(ctx, deals.StageRequest{Deal: deal, Stage: stage, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
		{"engaged", func(deal, id string, variant bool) (bool, error) {
			kind := cadence.EngagedReply
			if variant {
				kind = cadence.EngagedClick
			}
			r, err := svc.Engage(ctx, deals.EngageRequest{Deal: deal, Kind: kind, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
		{string(workflows.EventTaskClosed), func(deal, id string, variant bool) (bool, error) {
			outcome := workflows.TaskDone
			if variant {
				outcome = workflows.TaskSkipped
			}
			r, err := svc.CloseTask(ctx, deals.TaskRequest{Deal: deal, TaskID: map[string]int64{a: taskA, b: taskB}[deal],
				Outcome: outcome, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
		{string(workflows.EventTaskSnoozed), func(deal, id string, variant bool) (bool, error) {
			u := until
			if variant {
				u = u.Add(time.Hour)
			}
			r, err := svc.SnoozeTask(ctx, deals.SnoozeRequest{Deal: deal, TaskID: map[string]int64{a: taskA, b: taskB}[deal],
				Until: u, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
		{string(workflows.EventPaused), func(deal, id string, variant bool) (bool, error) {
			u := until
			if variant {
				u = u.Add(time.Hour)
			}
			r, err := svc.PauseDeal(ctx, deals.PauseRequest{Deal: deal, Until: u, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
		{string(workflows.EventResumed), func(deal, id string, variant bool) (bool, error) {
			if variant {
				return false, nil // a resume's payload has nothing to differ in
			}
			r, err := svc.ResumeDeal(ctx, deals.ResumeRequest{Deal: deal, Source: "crm", EventID: id})
			return r.Duplicate, err
		}},
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			id := "reuse-" + k.kind
			signalsOf := func(deal string) int { return len(temporaltest.ReadDealRun(t, devServer.Client(), deal).Signals) }
			dup, err := k.send(a, id, false)
			require.NoError(t, err)
			if k.kind != "created" {
				require.False(t, dup)
			}
			holder, err := svc.Store.InboundEventByKey(ctx, "crm", id)
			require.NoError(t, err)
			holds := fmt.Sprintf("event %d (%s on deal %s)", holder.ID, k.kind, a)

			dup, err = k.send(a, id, false)
			require.NoError(t, err, "the same request again")
			require.True(t, dup, "the same request again is a duplicate")

			before := signalsOf(b)
			_, err = k.send(b, id, false)
			require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id on another deal")
			require.ErrorContains(t, err, holds)
			require.Equal(t, before, signalsOf(b), "the other deal hears nothing")

			if k.kind != string(workflows.EventResumed) {
				_, err = k.send(a, id, true)
				require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id with another payload")
				require.ErrorContains(t, err, holds)
			}
			if k.kind != "stage_changed" {
				_, err = svc.ChangeStage(ctx, deals.StageRequest{Deal: a, Stage: "qualification", Source: "crm", EventID: id})
				require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id for another kind")
				require.ErrorContains(t, err, holds)
			}
		})
	}
	_, err := svc.Store.DealByExternalID(ctx, "crm", "id-c")
	require.ErrorIs(t, err, store.ErrNotFound, "a create refused for its event id records no deal")
}
