package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

func TestMigrateInFlightDeal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-migrate", fixturePipeline(time.Hour))
	e.start()
	created := e.create("migrate-1")
	other := e.create("migrate-2")
	e.smtp.WaitForMessages(t, 2, 30*time.Second)
	for _, id := range []string{created.DealID, other.DealID} {
		e.eventually("the intro recorded", 10*time.Second, func(tl store.Timeline) bool {
			return len(tl.Emails) == 1 && tl.Emails[0].State == store.EmailSent && len(tl.Planned) > 0
		}, id)
	}

	// Version 2 follows up after 3 seconds instead of an hour.
	v2, err := e.store.PublishCadence(context.Background(), 2, fixturePipeline(3*time.Second))
	require.NoError(t, err)

	dry, err := e.svc.Migrate(context.Background(), deals.MigrateRequest{From: 1, To: 2, DryRun: true})
	require.NoError(t, err)
	require.Len(t, dry, 2)
	require.Equal(t, "would-migrate", dry[0].State)
	require.Contains(t, dry[0].Changes[0], "moves value-followup#1")
	time.Sleep(4 * time.Second)
	require.Len(t, e.smtp.Messages(), 2, "a dry run changes nothing")

	res, err := e.svc.Migrate(context.Background(), deals.MigrateRequest{From: 1, To: v2.Version})
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, "signalled", res[0].State)
	require.Equal(t, "signalled", res[1].State, "every deal gets its own migration event")
	e.smtp.WaitForMessages(t, 6, 40*time.Second)
	e.eventually("the other deal on version 2 too", 15*time.Second, func(tl store.Timeline) bool {
		return tl.Deal.CadenceVersion == 2 && len(tl.Emails) == 3
	}, other.DealID)
	tl := e.eventually("the deal on version 2 with three emails sent", 15*time.Second, func(tl store.Timeline) bool {
		return tl.Deal.CadenceVersion == 2 && len(tl.Emails) == 3
	}, created.DealID)
	for _, em := range tl.Emails {
		require.Equal(t, 1, em.Attempts, "%s sent once", em.Key.StepID)
	}
	require.Equal(t, "intro", tl.Emails[0].Key.StepID, "the intro was not resent")
	states := map[string]string{}
	for _, ev := range tl.Events {
		states[ev.Kind] = ev.State
	}
	require.Equal(t, "applied", states["migrate"])
	require.Equal(t, int64(2), e.view(created.DealID).CadenceVersion)

	again, err := e.svc.Migrate(context.Background(), deals.MigrateRequest{From: 1, To: 2})
	require.NoError(t, err)
	require.Empty(t, again, "no deal is left on version 1")
	e.saveHistory("migrate", "deal/"+created.DealID, created.RunID)
}
