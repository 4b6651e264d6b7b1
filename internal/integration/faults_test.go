package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
)

// breakSendConnection terminates the database connection that holds a contact's send lock:
// the one the send activity records its outcome on, mid-send.
func breakSendConnection(t *testing.T, dbURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("connect to break the send's connection: %v", err)
		return
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `
		SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() AND l.pid <> pg_backend_pid()`).Scan(&n)
	if err != nil || n == 0 {
		t.Errorf("break the send's connection: %d terminated, %v", n, err)
	}
}

func ledgerRow(step string) func(store.Timeline) bool {
	return func(tl store.Timeline) bool {
		for _, e := range tl.Emails {
			if e.Key.StepID == step && store.EmailTerminal(e.State) {
				return true
			}
		}
		return false
	}
}

// The relay accepts the intro with 250, but the send's connection to PostgreSQL dies before
// the outcome is written. The retry comes as soon as the claim's lease ends (not minutes
// later on the backoff), sends the same Message-ID again, and the ledger says the outcome
// was ambiguous.
func TestLostOutcomeIsRetriedWhenTheLeaseEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-outcome-lost", fixturePipeline(time.Hour))
	e.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Before: func() { breakSendConnection(t, e.dbURL) }})
	e.start()
	created := e.create("outcome-lost-1")

	msgs := e.smtp.WaitForMessages(t, 2, activities.ClaimLease+time.Minute)
	require.Equal(t, msgs[0].MessageID, msgs[1].MessageID, "the retry reuses the Message-ID")
	tl := e.eventually("the intro recorded", 30*time.Second, ledgerRow("intro"), created.DealID)
	row := tl.Emails[0]
	require.Equal(t, store.EmailSent, row.State)
	require.True(t, row.Ambiguous, "the first attempt's outcome was lost")
	require.Equal(t, 2, row.Attempts)
	leaseEnd := row.ClaimedAt.Add(activities.ClaimLease)
	late := msgs[1].ReceivedAt.Sub(leaseEnd)
	t.Logf("lease ended %s; retry arrived %s after it", leaseEnd.Format(time.RFC3339Nano), late)
	require.GreaterOrEqual(t, late, -time.Second, "never before the lease ends")
	require.Less(t, late, 5*time.Second, "within a few seconds of the lease's end")
	require.Len(t, e.smtp.Messages(), 2)
}

// The relay refuses the address at RCPT (550 5.1.1): the address is suppressed, the owner
// gets the bounce task, the deal's next emails are not planned, and nothing more is sent.
func TestHardBounceAtRcptStopsTheDeal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-bounce", fixturePipeline(2*time.Second))
	e.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"})
	e.start()
	created := e.create("bounce-1")

	tl := e.eventually("the bounce task", 30*time.Second, func(tl store.Timeline) bool { return len(tl.Tasks) == 1 }, created.DealID)
	require.Equal(t, "exit-bounce", tl.Tasks[0].StepID)
	require.Equal(t, "Email to Bob bounced: find a working address", tl.Tasks[0].Title)
	require.Equal(t, store.EmailBounced, tl.Emails[0].State)
	suppressed, err := e.store.Suppressed(context.Background(), tl.Deal.ContactID, "bounce-1@prospect.test")
	require.NoError(t, err)
	require.True(t, suppressed)
	view := e.view(created.DealID)
	require.Equal(t, "the address bounced", view.EmailsStopped)
	require.Equal(t, []string{"stale"}, itemIDs(view.Next), "no email is listed as next")

	time.Sleep(6 * time.Second) // both follow-ups would have been attempted by now
	require.Equal(t, 1, e.smtp.Attempts(), "no later send")
	tl, err = e.store.DealTimeline(context.Background(), created.DealID)
	require.NoError(t, err)
	require.Len(t, tl.Emails, 1, "no later email was even claimed")
	require.Len(t, tl.Tasks, 1, "the exit task once")
}
