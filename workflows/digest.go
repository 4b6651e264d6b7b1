package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
)

// Temporal names of the rep's morning digest: a schedule, created by every worker at start,
// starts one short DigestRound workflow every DigestEvery on TaskQueue.
const (
	// DigestScheduleID is the schedule's id; creating it again is a no-op.
	DigestScheduleID = "followup-digest"
	// DigestWorkflowIDPrefix names each round's workflow (the schedule appends the time).
	DigestWorkflowIDPrefix = "digest-round"
	// DigestNowWorkflowIDPrefix names a digest asked for now (`starter user digest EMAIL
	// now`), followed by "/" and the owner id: two asks at once share one run.
	DigestNowWorkflowIDPrefix = "digest-now"
	// DigestEvery is how often a round looks for reps in their first business hour: a rep's
	// first hour always holds a round, whatever the minute the hour begins.
	DigestEvery = 15 * time.Minute
)

// DigestRoundResult says what one round did.
type DigestRoundResult struct {
	Due     int `json:"due"`
	Sent    int `json:"sent"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// DigestRound finds the reps whose first business hour it is (FindDigests, at most
// activities.DigestRoundMax) and sends each their digest (SendDigest, one activity per
// owner, all at once). An owner's failure does not fail the round: the ledger leaves the
// digest unsent and the next round, still within the hour, tries again.
func DigestRound(ctx workflow.Context) (DigestRoundResult, error) {
	var due []activities.DigestDue
	at := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(dbOptions(ctx), a.FindDigests,
		activities.FindDigestsInput{At: at, Limit: activities.DigestRoundMax}).Get(ctx, &due); err != nil {
		return DigestRoundResult{}, err
	}
	sendCtx := digestSendOptions(ctx)
	futures := make([]workflow.Future, len(due))
	for i, d := range due {
		futures[i] = workflow.ExecuteActivity(sendCtx, a.SendDigest, activities.DigestInput{DigestDue: d, At: at})
	}
	res := DigestRoundResult{Due: len(due)}
	for i, f := range futures {
		var r activities.DigestResult
		switch err := f.Get(ctx, &r); {
		case err != nil:
			res.Failed++
			workflow.GetLogger(ctx).Warn("Digest not sent", "OwnerID", due[i].OwnerID, "LocalDate", due[i].LocalDate, "Error", err)
		case r.Sent:
			res.Sent++
		default:
			res.Skipped++
		}
	}
	return res, nil
}

// digestSendOptions are SendDigest's: retried within one round's time (the next round tries
// again), bad input never.
func digestSendOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    activities.SendStartToClose,
		ScheduleToCloseTimeout: DigestEvery,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}

// DigestNowWorkflowID is the id of the digest asked for now for one owner.
func DigestNowWorkflowID(ownerID string) string {
	return DigestNowWorkflowIDPrefix + "/" + ownerID
}

// DigestNow sends one owner the digest of their local date now, whatever the hour (a rep who
// wants it again after a day off, a new user trying it): the same SendDigest as a round,
// so still once per owner and local date, not on a holiday, and not when empty.
func DigestNow(ctx workflow.Context, in activities.DigestNowInput) (activities.DigestResult, error) {
	in.At = workflow.Now(ctx)
	var due activities.DigestDue
	if err := workflow.ExecuteActivity(dbOptions(ctx), a.DigestToday, in).Get(ctx, &due); err != nil {
		return activities.DigestResult{}, err
	}
	var res activities.DigestResult
	err := workflow.ExecuteActivity(digestSendOptions(ctx), a.SendDigest, activities.DigestInput{DigestDue: due, At: in.At}).Get(ctx, &res)
	return res, err
}
