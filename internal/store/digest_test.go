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

// Twenty rounds race for one owner's digest of one local date: exactly one claims it; once
// sent, nobody claims it again, and the next date is a new digest.
func TestDigestLedgerSendsOncePerOwnerAndLocalDate(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	owner := newDeal(t, st, "dg-1").Deal.OwnerID
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := 0
	for range 20 {
		wg.Go(func() {
			c, err := st.ClaimDigest(ctx, owner, day, "digest@test", time.Hour)
			require.NoError(t, err)
			if c.Claimed {
				mu.Lock()
				claimed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, claimed)

	require.NoError(t, st.MarkDigestSent(ctx, owner, day))
	c, err := st.ClaimDigest(ctx, owner, day, "other@test", 0)
	require.NoError(t, err)
	require.False(t, c.Claimed, "a sent digest is never claimed again, whatever the lease")
	require.Equal(t, store.DigestSent, c.State)
	require.Equal(t, "digest@test", c.MessageID)

	next, err := st.ClaimDigest(ctx, owner, day.AddDate(0, 0, 1), "next@test", time.Hour)
	require.NoError(t, err)
	require.True(t, next.Claimed)
}

// A claim older than its lease (a crashed attempt) is taken again, with the same Message-ID.
func TestDigestClaimOutlivedByItsLeaseIsRetaken(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	owner := newDeal(t, st, "dg-2").Deal.OwnerID
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

	first, err := st.ClaimDigest(ctx, owner, day, "first@test", time.Hour)
	require.NoError(t, err)
	require.True(t, first.Claimed)
	busy, err := st.ClaimDigest(ctx, owner, day, "first@test", time.Hour)
	require.NoError(t, err)
	require.False(t, busy.Claimed)
	require.Equal(t, store.DigestClaimed, busy.State)

	time.Sleep(10 * time.Millisecond)
	again, err := st.ClaimDigest(ctx, owner, day, "second@test", time.Millisecond)
	require.NoError(t, err)
	require.True(t, again.Claimed)
	require.Equal(t, "first@test", again.MessageID)
}

// Only reps get a digest: not an owner without a user, not a rep who turned it off, not an
// owner paused now.
func TestDigestOwnersAreRepsNotOffNotPaused(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	owner := newDeal(t, st, "dg-3").Deal.OwnerID

	got, err := st.DigestOwners(ctx, "", 10)
	require.NoError(t, err)
	require.Empty(t, got, "no rep user: no digest")

	_, err = st.AddUser(ctx, "ANA@vendor.test", "Ana", store.RoleRep)
	require.NoError(t, err)
	got, err = st.DigestOwners(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, owner, got[0].ID)

	_, err = st.SetDigestOff(ctx, "ana@vendor.test", true)
	require.NoError(t, err)
	got, err = st.DigestOwners(ctx, "", 10)
	require.NoError(t, err)
	require.Empty(t, got, "digest off")

	_, err = st.SetDigestOff(ctx, "ana@vendor.test", false)
	require.NoError(t, err)
	_, _, err = st.StartPause(ctx, store.PauseScopeOwner, owner, nil, "leave", "cli")
	require.NoError(t, err)
	got, err = st.DigestOwners(ctx, "", 10)
	require.NoError(t, err)
	require.Empty(t, got, "paused owner")

	_, err = st.SetDigestOff(ctx, "nobody@vendor.test", true)
	require.ErrorIs(t, err, store.ErrNotFound)
}
