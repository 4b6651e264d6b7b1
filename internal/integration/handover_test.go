package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// On the real stack: a handover between the intro and the threaded follow-up. The deal's
// workflow applies the owner_changed event, and the follow-up goes out from the new owner's
// sender identity, still in the deal's thread.
func TestHandoverOnTheRealStack(t *testing.T) {
	t.Parallel()
	p := fixturePipeline(6 * time.Second)
	p.Stages[0].Steps[1].Thread = true
	e := newEnv(t, mainServer, "it-handover", p)
	e.start()
	ctx := context.Background()

	d := e.create("ho-1")
	intro := e.smtp.WaitForMessages(t, 1, 20*time.Second)[0]
	require.Equal(t, "ho-1@prospect.test", intro.To[0])
	// Ben exists with his own sender identity (a deal of his own, to another contact).
	v := e.cadence.Version
	_, err := e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "ben-1", CadenceVersion: &v,
		Owner:   store.OwnerInput{Email: "ben@vendor.test", Name: "Ben Rep", SenderFrom: "Ben Rep <ben@vendor.test>"},
		Contact: store.ContactInput{Email: "ben-1@prospect.test"}})
	require.NoError(t, err)

	resp, err := e.svc.Handover(ctx, deals.HandoverRequest{From: "ana@vendor.test", To: "ben@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 1, resp.Moved)
	require.Equal(t, 1, resp.Signalled)
	e.eventually("the owner change applied", 20*time.Second, func(tl store.Timeline) bool {
		return eventStates(tl)["owner_changed ops"] == "applied"
	}, d.DealID)

	var followup *time.Time
	deadline := time.Now().Add(30 * time.Second)
	for followup == nil && time.Now().Before(deadline) {
		for _, m := range e.smtp.Messages() {
			if m.To[0] != "ho-1@prospect.test" || m.MessageID == intro.MessageID {
				continue
			}
			require.Contains(t, m.Header.Get("From"), "ben@vendor.test", "the new owner's sender identity")
			require.Contains(t, m.Header.Get("In-Reply-To"), intro.MessageID, "still in the deal's thread")
			at := m.ReceivedAt
			followup = &at
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotNil(t, followup, "the follow-up was sent")
}
