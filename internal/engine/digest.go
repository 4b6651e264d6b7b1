package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/workflows"
)

// EnsureDigestSchedule creates the Temporal schedule of the rep's morning digest: one
// DigestRound every workflows.DigestEvery on the deal task queue, a round skipped while
// the previous one still runs. Every worker calls it at start; a schedule that exists
// already is left as it is.
func EnsureDigestSchedule(ctx context.Context, c client.Client) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:            workflows.DigestScheduleID,
		Spec:          client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: workflows.DigestEvery}}},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: workflows.DigestEvery,
		Action: &client.ScheduleWorkflowAction{
			ID:                       workflows.DigestWorkflowIDPrefix,
			Workflow:                 workflows.DigestRound,
			TaskQueue:                workflows.TaskQueue,
			WorkflowExecutionTimeout: workflows.DigestEvery,
		},
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create the digest schedule %s: %w", workflows.DigestScheduleID, err)
	}
	return nil
}

// keepDigestSchedule calls EnsureDigestSchedule until it succeeds or ctx ends, backing off
// from a second to a minute and warning on each failure.
func keepDigestSchedule(ctx context.Context, c client.Client, logger *slog.Logger) {
	wait := time.Second
	for {
		err := EnsureDigestSchedule(ctx, c)
		if err == nil || ctx.Err() != nil {
			return
		}
		logger.Warn("digest schedule not created yet; retrying", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}
