package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

func newDeal(t *testing.T, st *store.Store, ext string) store.CreatedDeal {
	t.Helper()
	c, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: ext,
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Name: "Ana"},
		Contact:        store.ContactInput{Email: "bob@prospect.test", FirstName: "Bob"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:" + ext, SourceTime: time.Now(),
	})
	require.NoError(t, err)
	return c
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, store.Migrate(ctx, pool))
	require.NoError(t, store.Migrate(ctx, pool))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM cadence_versions WHERE version = 0`).Scan(&n))
	require.Equal(t, 1, n, "the template carries the built-in cadence as version 0")
}

func TestPublishedVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	_, err := st.PublishCadence(ctx, cadence.DefaultVersion, cadence.Default())
	require.NoError(t, err, "publishing the same model again is a no-op")
	changed := cadence.Default()
	changed.Templates["intro"] = cadence.Template{Subject: "new", Text: "new"}
	_, err = st.PublishCadence(ctx, cadence.DefaultVersion, changed)
	require.ErrorContains(t, err, "versions are immutable")
	cv, err := st.PublishCadence(ctx, 1, changed)
	require.NoError(t, err)
	latest, err := st.LatestCadenceOf(ctx, cadence.Default().ID)
	require.NoError(t, err)
	require.Equal(t, cv.Hash, latest.Hash)
	require.Equal(t, "new", latest.Pipeline.Templates["intro"].Subject)
}

func TestCreateDealConvergesOnExternalID(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	first := newDeal(t, st, "hs-1")
	require.True(t, first.Created)
	require.True(t, first.Event.Inserted)
	require.Equal(t, "prospecting", first.Deal.Stage)
	second := newDeal(t, st, "hs-1")
	require.False(t, second.Created)
	require.False(t, second.Event.Inserted, "the same create event is recorded once")
	require.Equal(t, first.Deal.ID, second.Deal.ID)
	require.Equal(t, first.Event.ID, second.Event.ID)
	other := newDeal(t, st, "hs-2")
	require.NotEqual(t, first.Deal.ID, other.Deal.ID)
	require.Equal(t, first.Deal.ContactID, other.Deal.ContactID, "contacts are upserted by email")
	byExt, err := st.DealByExternalID(context.Background(), "crm", "hs-2")
	require.NoError(t, err)
	require.Equal(t, other.Deal.ID, byExt.ID)
}

func TestCreateDealUnknownCadenceWritesNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	_, err := st.CreateDeal(context.Background(), store.NewDeal{Source: "crm", ExternalID: "x",
		Owner: store.OwnerInput{Email: "a@b.test"}, Contact: store.ContactInput{Email: "c@d.test"},
		CadenceVersion: 42, EventID: "e", SourceTime: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
	for _, table := range []string{"owners", "contacts", "deals", "deal_external_ids", "inbound_events"} {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		require.Zero(t, n, table)
	}
}

func TestProjectionIgnoresOlderRevisions(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "p-1").Deal
	now := time.Now().UTC().Truncate(time.Microsecond)
	newer := store.Projection{DealID: d.ID, Revision: 5, Stage: "proposal", Visit: 3, EnteredAt: now,
		Next: []store.PlannedAction{{ItemID: "proposal-followup#1", Kind: "email", At: now.Add(time.Hour), Reason: "3 business days after stage entry"}}}
	wrote, err := st.Project(ctx, newer)
	require.NoError(t, err)
	require.True(t, wrote)
	older := store.Projection{DealID: d.ID, Revision: 4, Stage: "qualification", Visit: 2, EnteredAt: now.Add(-time.Hour)}
	wrote, err = st.Project(ctx, older)
	require.NoError(t, err)
	require.False(t, wrote, "a late retry of an older projection is ignored")
	tl, err := st.DealTimeline(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, "proposal", tl.Deal.Stage)
	require.Equal(t, int64(5), tl.Deal.Revision)
	require.Len(t, tl.Planned, 1)
	require.Equal(t, "proposal-followup#1", tl.Planned[0].ItemID)
	require.Equal(t, now.Add(time.Hour), tl.Deal.NextActionAt.UTC())
}

func TestTasksAreIdempotentAndCancelledPerVisit(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "t-1").Deal
	now := time.Now()
	nt := store.NewTask{DealID: d.ID, Visit: 1, StepID: "call", Occurrence: 1, Kind: "call", Title: "Call Bob", DueAt: now.Add(time.Hour), At: now}
	a, err := st.CreateTask(ctx, nt)
	require.NoError(t, err)
	b, err := st.CreateTask(ctx, nt)
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID, "a retried creation returns the same task")
	require.Equal(t, d.OwnerID, a.OwnerID, "tasks belong to the deal's owner")
	nt.Visit = 2
	_, err = st.CreateTask(ctx, nt)
	require.NoError(t, err)
	n, err := st.CancelVisitTasks(ctx, d.ID, 1, now, "deal moved from qualification to proposal")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	tasks, err := st.Tasks(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, "cancelled", tasks[0].State)
	require.Equal(t, "deal moved from qualification to proposal", tasks[0].CloseReason)
	require.Equal(t, "open", tasks[1].State, "the new visit's task stays open")
}

func TestTransitionsAreRecordedOncePerVisit(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	c := newDeal(t, st, "tr-1")
	tr := store.Transition{DealID: c.Deal.ID, Visit: 1, To: "prospecting", At: time.Now(), Source: "crm",
		SourceEventID: "create:tr-1", InboundEventID: c.Event.ID, Reason: "deal created"}
	require.NoError(t, st.RecordTransition(ctx, tr))
	require.NoError(t, st.RecordTransition(ctx, tr))
	trs, err := st.Transitions(ctx, c.Deal.ID)
	require.NoError(t, err)
	require.Len(t, trs, 1)
	tl, err := st.DealTimeline(ctx, c.Deal.ID)
	require.NoError(t, err)
	require.Equal(t, "applied", tl.Events[0].State)
}

func TestClosedDealRefusesEventsUntilReopened(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "c-1").Deal
	now := time.Now()
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 4, From: "negotiation", To: "lost", At: now, Source: "crm"}))
	require.NoError(t, st.MarkClosed(ctx, d.ID, "lost", 4, now))

	ev, err := st.RecordStageEvent(ctx, store.StageEvent{DealID: d.ID, Source: "crm", EventID: "late-1", SourceTime: now})
	require.ErrorIs(t, err, store.ErrDealClosed)
	require.Equal(t, store.EventRefused, ev.State, "the event is recorded, and refused")

	// A claim whose run has not started leaves the deal closed, keeps another reopen out,
	// and is continued by the same reopen sent again.
	claim, err := st.BeginReopen(ctx, d.ID, "cli", "reopen-1", now, nil)
	require.NoError(t, err)
	require.Equal(t, 4, claim.PrevVisit, "the visit counter comes from the recorded transitions")
	got, err := st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.True(t, got.Closed())
	_, err = st.BeginReopen(ctx, d.ID, "cli", "reopen-2", now, nil)
	require.ErrorIs(t, err, store.ErrDealNotClosed, "another reopen is under way")
	again, err := st.BeginReopen(ctx, d.ID, "cli", "reopen-1", now, nil)
	require.NoError(t, err)
	require.Equal(t, claim, again)

	require.NoError(t, st.FinishReopen(ctx, d.ID, claim.EventID))
	got, err = st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.False(t, got.Closed())
	state, _, err := st.InboundEventState(ctx, claim.EventID)
	require.NoError(t, err)
	require.Equal(t, store.EventSignalled, state)
	_, err = st.BeginReopen(ctx, d.ID, "cli", "reopen-3", now, nil)
	require.ErrorIs(t, err, store.ErrDealNotClosed)
}

func TestDecidedEventsKeepTheirFirstOutcome(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	c := newDeal(t, st, "ev-1")
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: c.Deal.ID, Visit: 1, To: "prospecting", At: time.Now(),
		Source: "crm", SourceEventID: "create:ev-1", InboundEventID: c.Event.ID}))
	// A redelivered copy of the create, judged a duplicate, must not hide that it applied.
	require.NoError(t, st.SetEventOutcome(ctx, c.Event.ID, "duplicate", "already applied"))
	tl, err := st.DealTimeline(ctx, c.Deal.ID)
	require.NoError(t, err)
	require.Equal(t, "applied", tl.Events[0].State)
}

func TestConflictingTransitionForAVisitIsAnError(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "cf-1").Deal
	tr := store.Transition{DealID: d.ID, Visit: 2, From: "prospecting", To: "qualification", At: time.Now(), Source: "crm", SourceEventID: "e-1"}
	require.NoError(t, st.RecordTransition(ctx, tr))
	require.NoError(t, st.RecordTransition(ctx, tr), "a retry is a no-op")
	other := tr
	other.To, other.SourceEventID = "proposal", "e-2"
	require.ErrorContains(t, st.RecordTransition(ctx, other), "already recorded as a move to qualification")
}

func TestRetriedEventForAClosedDealIsRefused(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "rc-1").Deal
	first, err := st.RecordStageEvent(ctx, store.StageEvent{DealID: d.ID, Source: "crm", EventID: "e-1", SourceTime: time.Now()})
	require.NoError(t, err)
	require.Equal(t, store.EventReceived, first.State, "recorded, never signalled (Temporal was down)")
	require.NoError(t, st.MarkClosed(ctx, d.ID, "lost", 3, time.Now()))
	again, err := st.RecordStageEvent(ctx, store.StageEvent{DealID: d.ID, Source: "crm", EventID: "e-1", SourceTime: time.Now()})
	require.ErrorIs(t, err, store.ErrDealClosed)
	require.Equal(t, store.EventRefused, again.State)
}

func TestNewerTransitionReopensAClosedDeal(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "ro-1").Deal
	now := time.Now()
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 3, From: "proposal", To: "lost", At: now, Source: "crm", SourceEventID: "lost"}))
	require.NoError(t, st.MarkClosed(ctx, d.ID, "lost", 3, now))
	// A late retry of the closing transition leaves the deal closed …
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 3, From: "proposal", To: "lost", At: now, Source: "crm", SourceEventID: "lost"}))
	got, err := st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.True(t, got.Closed())
	// … the reopened run's first transition opens it, even if the reopen's own commit was lost.
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 4, From: "lost", To: "qualification", At: now, Source: "cli", SourceEventID: "reopen"}))
	got, err = st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.False(t, got.Closed())
	last, err := st.LastVisit(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 4, last)
}

func TestSendNotAttemptedReleasesTheClaim(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	d := newDeal(t, st, "sl-1").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	claim, err := st.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@test", Lease: time.Hour})
	require.NoError(t, err)
	require.True(t, claim.Granted)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the worker is shutting down: the send never starts
	called := false
	_, err = st.SendLocked(ctx, key, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
		called = true
		return store.SendOutcome{State: store.EmailSent}
	})
	require.Error(t, err)
	require.False(t, called)
	next, err := st.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m2@test", Lease: time.Hour})
	require.NoError(t, err)
	require.True(t, next.Granted, "the lease was released: the retry need not wait for it")
	require.False(t, next.Ambiguous, "nothing reached SMTP, so nothing is ambiguous")
	require.Equal(t, "m1@test", next.MessageID)
}

func TestOutcomeIsRecordedEvenWhenTheContextEndsDuringTheSend(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	d := newDeal(t, st, "sl-2").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err := st.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@test", Lease: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out, err := st.SendLocked(ctx, key, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
		cancel() // the activity's deadline passes just after the server said 250
		return store.SendOutcome{State: store.EmailSent, Detail: "250 queued"}
	})
	require.NoError(t, err)
	require.Equal(t, store.EmailSent, out.State)
	entries, err := st.Ledger(context.Background(), d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailSent, entries[0].State, "an accepted message is never left looking unsent")
}

func TestAbandonEmailClosesOnlyUnfinishedRows(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "ab-1").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@test", Lease: time.Hour})
	require.NoError(t, err)
	require.NoError(t, st.AbandonEmail(ctx, key, "retries ran out"))
	entries, err := st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailSending, entries[0].State, "a live lease is left alone")
	_, err = st.SendLocked(ctx, key, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
		return store.SendOutcome{State: store.EmailRetry, Code: 451}
	})
	require.NoError(t, err)
	require.NoError(t, st.AbandonEmail(ctx, key, "retries ran out"))
	entries, err = st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailFailed, entries[0].State)
	require.Equal(t, "retries ran out", entries[0].Detail)
}

// An attempt vanished after the relay's 250 (its outcome write never committed) and the
// contact opted out before the retry: nothing is sent again, and the ledger says the message
// may have been delivered and keeps its envelope.
func TestOptOutAfterALostOutcomeSaysTheEmailMayHaveBeenDelivered(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "md-1").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	req := store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test", Template: "intro",
		MessageID: "m1@test", Lease: 2 * time.Second}
	first, err := st.ClaimEmail(ctx, req)
	require.NoError(t, err)
	require.True(t, first.Granted)

	busy, err := st.ClaimEmail(ctx, req)
	require.NoError(t, err)
	require.True(t, busy.Busy)
	require.Greater(t, busy.LeaseLeft, time.Duration(0))
	require.LessOrEqual(t, busy.LeaseLeft, 2*time.Second, "the remainder of the lease, for the retry to wait exactly that")

	require.NoError(t, st.Suppress(ctx, store.Suppression{ContactID: d.ContactID, Reason: "unsubscribe", Source: "link"}))
	time.Sleep(busy.LeaseLeft + 100*time.Millisecond)
	retry, err := st.ClaimEmail(ctx, req)
	require.NoError(t, err)
	require.True(t, retry.Granted)
	require.True(t, retry.Ambiguous, "the first attempt ended without an outcome")
	composed := store.Envelope{Subject: "Pilot for Prospect Inc"}
	out, err := st.SendLockedSpaced(ctx, key, d.ContactID, "bob@prospect.test", 0, composed, func(context.Context) store.SendOutcome {
		t.Fatal("a committed opt-out is never followed by a send")
		return store.SendOutcome{}
	})
	require.NoError(t, err)
	require.Equal(t, store.EmailSuppressed, out.State)

	entries, err := st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailSuppressed, entries[0].State)
	require.Equal(t, store.DeliveredMaybe, entries[0].Delivered)
	require.Contains(t, entries[0].Detail, "may have been delivered")
	again, err := st.ClaimEmail(ctx, req)
	require.NoError(t, err)
	require.False(t, again.Granted)
	require.Equal(t, composed, again.Envelope, "the envelope of the message that may be in the mailbox is kept")

	// A row nothing was attempted for says "no" and pins no envelope.
	next := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "followup", Occurrence: 1}
	nreq := store.ClaimRequest{Key: next, ContactID: d.ContactID, Address: "bob@prospect.test", Template: "followup", MessageID: "m2@test", Lease: time.Minute}
	_, err = st.ClaimEmail(ctx, nreq)
	require.NoError(t, err)
	_, err = st.SendLockedSpaced(ctx, next, d.ContactID, "bob@prospect.test", 0, composed, func(context.Context) store.SendOutcome {
		t.Fatal("suppressed")
		return store.SendOutcome{}
	})
	require.NoError(t, err)
	entries, err = st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.DeliveredNo, entries[1].Delivered)
	got, err := st.ClaimEmail(ctx, nreq)
	require.NoError(t, err)
	require.Equal(t, store.Envelope{}, got.Envelope)
}

func TestCancelEmailClosesARetriedRowWithItsReason(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "ce-1").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@test", Lease: time.Hour})
	require.NoError(t, err)
	_, err = st.SendLocked(ctx, key, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
		return store.SendOutcome{State: store.EmailRetry, Code: 421}
	})
	require.NoError(t, err)
	require.NoError(t, st.CancelEmail(ctx, key, "not sent: the deal moved from prospecting to won"))
	entries, err := st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailCancelled, entries[0].State)
	require.Equal(t, "not sent: the deal moved from prospecting to won", entries[0].Detail)
	require.Equal(t, store.DeliveredNo, entries[0].Delivered)
	claim, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@test", Lease: time.Hour})
	require.NoError(t, err)
	require.False(t, claim.Granted, "a cancelled email is final: a late retry never sends it")
}
