package activities_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// insertVersion stores p as version as it is, past PublishCadence's checks: a version
// published before the bounds existed, or written by hand.
func (f *fixture) insertVersion(version int64, p cadence.Pipeline) store.CadenceVersion {
	f.t.Helper()
	model, err := p.CanonicalJSON()
	require.NoError(f.t, err)
	hash, err := p.Hash()
	require.NoError(f.t, err)
	_, err = f.store.Pool().Exec(context.Background(), `INSERT INTO cadence_versions (version, pipeline_id, hash, model) VALUES ($1, $2, $3, $4)`,
		version, p.ID, hash, model)
	require.NoError(f.t, err)
	return store.CadenceVersion{Version: version, Hash: hash, Pipeline: p}
}

// load runs LoadCadence in the workflow of deal dealID, retried as the deal workflow's
// database activities are (without a cap on attempts); it returns the attempts and the error.
func (f *fixture) load(dealID string, in activities.CadenceInput) (int, error) {
	f.t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivity(f.acts)
	var attempts atomic.Int32
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { attempts.Add(1) })
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(dealID)})
	load := func(ctx workflow.Context, in activities.CadenceInput) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		})
		var p cadence.Pipeline
		return workflow.ExecuteActivity(ctx, f.acts.LoadCadence, in).Get(ctx, &p)
	}
	env.RegisterWorkflowWithOptions(load, workflow.RegisterOptions{Name: "load"})
	env.ExecuteWorkflow("load", in)
	require.True(f.t, env.IsWorkflowCompleted())
	return int(attempts.Load()), env.GetWorkflowError()
}

// A version too large for Temporal to carry as the activity's result (a 2.1 MB inline image
// here; 6 MB versions made deals retry for ever) fails the load at once, never retried, and
// the deal's row says why; the same version loaded by another deal, for a migration, leaves
// that deal's row alone.
func TestLoadCadenceRefusesAVersionTooLargeToLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p := cadence.Default()
	p.ID = "b2b"
	intro := p.Templates["intro"]
	intro.HTML = `<img src="data:image/png;base64,` + strings.Repeat("QUJD", 550_000) + `">`
	p.Templates["intro"] = intro
	cv := f.insertVersion(3, p)
	created, err := f.store.CreateDeal(ctx, store.NewDeal{
		Source: "test", ExternalID: "big", Owner: store.OwnerInput{Email: "ana@vendor.test"},
		Contact: store.ContactInput{Email: "eve@prospect.test"}, CadenceVersion: 3, EventID: "create-big", SourceTime: time.Now(),
	})
	require.NoError(t, err)

	attempts, err := f.load(created.Deal.ID, activities.CadenceInput{Version: cv.Version, Hash: cv.Hash})
	const why = "cadence b2b version 3 cannot load: it is 2.1 MiB in its canonical form, over the 1.9 MiB a deal can load"
	require.ErrorContains(t, err, why)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable())
	require.Equal(t, activities.ErrTypeBadInput, appErr.Type())
	require.Equal(t, 1, attempts, "failed at once, not retried")
	d, err := f.store.DealByID(ctx, created.Deal.ID)
	require.NoError(t, err)
	require.Equal(t, why, d.StartError)

	// f.deal is on version 0: loading version 3 for it is a migration's load.
	_, err = f.load(f.deal.ID, activities.CadenceInput{Version: cv.Version, Hash: cv.Hash})
	require.ErrorContains(t, err, why)
	d, err = f.store.DealByID(ctx, f.deal.ID)
	require.NoError(t, err)
	require.Empty(t, d.StartError)
}

// A stored model that no longer decodes cannot load either: at once, and said on the deal.
func TestLoadCadenceRefusesAnUndecodableVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.store.Pool().Exec(ctx, `UPDATE cadence_versions SET model = jsonb_set(model, '{stages}', '"none"') WHERE version = $1`, cadence.DefaultVersion)
	require.NoError(t, err)
	attempts, err := f.load(f.deal.ID, activities.CadenceInput{Version: cadence.DefaultVersion})
	require.ErrorContains(t, err, "cadence version 0: its stored model does not decode")
	require.Equal(t, 1, attempts)
	d, err := f.store.DealByID(ctx, f.deal.ID)
	require.NoError(t, err)
	require.Contains(t, d.StartError, "cadence version 0: its stored model does not decode")
}
