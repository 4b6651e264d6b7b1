package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

const unknownID = "00000000-0000-4000-8000-000000000000"

func TestUnsubscribeTarget(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal

	got, err := st.UnsubscribeTarget(ctx, d.ContactID, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.UnsubscribeTarget{ContactEmail: "bob@prospect.test", OwnerName: "Ana", DealFound: true}, got)

	// A deal that is not the contact's (or not there) tells nothing about its owner.
	got, err = st.UnsubscribeTarget(ctx, d.ContactID, unknownID)
	require.NoError(t, err)
	require.Equal(t, store.UnsubscribeTarget{ContactEmail: "bob@prospect.test"}, got)
	other, err := st.CreateDeal(ctx, store.NewDeal{Source: "crm", ExternalID: "hs-2", Owner: store.OwnerInput{Email: "cy@vendor.test"},
		Contact: store.ContactInput{Email: "dee@prospect.test"}, EventID: "create:hs-2", SourceTime: time.Now()})
	require.NoError(t, err)
	got, err = st.UnsubscribeTarget(ctx, d.ContactID, other.Deal.ID)
	require.NoError(t, err)
	require.False(t, got.DealFound)

	_, err = st.UnsubscribeTarget(ctx, unknownID, d.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	// An address-only unsubscribe (a mailto opt-out) counts; a bounce does not.
	require.NoError(t, st.Suppress(ctx, store.Suppression{Address: "bob@prospect.test", Reason: "bounce", Source: "smtp"}))
	got, err = st.UnsubscribeTarget(ctx, d.ContactID, d.ID)
	require.NoError(t, err)
	require.False(t, got.Unsubscribed)
	require.NoError(t, st.Suppress(ctx, store.Suppression{Address: "BOB@prospect.test", Reason: "unsubscribe", Source: "mailto"}))
	got, err = st.UnsubscribeTarget(ctx, d.ContactID, d.ID)
	require.NoError(t, err)
	require.True(t, got.Unsubscribed)
}

func TestUnsubscribeContactIsIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.UnsubscribeContact(ctx, d.ContactID, "unsubscribe-link", "one-click")
			require.NoError(t, err)
			if ok {
				mu.Lock()
				added++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, added, "the contact lock serialises the check: one row")
	require.Equal(t, 1, countSuppressions(t, st))
	suppressed, err := st.Suppressed(ctx, d.ContactID, "someone@else.test")
	require.NoError(t, err)
	require.True(t, suppressed)

	// The engagement path finds the same row and adds none.
	rec, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "web", EventID: "u-1", SourceTime: time.Now(), Suppress: "unsubscribe"})
	require.NoError(t, err)
	require.True(t, rec.Suppressed)
	require.False(t, rec.SuppressionAdded)
	require.Equal(t, 1, countSuppressions(t, st))

	_, err = st.UnsubscribeContact(ctx, unknownID, "unsubscribe-link", "")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 1, countSuppressions(t, st), "nothing written for an unknown contact")
}

func TestUnsubscribeContactWaitsForASendHoldingTheLock(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	claim, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m1@mail.test", Lease: time.Minute})
	require.NoError(t, err)
	require.True(t, claim.Granted)

	inSend, release := make(chan struct{}), make(chan struct{})
	var sentAt time.Time
	done := make(chan error, 1)
	go func() {
		_, err := st.SendLocked(ctx, key, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
			close(inSend)
			<-release
			sentAt = time.Now()
			return store.SendOutcome{State: store.EmailSent}
		})
		done <- err
	}()
	<-inSend
	unsub := make(chan error, 1)
	go func() {
		_, err := st.UnsubscribeContact(ctx, d.ContactID, "unsubscribe-link", "")
		unsub <- err
	}()
	select {
	case err := <-unsub:
		t.Fatalf("the opt-out did not wait for the send holding the contact lock (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-unsub)
	require.False(t, sentAt.IsZero())
	entries, err := st.Ledger(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailSent, entries[0].State, "the send that held the lock first completes")

	// The next send finds the opt-out.
	next := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "follow-up", Occurrence: 1}
	_, err = st.ClaimEmail(ctx, store.ClaimRequest{Key: next, ContactID: d.ContactID, Address: "bob@prospect.test",
		Template: "intro", MessageID: "m2@mail.test", Lease: time.Minute})
	require.NoError(t, err)
	out, err := st.SendLocked(ctx, next, d.ContactID, "bob@prospect.test", func(context.Context) store.SendOutcome {
		t.Error("a send ran after a committed opt-out")
		return store.SendOutcome{State: store.EmailSent}
	})
	require.NoError(t, err)
	require.Equal(t, store.EmailSuppressed, out.State)
}
