package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
)

// fixture is a real PostgreSQL database, a real in-process SMTP server and the activities
// wired to both, with one deal on the built-in cadence.
type fixture struct {
	t      *testing.T
	store  *store.Store
	smtp   *smtptest.Server
	acts   *activities.Activities
	deal   store.Deal
	secret []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	srv := smtptest.Start(t)
	sender, err := mail.NewSender(mail.Config{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSPolicy("none"), Timeout: 5 * time.Second})
	require.NoError(t, err)
	f := &fixture{t: t, store: st, smtp: srv, secret: []byte("0123456789abcdef0123456789abcdef")}
	f.acts = &activities.Activities{Store: st, Sender: sender, Mail: activities.MailSettings{
		MessageIDSecret: f.secret, MessageIDDomain: "mail.test", DefaultFrom: "Sales <sales@vendor.test>",
		PostalAddress: "Vendor GmbH, Hauptstr. 1, 10115 Berlin",
	}}
	created, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "test", ExternalID: t.Name(), Title: "Pilot",
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor"},
		Contact:        store.ContactInput{Email: "Bob@Prospect.test", FirstName: "Bob", LastName: "Buyer", Company: "Prospect Inc"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create-" + t.Name(), SourceTime: time.Now(),
	})
	require.NoError(t, err)
	f.deal = created.Deal
	return f
}

func (f *fixture) input(step string, occurrence int) activities.SendInput {
	return activities.SendInput{DealID: f.deal.ID, CadenceVersion: cadence.DefaultVersion, Visit: 1, StepID: step,
		Occurrence: occurrence, Template: "intro"}
}

// send runs one attempt of the activity, as one Temporal attempt would.
func (f *fixture) send(in activities.SendInput) (activities.SendResult, error) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.SendEmail, in)
	if err != nil {
		return activities.SendResult{}, err
	}
	var res activities.SendResult
	require.NoError(f.t, val.Get(&res))
	return res, nil
}

func (f *fixture) ledger() store.LedgerEntry {
	entries, err := f.store.Ledger(context.Background(), f.deal.ID)
	require.NoError(f.t, err)
	require.Len(f.t, entries, 1)
	return entries[0]
}

func (f *fixture) suppressed() bool {
	ok, err := f.store.Suppressed(context.Background(), f.deal.ContactID, "bob@prospect.test")
	require.NoError(f.t, err)
	return ok
}

func errType(t *testing.T, err error) string {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
	return appErr.Type()
}

func TestSendOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.input("intro", 1)
	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	want := mail.MessageID(f.secret, store.LedgerKey{DealID: f.deal.ID, Visit: 1, StepID: "intro", Occurrence: 1}.String(), "mail.test")
	require.Equal(t, want, res.MessageID)

	msgs := f.smtp.WaitForMessages(t, 1, 5*time.Second)
	require.Equal(t, want, msgs[0].MessageID)
	require.Equal(t, "Ana from Vendor: a quick idea for Prospect Inc", msgs[0].Subject)
	require.Equal(t, []string{"Bob@Prospect.test"}, msgs[0].To)
	require.Contains(t, string(msgs[0].Data), "Hi Bob,")
	require.Contains(t, string(msgs[0].Data), "Hauptstr. 1", "postal address footer")
	require.NotContains(t, string(msgs[0].Data), f.deal.ID, "the Message-ID reveals nothing of the deal")

	// A retry of an activity that already sent (its completion was lost) sends nothing.
	again, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, again.Outcome)
	require.Equal(t, want, again.MessageID)
	require.Equal(t, 1, f.smtp.Attempts(), "never a second SMTP transaction for a sent key")
	e := f.ledger()
	require.Equal(t, store.EmailSent, e.State)
	require.Equal(t, 1, e.Attempts)
	require.False(t, e.Ambiguous)
	require.NotNil(t, e.SentAt)
}

func TestTransientFailureIsRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Code: 451, Enhanced: "4.3.0", Message: "try again later"})
	in := f.input("intro", 1)
	_, err := f.send(in)
	require.Error(t, err)
	require.Equal(t, activities.ErrTypeSMTPTransient, errType(t, err))
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.False(t, appErr.NonRetryable())
	e := f.ledger()
	require.Equal(t, store.EmailRetry, e.State)
	require.Equal(t, 451, *e.SMTPCode)
	require.Empty(t, f.smtp.Messages())

	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	require.Equal(t, 2, res.Attempts)
	require.Len(t, f.smtp.WaitForMessages(t, 1, 5*time.Second), 1)
	require.False(t, f.ledger().Ambiguous, "a 4xx reply proves nothing was accepted")
}

func TestHardBounceSuppressesAddressWithoutRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"})
	res, err := f.send(f.input("intro", 1))
	require.NoError(t, err, "a permanent failure is an outcome, not an error to retry")
	require.Equal(t, activities.SendBounced, res.Outcome)
	require.True(t, f.suppressed())
	e := f.ledger()
	require.Equal(t, store.EmailBounced, e.State)
	require.Equal(t, "5.1.1", e.Enhanced)

	// Suppression wins for every later email to the address, whatever the deal.
	later, err := f.send(activities.SendInput{DealID: f.deal.ID, CadenceVersion: 0, Visit: 1, StepID: "value-followup", Occurrence: 1, Template: "value-followup"})
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, later.Outcome)
	require.Equal(t, 1, f.smtp.Attempts())
}

func TestPolicyRejectionDoesNotBlameTheProspect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Code: 554, Enhanced: "5.7.1", Message: "rejected by policy"})
	res, err := f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendRejected, res.Outcome)
	require.False(t, f.suppressed(), "5.7.x is our problem, not the prospect's")
	require.Equal(t, store.EmailRejected, f.ledger().State)
	again, err := f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendRejected, again.Outcome, "not retried")
	require.Equal(t, 1, f.smtp.Attempts())
}

func TestDropAfterFinalDotIsAmbiguousAndRetriedWithSameMessageID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Drop: true})
	in := f.input("intro", 1)
	_, err := f.send(in)
	require.Error(t, err)
	require.Equal(t, activities.ErrTypeSMTPAmbiguous, errType(t, err))
	e := f.ledger()
	require.Equal(t, store.EmailAmbiguous, e.State)
	require.True(t, e.Ambiguous)
	firstID := e.MessageID

	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	require.True(t, res.Ambiguous)
	require.Equal(t, firstID, res.MessageID)
	msgs := f.smtp.WaitForMessages(t, 1, 5*time.Second)
	require.Equal(t, firstID, msgs[0].MessageID, "the retry reuses the Message-ID, so a duplicate copy is recognisable")
	e = f.ledger()
	require.Equal(t, store.EmailSent, e.State)
	require.True(t, e.Ambiguous, "the ledger keeps the ambiguity")
	require.Equal(t, 2, e.Attempts)
}

func TestAttemptLostBetweenClaimAndOutcomeIsAmbiguous(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.input("intro", 1)
	key := store.LedgerKey{DealID: f.deal.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	// A worker claimed the row and died: simulate with a claim whose lease is already over.
	claim, err := f.store.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: f.deal.ContactID,
		Address: "bob@prospect.test", Template: "intro", MessageID: "orphan@mail.test", Lease: time.Millisecond})
	require.NoError(t, err)
	require.True(t, claim.Granted)
	time.Sleep(10 * time.Millisecond)
	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	require.True(t, res.Ambiguous)
	require.Equal(t, "orphan@mail.test", res.MessageID, "the Message-ID stored at claim is reused")
}

func TestLiveLeaseBlocksAConcurrentAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := store.LedgerKey{DealID: f.deal.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err := f.store.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: f.deal.ContactID,
		Address: "bob@prospect.test", Template: "intro", MessageID: "busy@mail.test", Lease: time.Hour})
	require.NoError(t, err)
	_, err = f.send(f.input("intro", 1))
	require.Error(t, err)
	require.Equal(t, activities.ErrTypeClaimBusy, errType(t, err))
	require.Zero(t, f.smtp.Attempts())
}

func TestOptOutCommittedWhileSendWaitsOnContactLockWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	pool := f.store.Pool()

	// The unsubscribe path holds the contact's lock and is about to commit its suppression.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('contact:' || $1::text, 0))`, f.deal.ContactID)
	require.NoError(t, err)

	var (
		wg      sync.WaitGroup
		res     activities.SendResult
		sendErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, sendErr = f.send(f.input("intro", 1))
	}()
	require.Eventually(t, func() bool {
		var waiting int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting)
		return waiting == 1
	}, 10*time.Second, 10*time.Millisecond, "the send waits on the contact lock")

	_, err = tx.Exec(ctx, `INSERT INTO suppressions (contact_id, reason, source) VALUES ($1, 'unsubscribe', 'one-click')`, f.deal.ContactID)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	wg.Wait()

	require.NoError(t, sendErr)
	require.Equal(t, activities.SendSuppressed, res.Outcome)
	require.Zero(t, f.smtp.Attempts(), "no SMTP transaction after a committed opt-out")
	require.Equal(t, store.EmailSuppressed, f.ledger().State)
}

func TestOptOutWaitsForASendInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Stall: 700 * time.Millisecond})
	var (
		wg      sync.WaitGroup
		sentAt  time.Time
		sendErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, sendErr = f.send(f.input("intro", 1))
		sentAt = time.Now()
	}()
	require.Eventually(t, func() bool { return f.smtp.Attempts() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, f.store.Suppress(ctx, store.Suppression{ContactID: f.deal.ContactID, Reason: "unsubscribe", Source: "one-click"}))
	suppressedAt := time.Now()
	wg.Wait()
	require.NoError(t, sendErr)
	require.False(t, suppressedAt.Before(sentAt), "the opt-out took the same contact lock and waited for the send to record its outcome")
	require.Len(t, f.smtp.Messages(), 1)

	next, err := f.send(activities.SendInput{DealID: f.deal.ID, CadenceVersion: 0, Visit: 1, StepID: "value-followup", Occurrence: 1, Template: "value-followup"})
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, next.Outcome)
	require.Equal(t, 1, f.smtp.Attempts())
}

func TestNewDealForSuppressedContactStaysSuppressed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, f.store.Suppress(ctx, store.Suppression{Address: "BOB@prospect.test", Reason: "unsubscribe", Source: "one-click"}))
	again, err := f.store.CreateDeal(ctx, store.NewDeal{Source: "test", ExternalID: "second-" + t.Name(),
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob@prospect.test"},
		CadenceVersion: 0, EventID: "create-second", SourceTime: time.Now()})
	require.NoError(t, err)
	require.Equal(t, f.deal.ContactID, again.Deal.ContactID)
	res, err := f.send(activities.SendInput{DealID: again.Deal.ID, CadenceVersion: 0, Visit: 1, StepID: "intro", Occurrence: 1, Template: "intro"})
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, res.Outcome)
	require.Zero(t, f.smtp.Attempts())
}

func TestRenderErrorIsPermanent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := cadence.Default()
	p.Templates["intro"] = cadence.Template{Subject: "Hi {{.Contact.Nickname}}", Text: "x"}
	_, err := f.store.PublishCadence(context.Background(), 1, p)
	require.NoError(t, err)
	res, err := f.send(activities.SendInput{DealID: f.deal.ID, CadenceVersion: 1, Visit: 1, StepID: "intro", Occurrence: 1, Template: "intro"})
	require.NoError(t, err)
	require.Equal(t, activities.SendFailed, res.Outcome)
	require.Contains(t, f.ledger().Detail, "Nickname")
	require.Zero(t, f.smtp.Attempts())
}

func TestAddressOnlyOptOutAlsoWaitsForASendInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Stall: 700 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := f.send(f.input("intro", 1))
		done <- err
	}()
	require.Eventually(t, func() bool { return f.smtp.Attempts() == 1 }, 5*time.Second, 5*time.Millisecond)
	began := time.Now()
	// An opt-out that names only the address (a mailto unsubscribe, a complaint feed).
	require.NoError(t, f.store.Suppress(context.Background(), store.Suppression{Address: "BOB@prospect.test", Reason: "complaint", Source: "feedback-loop"}))
	require.Greater(t, time.Since(began), 300*time.Millisecond, "it took the contact's lock")
	require.NoError(t, <-done)
	require.Equal(t, store.EmailSent, f.ledger().State)
}
