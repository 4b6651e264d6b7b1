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

func TestOwnerPauseStartsMovesAndLifts(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	_, held, err := st.ActivePause(ctx, store.PauseScopeOwner, d.OwnerID)
	require.NoError(t, err)
	require.False(t, held)

	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	p, change, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, &until, "holiday", "cli")
	require.NoError(t, err)
	require.Equal(t, store.PauseStarted, change)
	require.Equal(t, 1, p.Revision)
	require.True(t, p.Until.Equal(until))
	require.Equal(t, "holiday", p.Reason)

	// A retry with the same end converges on the row and its revision.
	again, change, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, &until, "", "api")
	require.NoError(t, err)
	require.Equal(t, store.PauseUnchanged, change)
	require.Equal(t, p.ID, again.ID)
	require.Equal(t, 1, again.Revision)
	require.Equal(t, "holiday", again.Reason, "an empty reason keeps the first")

	// A second pause while one holds moves its end: one row, a new revision.
	later := until.Add(24 * time.Hour)
	moved, change, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, &later, "longer holiday", "api")
	require.NoError(t, err)
	require.Equal(t, store.PauseMoved, change)
	require.Equal(t, p.ID, moved.ID)
	require.Equal(t, 2, moved.Revision)
	require.True(t, moved.Until.Equal(later))
	require.True(t, moved.Since.Equal(p.Since), "the pause still began when it began")
	open, _, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, nil, "", "api")
	require.NoError(t, err)
	require.Nil(t, open.Until, "no end: until resumed")
	require.Equal(t, 3, open.Revision)

	active, err := st.ActivePausesOfDeal(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, store.PauseScopeOwner, active[0].Scope)

	lifted, ok, err := st.LiftPause(ctx, store.PauseScopeOwner, d.OwnerID, "cli")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, p.ID, lifted.ID)
	require.NotNil(t, lifted.LiftedAt)
	require.Equal(t, "cli", lifted.LiftedBy)
	// A retried resume finds what it lifted.
	again, ok, err = st.LiftPause(ctx, store.PauseScopeOwner, d.OwnerID, "cli")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, p.ID, again.ID)
	active, err = st.ActivePausesOfDeal(ctx, d.ID)
	require.NoError(t, err)
	require.Empty(t, active)

	// The next pause is a new row.
	next, change, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, nil, "", "cli")
	require.NoError(t, err)
	require.Equal(t, store.PauseStarted, change)
	require.NotEqual(t, p.ID, next.ID)

	_, _, err = st.LiftPause(ctx, store.PauseScopePipeline, "never-paused", "cli")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = st.StartPause(ctx, "deal", d.ID, nil, "", "cli")
	require.ErrorContains(t, err, `pause scope "deal"`)
}

func TestPauseThatRanOutIsLifted(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	until := time.Now().Add(time.Hour)
	p, _, err := st.StartPause(ctx, store.PauseScopePipeline, cadence.Default().ID, &until, "", "cli")
	require.NoError(t, err)
	active, err := st.ActivePausesOfDeal(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, store.PauseScopePipeline, active[0].Scope)

	// Its end passes (moved into the past here).
	_, err = st.Pool().Exec(ctx, `UPDATE pauses SET since = now() - interval '2 hours', until = now() - interval '1 second' WHERE id = $1`, p.ID)
	require.NoError(t, err)
	active, err = st.ActivePausesOfDeal(ctx, d.ID)
	require.NoError(t, err)
	require.Empty(t, active, "until <= now() reads as lifted")
	_, held, err := st.ActivePause(ctx, store.PauseScopePipeline, cadence.Default().ID)
	require.NoError(t, err)
	require.False(t, held)

	// A new pause marks the old one lifted by its end and starts afresh.
	next, change, err := st.StartPause(ctx, store.PauseScopePipeline, cadence.Default().ID, nil, "", "cli")
	require.NoError(t, err)
	require.Equal(t, store.PauseStarted, change)
	require.NotEqual(t, p.ID, next.ID)
	var liftedBy string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT lifted_by FROM pauses WHERE id = $1`, p.ID).Scan(&liftedBy))
	require.Equal(t, "until", liftedBy)
}

func TestOpenDealsOfOwnerAndPipeline(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	a, b, closed := newDeal(t, st, "hs-1").Deal, newDeal(t, st, "hs-2").Deal, newDeal(t, st, "hs-3").Deal
	require.NoError(t, st.MarkClosed(ctx, closed.ID, "lost", 1, time.Now()))
	other, err := st.CreateDeal(ctx, store.NewDeal{Source: "crm", ExternalID: "hs-4",
		Owner: store.OwnerInput{Email: "carl@vendor.test"}, Contact: store.ContactInput{Email: "dora@prospect.test"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:hs-4", SourceTime: time.Now()})
	require.NoError(t, err)

	ids := func(ds []store.Deal) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	ds, err := st.OpenDealsOfOwner(ctx, a.OwnerID)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID, b.ID}, ids(ds), "open deals only")
	ds, err = st.OpenDealsOfPipeline(ctx, cadence.Default().ID)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID, b.ID, other.Deal.ID}, ids(ds))
	ds, err = st.OpenDealsOfPipeline(ctx, "nope")
	require.NoError(t, err)
	require.Empty(t, ds)

	o, err := st.OwnerByEmail(ctx, "ANA@vendor.test")
	require.NoError(t, err)
	require.Equal(t, a.OwnerID, o.ID)
	require.NotNil(t, o.LatestCadenceVersion)
	o, err = st.OwnerByID(ctx, a.OwnerID)
	require.NoError(t, err)
	require.Equal(t, "ana@vendor.test", o.Email)
	_, err = st.OwnerByEmail(ctx, "nobody@vendor.test")
	require.ErrorIs(t, err, store.ErrNotFound)
	// A pipeline with a published cadence is found; one without is ErrNotFound, by name.
	cv, err := st.LatestCadenceOf(ctx, cadence.Default().ID)
	require.NoError(t, err)
	require.Equal(t, cadence.Default().ID, cv.Pipeline.ID)
	_, err = st.LatestCadenceOf(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.EqualError(t, err, `pipeline "nope" has no published cadence: not found`)

	ds, err = st.OpenDealsOnVersion(ctx, cadence.DefaultVersion)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID, b.ID, other.Deal.ID}, ids(ds), "open deals only, oldest first")
}

func TestSupersedeReceivedTouchesOnlyWaitingEventsWithThePrefix(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "hs-1").Deal
	record := func(id string) int64 {
		ev, err := st.RecordStageEvent(ctx, store.StageEvent{Kind: "paused", DealID: d.ID, Source: "ops", EventID: id, SourceTime: time.Now()})
		require.NoError(t, err)
		return ev.ID
	}
	waiting, told, other := record("owner-pause-1.1/"+d.ID), record("owner-pause-1.2/"+d.ID), record("owner-pause-12.1/"+d.ID)
	require.NoError(t, st.MarkEventSignalled(ctx, told))
	n, err := st.SupersedeReceived(ctx, "ops", "owner-pause-1.", "", "superseded")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	state := func(id int64) string {
		var s string
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT state FROM inbound_events WHERE id = $1`, id).Scan(&s))
		return s
	}
	require.Equal(t, "ignored", state(waiting))
	require.Equal(t, "signalled", state(told))
	require.Equal(t, "received", state(other), "pause 12 is not pause 1")

	// With an exception: the earlier revisions of pause 2 in one call, not its current one.
	rev1, rev3, rev10 := record("owner-pause-2.1/"+d.ID), record("owner-pause-2.3/"+d.ID), record("owner-pause-2.10/"+d.ID)
	n, err = st.SupersedeReceived(ctx, "ops", "owner-pause-2.", "owner-pause-2.10/", "superseded")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, "ignored", state(rev1))
	require.Equal(t, "ignored", state(rev3))
	require.Equal(t, "received", state(rev10))
	require.Equal(t, "received", state(other))
}

func TestSendSwitchHoldsAndReleasesIdempotently(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	held, reason, since, err := st.SendHold(ctx)
	require.NoError(t, err)
	require.False(t, held)
	require.Empty(t, reason)
	require.True(t, since.IsZero())

	sw, changed, err := st.HoldSends(ctx, "SMTP relay blocklisted", "ops-ana")
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, sw.Held)
	held, reason, since, err = st.SendHold(ctx)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, "SMTP relay blocklisted", reason)
	require.True(t, since.Equal(sw.ChangedAt))
	require.WithinDuration(t, time.Now(), since, time.Minute)

	// Holding again keeps the first hold's reason, author and time.
	again, changed, err := st.HoldSends(ctx, "other reason", "ops-bob")
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, "SMTP relay blocklisted", again.Reason)
	require.Equal(t, "ops-ana", again.ChangedBy)
	require.True(t, again.ChangedAt.Equal(sw.ChangedAt))

	sw, changed, err = st.ReleaseSends(ctx, "ops-bob")
	require.NoError(t, err)
	require.True(t, changed)
	require.False(t, sw.Held)
	require.Equal(t, "ops-bob", sw.ChangedBy)
	_, changed, err = st.ReleaseSends(ctx, "ops-bob")
	require.NoError(t, err)
	require.False(t, changed)
	held, reason, since, err = st.SendHold(ctx)
	require.NoError(t, err)
	require.False(t, held)
	require.Empty(t, reason)
	require.True(t, since.IsZero())
	state, err := st.SendSwitchState(ctx)
	require.NoError(t, err)
	require.False(t, state.Held)
}

// A pause's lift waits while the sweeper holds the scope's lock to re-send that pause to a
// deal, so the resume always reaches the deal after the pause.
func TestPauseScopeLockHoldsOffALift(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "lock-1").Deal
	_, _, err := st.StartPause(ctx, store.PauseScopeOwner, d.OwnerID, nil, "holiday", "cli")
	require.NoError(t, err)

	inside, release := make(chan struct{}), make(chan struct{})
	locked := make(chan error, 1)
	go func() {
		locked <- st.WithPauseScopeLock(ctx, store.PauseScopeOwner, d.OwnerID, func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	lifted := make(chan error, 1)
	go func() {
		_, _, err := st.LiftPause(ctx, store.PauseScopeOwner, d.OwnerID, "cli")
		lifted <- err
	}()
	select {
	case err := <-lifted:
		t.Fatalf("the lift went through while the scope was locked (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-locked)
	select {
	case err := <-lifted:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the lift never went through")
	}
	_, held, err := st.ActivePause(ctx, store.PauseScopeOwner, d.OwnerID)
	require.NoError(t, err)
	require.False(t, held)
}
