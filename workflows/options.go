package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
)

// dbOptions are for the short PostgreSQL activities: retried without a cap on attempts, so a
// database restart delays a deal but never fails it.
func dbOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
}

// sendOptions are for SMTP sends, on their own task queue. Start-To-Close covers go-mail's
// worst case (about twice its timeout) and stays below the ledger claim's lease, so a retry
// never overlaps a send still running on a lost worker. Schedule-To-Close bounds the retries
// to hours, as mail servers expect.
func sendOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              SendTaskQueue,
		StartToCloseTimeout:    activities.SendStartToClose,
		ScheduleToCloseTimeout: 6 * time.Hour,
		WaitForCancellation:    true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        15 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}
