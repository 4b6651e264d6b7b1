package deals_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

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
	send := kindSenders(t, svc, map[string]string{a: "id-a", b: "id-b"})
	kinds := []string{"created", "stage_changed", "engaged", "task_closed", "task_snoozed", "paused", "resumed"}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			id := "reuse-" + kind
			signalsOf := func(deal string) int { return len(temporaltest.ReadDealRun(t, devServer.Client(), deal).Signals) }
			dup, err := send[kind](a, id, false)
			require.NoError(t, err)
			if kind != "created" {
				require.False(t, dup.duplicate)
			}
			holder, err := svc.Store.InboundEventByKey(ctx, "crm", id)
			require.NoError(t, err)
			holds := fmt.Sprintf("event %d (%s on deal %s)", holder.ID, kind, a)

			dup, err = send[kind](a, id, false)
			require.NoError(t, err, "the same request again")
			require.True(t, dup.duplicate, "the same request again is a duplicate")

			before := signalsOf(b)
			_, err = send[kind](b, id, false)
			require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id on another deal")
			require.ErrorContains(t, err, holds)
			require.Equal(t, before, signalsOf(b), "the other deal hears nothing")

			if kind != string(workflows.EventResumed) {
				_, err = send[kind](a, id, true)
				require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id with another payload")
				require.ErrorContains(t, err, holds)
			}
			if kind != "stage_changed" {
				_, err = svc.ChangeStage(ctx, deals.StageRequest{Deal: a, Stage: "qualification", Source: "crm", EventID: id})
				require.ErrorIs(t, err, deals.ErrEventIDTaken, "the id for another kind")
				require.ErrorContains(t, err, holds)
			}
		})
	}
	_, err := svc.Store.DealByExternalID(ctx, "crm", "id-a-other")
	require.ErrorIs(t, err, store.ErrNotFound, "a create refused for its event id records no deal")
}
