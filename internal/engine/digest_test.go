package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// Every worker creates the digest schedule at start: the second call leaves the first's.
func TestEnsureDigestScheduleIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	require.NoError(t, EnsureDigestSchedule(ctx, c))
	require.NoError(t, EnsureDigestSchedule(ctx, c))

	d, err := c.ScheduleClient().GetHandle(ctx, workflows.DigestScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, d.Schedule.Spec.Intervals, 1)
	require.Equal(t, workflows.DigestEvery, d.Schedule.Spec.Intervals[0].Every)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap)
	action, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok)
	require.Equal(t, "DigestRound", action.Workflow)
	require.Equal(t, workflows.TaskQueue, action.TaskQueue)
}
