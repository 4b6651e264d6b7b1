package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

func TestReceivedEventsOldestFirstAndLockedOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := context.Background()
	a := newDeal(t, st, "hs-1")
	b := newDeal(t, st, "hs-2")
	// hs-2's create has waited longest; hs-1's was signalled.
	_, err := pool.Exec(ctx, `UPDATE inbound_events SET received_at = now() - interval '5 minutes' WHERE id = $1`, b.Event.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE inbound_events SET received_at = now() - interval '2 minutes' WHERE id = $1`, a.Event.ID)
	require.NoError(t, err)
	c := newDeal(t, st, "hs-3") // just received

	rows, err := st.ReceivedEvents(ctx, time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, rows, 2, "the fresh one is left alone")
	require.Equal(t, []int64{b.Event.ID, a.Event.ID}, []int64{rows[0].ID, rows[1].ID})
	require.Equal(t, store.KindCreated, rows[0].Kind)
	require.Equal(t, b.Deal.ID, rows[0].DealID)
	require.Equal(t, "create:hs-2", rows[0].SourceEventID)
	require.JSONEq(t, `{}`, string(rows[0].Payload))

	rows, err = st.ReceivedEvents(ctx, 0, 1)
	require.NoError(t, err)
	require.Len(t, rows, 1, "the limit holds")

	require.NoError(t, st.MarkEventSignalled(ctx, a.Event.ID))
	rows, err = st.ReceivedEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{b.Event.ID, c.Event.ID}, []int64{rows[0].ID, rows[1].ID})

	// A row the sweeper tried goes behind those it never tried, and then by its last try:
	// rows that keep failing never hold back newer ones.
	require.NoError(t, st.NoteSweepAttempt(ctx, b.Event.ID))
	rows, err = st.ReceivedEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{c.Event.ID, b.Event.ID}, []int64{rows[0].ID, rows[1].ID})
	require.NoError(t, st.NoteSweepAttempt(ctx, c.Event.ID))
	rows, err = st.ReceivedEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{b.Event.ID, c.Event.ID}, []int64{rows[0].ID, rows[1].ID}, "the least recently tried first")
	var attempts int
	require.NoError(t, pool.QueryRow(ctx, `SELECT sweep_attempts FROM inbound_events WHERE id = $1`, b.Event.ID).Scan(&attempts))
	require.Equal(t, 1, attempts)

	unlock, ok, err := st.LockEvent(ctx, b.Event.ID)
	require.NoError(t, err)
	require.True(t, ok)
	_, again, err := st.LockEvent(ctx, b.Event.ID)
	require.NoError(t, err)
	require.False(t, again, "another session holds it")
	otherUnlock, other, err := st.LockEvent(ctx, c.Event.ID)
	require.NoError(t, err)
	require.True(t, other, "one event's lock holds no other")
	otherUnlock()
	unlock()
	unlock2, ok, err := st.LockEvent(ctx, b.Event.ID)
	require.NoError(t, err)
	require.True(t, ok, "free again once unlocked")
	unlock2()

	state, _, err := st.InboundEventState(ctx, b.Event.ID)
	require.NoError(t, err)
	require.Equal(t, store.EventReceived, state)
	_, _, err = st.InboundEventState(ctx, 999999)
	require.ErrorIs(t, err, store.ErrNotFound)
}
