package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

func countSuppressions(t *testing.T, st *store.Store) int {
	t.Helper()
	var n int
	require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM suppressions`).Scan(&n))
	return n
}

func TestEngagementSuppressesOnceWithItsEvent(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	ev := store.EngagementEvent{DealID: d.ID, Source: "esp", EventID: "b-1", SourceTime: time.Now(), Suppress: "bounce", Detail: "550 5.1.1"}
	first, err := st.RecordEngagement(ctx, ev)
	require.NoError(t, err)
	require.True(t, first.Event.Inserted)
	require.Equal(t, store.EventReceived, first.Event.State)
	require.True(t, first.Suppressed)
	require.True(t, first.SuppressionAdded)
	suppressed, err := st.Suppressed(ctx, "00000000-0000-0000-0000-000000000000", "BOB@prospect.test")
	require.NoError(t, err)
	require.True(t, suppressed, "a bounce suppresses the contact's address")

	again, err := st.RecordEngagement(ctx, ev)
	require.NoError(t, err)
	require.False(t, again.Event.Inserted)
	require.Equal(t, first.Event.ID, again.Event.ID)
	require.True(t, again.Suppressed)
	require.False(t, again.SuppressionAdded)
	require.Equal(t, 1, countSuppressions(t, st))

	// Many reports of the same bounce at once still make one row: the contact lock serialises them.
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ev
			e.EventID = fmt.Sprintf("b-par-%d", i)
			_, err := st.RecordEngagement(ctx, e)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, countSuppressions(t, st))

	unsub, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "web", EventID: "u-1", SourceTime: time.Now(), Suppress: "unsubscribe"})
	require.NoError(t, err)
	require.True(t, unsub.SuppressionAdded)
	suppressed, err = st.Suppressed(ctx, d.ContactID, "new-address@prospect.test")
	require.NoError(t, err)
	require.True(t, suppressed, "an unsubscribe suppresses the contact")

	reply, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "r-1", SourceTime: time.Now()})
	require.NoError(t, err)
	require.False(t, reply.Suppressed)
	require.Equal(t, 2, countSuppressions(t, st))

	rec, err := st.InboundEventByKey(ctx, "mailbox", "r-1")
	require.NoError(t, err)
	require.Equal(t, reply.Event.ID, rec.ID)
	require.Equal(t, d.ID, rec.DealID)
	require.Equal(t, store.KindEngaged, rec.Kind)
	_, err = st.InboundEventByKey(ctx, "mailbox", "r-2")
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = st.RecordEngagement(ctx, store.EngagementEvent{DealID: "00000000-0000-0000-0000-000000000000", Source: "x", EventID: "y", SourceTime: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "x", EventID: "y", SourceTime: time.Now(), Suppress: "manual"})
	require.ErrorContains(t, err, "want bounce, unsubscribe or complaint")

	// A spam complaint suppresses the contact, with its own reason.
	rec2, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "arf-1", SourceTime: time.Now(), Suppress: "complaint"})
	require.NoError(t, err)
	require.True(t, rec2.SuppressionAdded)
	var reason string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT reason FROM suppressions WHERE source = 'mailbox' AND contact_id IS NOT NULL AND reason = 'complaint'`).Scan(&reason))
	require.Equal(t, "complaint", reason)
}

func TestClosedDealEngagementsAreRefusedButSuppressionsApplied(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	received, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "r-0", SourceTime: time.Now()})
	require.NoError(t, err)
	require.NoError(t, st.MarkClosed(ctx, d.ID, "lost", 1, time.Now()))

	reply, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "r-1", SourceTime: time.Now()})
	require.ErrorIs(t, err, store.ErrDealClosed)
	require.Equal(t, store.EventRefused, reply.Event.State)
	retried, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "r-0", SourceTime: time.Now()})
	require.ErrorIs(t, err, store.ErrDealClosed, "a retried event never signalled is refused too")
	require.Equal(t, received.Event.ID, retried.Event.ID)

	bounce, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "esp", EventID: "b-1", SourceTime: time.Now(), Suppress: "bounce"})
	require.NoError(t, err)
	require.Equal(t, store.EventApplied, bounce.Event.State)
	require.Equal(t, store.ReasonClosedSuppressed, bounce.Event.Reason)
	require.True(t, bounce.SuppressionAdded)
	require.Equal(t, 1, countSuppressions(t, st))
}

func TestTaskByID(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	task, err := st.CreateTask(ctx, store.NewTask{DealID: d.ID, Visit: 1, StepID: "call", Occurrence: 1, Kind: "call",
		Title: "Call Bob", DueAt: time.Now(), At: time.Now()})
	require.NoError(t, err)
	got, err := st.TaskByID(ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, task, got)
	_, err = st.TaskByID(ctx, task.ID+1000)
	require.ErrorIs(t, err, store.ErrNotFound)
}
