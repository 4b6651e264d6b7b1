package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// A deal pinned to a version too large to load (published before the bounds existed; an
// inline image of 2.4 MB failed such deals at start, a 6 MB version made them retry for
// ever): its workflow fails at once, and the deal says why instead of showing a stage it
// never entered. A running deal asked to migrate to that version stays where it is.
func TestDealOnAVersionTooLargeToLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-bounds", fixturePipeline(time.Hour))
	ctx := context.Background()
	big := fixturePipeline(time.Hour)
	intro := big.Templates["intro"]
	intro.HTML = `<img src="data:image/png;base64,` + strings.Repeat("QUJD", 600_000) + `">`
	big.Templates["intro"] = intro
	model, err := big.CanonicalJSON()
	require.NoError(t, err)
	hash, err := big.Hash()
	require.NoError(t, err)
	_, err = e.store.Pool().Exec(ctx, `INSERT INTO cadence_versions (version, pipeline_id, hash, model) VALUES (2, $1, $2, $3)`, big.ID, hash, model)
	require.NoError(t, err)

	e.start()
	running := e.create("bounds-running")
	// A create on that version is refused, with nothing recorded: it could never run.
	v2 := int64(2)
	owner := store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor"}
	contact := store.ContactInput{Email: "bounds-stuck@prospect.test", FirstName: "Bob", Company: "Prospect Inc"}
	_, err = e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "bounds-refused", Title: "Refused",
		CadenceVersion: &v2, Owner: owner, Contact: contact})
	require.ErrorIs(t, err, deals.ErrCadenceCannotRun)
	require.Contains(t, err.Error(), "over the 1.9 MiB a deal can load")
	// A deal pinned to it before the bounds existed: its next event starts a run on it.
	legacy, err := e.store.CreateDeal(ctx, store.NewDeal{Source: "crm", ExternalID: "bounds-stuck", Title: "Legacy",
		Owner: owner, Contact: contact, CadenceVersion: 2, EventID: "create:bounds-stuck", SourceTime: time.Now()})
	require.NoError(t, err)
	stuck := deals.CreateResponse{DealID: legacy.Deal.ID}
	_, err = e.svc.ChangeStage(ctx, deals.StageRequest{Deal: stuck.DealID, Stage: "qualification", Source: "crm",
		EventID: "legacy-move", SourceTime: time.Now()})
	require.NoError(t, err)
	const why = "cadence it-fixture version 2 cannot load: it is 2.3 MiB in its canonical form, over the 1.9 MiB a deal can load"
	tl := e.eventually("the reason on the deal", 20*time.Second, func(tl store.Timeline) bool { return tl.Deal.StartError != "" }, stuck.DealID)
	require.Equal(t, why, tl.Deal.StartError)
	require.Nil(t, tl.Deal.StageEnteredAt)
	det, err := e.svc.Show(ctx, stuck.DealID, 0)
	require.NoError(t, err)
	require.Equal(t, why, det.Timeline.Deal.StartError, "what deal show and GET /api/deals/{deal} read")

	// The reason is written by the activity, just before the workflow fails.
	require.Eventually(t, func() bool {
		resp, err := e.client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(stuck.DealID), "")
		require.NoError(t, err)
		return resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
	}, 20*time.Second, 100*time.Millisecond, "failed, not retrying")
	failed := 0
	for _, ev := range e.history(workflows.WorkflowID(stuck.DealID), "").Events {
		if attrs := ev.GetActivityTaskFailedEventAttributes(); attrs != nil {
			failed++
			require.Contains(t, attrs.Failure.Message, why)
		}
	}
	require.Equal(t, 1, failed, "one attempt")

	e.eventually("the running deal started", 20*time.Second, func(tl store.Timeline) bool { return tl.Deal.StageEnteredAt != nil }, running.DealID)
	res, err := e.svc.Migrate(ctx, deals.MigrateRequest{From: 1, To: 2, Deal: running.DealID})
	require.NoError(t, err)
	require.Len(t, res, 1)
	tl = e.eventually("the migration ignored", 20*time.Second, func(tl store.Timeline) bool {
		for _, ev := range tl.Events {
			if ev.Kind == "migrate" && ev.State == "ignored" {
				return true
			}
		}
		return false
	}, running.DealID)
	require.Empty(t, tl.Deal.StartError)
	require.Equal(t, int64(1), tl.Deal.CadenceVersion)
	require.Equal(t, "prospecting", e.view(running.DealID).Stage, "still running")
}
