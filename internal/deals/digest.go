package deals

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/workflows"
)

// ErrNoDigest: the owner gets no digest now (not an enabled rep, digest off, or paused).
var ErrNoDigest = errors.New("no digest for this owner now")

// DigestNowTimeout bounds how long DigestNow waits for the digest to go out.
const DigestNowTimeout = time.Minute

// DigestNow sends the owner (by email) the digest of their local date now, whatever the hour,
// and says what became of it: sent (with its Message-ID) or skipped, and why (sent already
// today, a holiday, nothing to report). Two asks at once share one run.
func (s *Service) DigestNow(ctx context.Context, ownerEmail string) (activities.DigestResult, error) {
	o, err := s.Store.OwnerByEmail(ctx, ownerEmail)
	if err != nil {
		return activities.DigestResult{}, err
	}
	if _, ok, err := s.Store.DigestOwnerByID(ctx, o.ID); err != nil {
		return activities.DigestResult{}, err
	} else if !ok {
		return activities.DigestResult{}, fmt.Errorf("%s: %w (not an enabled rep, digest off, or paused)", o.Email, ErrNoDigest)
	}
	ctx, cancel := context.WithTimeout(ctx, DigestNowTimeout)
	defer cancel()
	run, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.DigestNowWorkflowID(o.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowExecutionTimeout: DigestNowTimeout,
	}, workflows.DigestNow, activities.DigestNowInput{OwnerID: o.ID})
	if err != nil {
		return activities.DigestResult{}, fmt.Errorf("start the digest of %s: %w", o.Email, err)
	}
	var res activities.DigestResult
	if err := run.Get(ctx, &res); err != nil {
		return activities.DigestResult{}, fmt.Errorf("digest of %s: %w", o.Email, err)
	}
	return res, nil
}
