package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// sentTo counts the messages the SMTP server received for an address.
func (e *env) sentTo(addr string) int {
	n := 0
	for _, m := range e.smtp.Messages() {
		for _, to := range m.To {
			if to == addr {
				n++
			}
		}
	}
	return n
}

func eventStates(tl store.Timeline) map[string]string {
	states := map[string]string{}
	for _, ev := range tl.Events {
		states[ev.Kind+" "+ev.Source] = ev.State
	}
	return states
}

// On the real stack: a deal created while its owner is on holiday starts paused and sends
// nothing until the owner is back; an imported deal skips its stage's first email; a deal's
// own pause holds it and the workflow records each pause event applied.
func TestPausesAndImportOnTheRealStack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-pause", fixturePipeline(2*time.Second))
	e.start()
	ctx := context.Background()

	// The owner exists (an earlier deal, lost) and goes on holiday.
	first := e.create("pause-0")
	e.moveTo(first.DealID, "lost", "lose-0", time.Now())
	e.eventually("the first deal closed", 20*time.Second, func(tl store.Timeline) bool { return tl.Deal.Closed() }, first.DealID)
	held, err := e.svc.PauseOwner(ctx, deals.ScopePauseRequest{Target: "ana@vendor.test", Reason: "holiday", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 0, held.Deals, "a closed deal is not told")

	paused := e.create("pause-1")
	time.Sleep(3 * time.Second)
	require.Zero(t, e.sentTo("pause-1@prospect.test"), "nothing is sent while the owner is away")
	v := e.view(paused.DealID)
	require.True(t, v.Paused)
	require.Len(t, v.Pauses, 1)
	require.Equal(t, workflows.ScopeOwner, v.Pauses[0].Scope)

	back, err := e.svc.ResumeOwner(ctx, deals.ScopeResumeRequest{Target: "ana@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 1, back.Signalled)
	e.eventually("the intro after the holiday", 20*time.Second, func(tl store.Timeline) bool {
		return len(tl.Emails) > 0 && tl.Emails[0].State == "sent" && tl.Emails[0].Key.StepID == "intro"
	}, paused.DealID)
	require.Equal(t, 1, e.sentTo("pause-1@prospect.test"))
	e.eventually("the owner's resume applied", 10*time.Second, func(tl store.Timeline) bool {
		return eventStates(tl)["resumed ops"] == "applied"
	}, paused.DealID)
	require.False(t, e.view(paused.DealID).Paused)

	// An imported deal: its intro counts as sent; the follow-up comes 2 s after the import.
	v1 := e.cadence.Version
	imported, err := e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "import-1", CadenceVersion: &v1, Import: true,
		Owner:   store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor"},
		Contact: store.ContactInput{Email: "import-1@prospect.test", FirstName: "Carol", Company: "Import Inc"}})
	require.NoError(t, err)
	tl := e.eventually("the imported deal's follow-up", 20*time.Second, func(tl store.Timeline) bool {
		return len(tl.Emails) > 0 && tl.Emails[0].State == "sent"
	}, imported.DealID)
	require.Len(t, tl.Emails, 1)
	require.Equal(t, "value-followup", tl.Emails[0].Key.StepID, "the intro is not sent again")

	// The ledger says sent before the workflow has taken the send's result: wait until the
	// deal has planned its next step, so the pause below lands on a settled plan.
	require.Eventually(t, func() bool { return slices.Contains(itemIDs(e.view(imported.DealID).Next), "third#1") },
		10*time.Second, 50*time.Millisecond, "the deal planned the step after its follow-up")

	// A deal's own pause holds it; its event is recorded applied.
	_, err = e.svc.PauseDeal(ctx, deals.PauseRequest{Deal: imported.DealID, Source: "cli", EventID: "hold-1",
		Until: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	e.eventually("the deal's pause applied", 10*time.Second, func(tl store.Timeline) bool {
		return eventStates(tl)["paused cli"] == "applied"
	}, imported.DealID)
	v = e.view(imported.DealID)
	require.True(t, v.Paused)
	require.Equal(t, workflows.ScopeDeal, v.Pauses[0].Scope)
	require.Equal(t, []string{"resume", "third#1", "stale"}, itemIDs(v.Next),
		"while paused, the deal waits for the pause's end and shows where the resume puts the rest")
	require.Equal(t, cadence.ItemResume, v.Next[0].Kind)
	require.Contains(t, v.Next[1].Reason, "re-planned with the time it had left")
}
