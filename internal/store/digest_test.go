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

// A reply reported through the API (an engaged event, no message) is in the digest, with the
// contact as its sender; a reply the mailbox read and delivered is listed once, with its
// subject; other engagements are not replies.
func TestDigestRepliesFromEventsAndMessages(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "dg-4").Deal
	since := time.Now().Add(-time.Hour)
	for i, kind := range []string{"reply", "click"} {
		_, err := st.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "crm", EventID: "e" + kind,
			SourceTime: time.Now(), Payload: []byte(`{"kind":"` + kind + `"}`)})
		require.NoError(t, err, i)
	}
	got, err := st.DigestReplies(ctx, d.OwnerID, since)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "bob@prospect.test", got[0].From)
	require.Equal(t, d.ID, got[0].DealID)

	_, _, err = st.RecordInboundMessage(ctx, store.InboundMessage{Key: "mid:x@prospect.test", Source: "api", From: "bob@prospect.test",
		Subject: "Re: hello", Kind: "reply", Match: store.MatchSender, Outcome: store.MessageEngaged, DealIDs: []string{d.ID}})
	require.NoError(t, err)
	got, err = st.DigestReplies(ctx, d.OwnerID, since)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "Re: hello", got[0].Subject, "newest first")

	got, err = st.DigestReplies(ctx, d.OwnerID, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, got, "nothing since then")
}
