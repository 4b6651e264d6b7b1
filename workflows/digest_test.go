package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/workflows"
)

// A round finds the due reps at the workflow's time and sends each a digest; one owner's
// failure is counted, not fatal, and a skipped one (sent already) is counted apart.
func TestDigestRoundSendsEachDueOwner(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var acts *activities.Activities
	env.RegisterActivity(acts)
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	env.SetStartTime(start)

	due := []activities.DigestDue{{OwnerID: "o1", LocalDate: "2026-12-07"}, {OwnerID: "o2", LocalDate: "2026-12-07"},
		{OwnerID: "o3", LocalDate: "2026-12-07"}}
	env.OnActivity(acts.FindDigests, mock.Anything, mock.MatchedBy(func(in activities.FindDigestsInput) bool {
		return in.At.Equal(start) && in.Limit == activities.DigestRoundMax
	})).Return(due, nil).Once()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.MatchedBy(func(in activities.DigestInput) bool { return in.OwnerID == "o1" })).
		Return(activities.DigestResult{Sent: true, MessageID: "m1@test"}, nil).Once()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.MatchedBy(func(in activities.DigestInput) bool { return in.OwnerID == "o2" })).
		Return(activities.DigestResult{Skipped: "sent already"}, nil).Once()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.MatchedBy(func(in activities.DigestInput) bool { return in.OwnerID == "o3" })).
		Return(activities.DigestResult{}, temporal.NewApplicationError("smtp down", activities.ErrTypeBadInput)).Once()

	env.ExecuteWorkflow(workflows.DigestRound)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DigestRoundResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.DigestRoundResult{Due: 3, Sent: 1, Skipped: 1, Failed: 1}, res)
	env.AssertExpectations(t)
}

// A transient SMTP failure is retried with backoff (time skips) until the digest goes out.
func TestDigestRoundRetriesATransientFailure(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var acts *activities.Activities
	env.RegisterActivity(acts)
	start := time.Date(2026, 12, 7, 9, 15, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.OnActivity(acts.FindDigests, mock.Anything, mock.Anything).
		Return([]activities.DigestDue{{OwnerID: "o1", LocalDate: "2026-12-07"}}, nil).Once()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.Anything).Return(activities.DigestResult{}, errors.New("421 try later")).Twice()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.Anything).Return(activities.DigestResult{Sent: true}, nil).Once()

	env.ExecuteWorkflow(workflows.DigestRound)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DigestRoundResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.DigestRoundResult{Due: 1, Sent: 1}, res)
	require.GreaterOrEqual(t, env.Now().Sub(start), 30*time.Second, "two backoffs of 10 s and 20 s were skipped")
}

// No rep in their first hour: the round sends nothing.
func TestDigestRoundWithNobodyDue(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var acts *activities.Activities
	env.RegisterActivity(acts)
	env.OnActivity(acts.FindDigests, mock.Anything, mock.Anything).Return([]activities.DigestDue(nil), nil).Once()
	env.ExecuteWorkflow(workflows.DigestRound)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DigestRoundResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Zero(t, res)
}

// A digest asked for now: the owner's local date from DigestToday, then the same SendDigest
// as a round's, with the workflow's time.
func TestDigestNowSendsTodaysDigest(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var acts *activities.Activities
	env.RegisterActivity(acts)
	due := activities.DigestDue{OwnerID: "o-1", LocalDate: "2026-12-08"}
	env.OnActivity(acts.DigestToday, mock.Anything, mock.MatchedBy(func(in activities.DigestNowInput) bool {
		return in.OwnerID == "o-1" && !in.At.IsZero()
	})).Return(due, nil).Once()
	env.OnActivity(acts.SendDigest, mock.Anything, mock.MatchedBy(func(in activities.DigestInput) bool {
		return in.DigestDue == due && !in.At.IsZero()
	})).Return(activities.DigestResult{Sent: true, MessageID: "m1@test"}, nil).Once()
	env.ExecuteWorkflow(workflows.DigestNow, activities.DigestNowInput{OwnerID: "o-1"})
	require.NoError(t, env.GetWorkflowError())
	var res activities.DigestResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, activities.DigestResult{Sent: true, MessageID: "m1@test"}, res)
	env.AssertExpectations(t)
}
