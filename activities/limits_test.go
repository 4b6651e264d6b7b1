package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// anotherDeal creates a second deal of the same owner, for contact.
func (f *fixture) anotherDeal(ext, contact string) store.Deal {
	f.t.Helper()
	created, err := f.store.CreateDeal(context.Background(), store.NewDeal{
		Source: "test", ExternalID: ext, Title: "Other",
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor"},
		Contact:        store.ContactInput{Email: contact, FirstName: "Eve"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create-" + ext, SourceTime: time.Now(),
	})
	require.NoError(f.t, err)
	return created.Deal
}

func TestSendOverTheMailboxCapIsDeferredNotFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.acts.Mail.DailyCap = 1
	res, err := f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)

	other := f.anotherDeal("cap-2", "eve@elsewhere.test")
	in := f.input("intro", 1)
	in.DealID = other.ID
	res, err = f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendDeferred, res.Outcome)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), res.DeferredUntil, time.Minute)
	require.Equal(t, "the sending mailbox reached its cap of 1 emails in 24 hours", res.DeferReason)
	require.Len(t, f.smtp.Messages(), 1, "nothing went over the cap")
	entries, err := f.store.Ledger(context.Background(), other.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailDeferred, entries[0].State)
	require.Contains(t, entries[0].Detail, "cap of 1 emails in 24 hours")
}

func TestSecondDealToTheSameContactWaitsForTheSpacing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.acts.Mail.ContactSpacing = 24 * time.Hour
	res, err := f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	sentAt := time.Now()

	other := f.anotherDeal("space-2", "bob@prospect.test") // the same contact, another deal
	require.Equal(t, f.deal.ContactID, other.ContactID)
	in := f.input("intro", 1)
	in.DealID = other.ID
	res, err = f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendDeferred, res.Outcome)
	require.WithinDuration(t, sentAt.Add(24*time.Hour), res.DeferredUntil, time.Minute)
	require.Len(t, f.smtp.Messages(), 1)

	// The first deal's own follow-up is not held back by its own intro.
	res, err = f.send(f.input("value-followup", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
}

func TestHeldSendsAreDeferredAndReleasedSendsGo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, _, err := f.store.HoldSends(ctx, "warming up the new domain", "ops@vendor.test")
	require.NoError(t, err)
	res, err := f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendDeferred, res.Outcome)
	require.Equal(t, "sending is held by ops: warming up the new domain", res.DeferReason)
	require.WithinDuration(t, time.Now().Add(activities.SendHoldRecheck), res.DeferredUntil, time.Minute)
	require.Empty(t, f.smtp.Messages())
	entries, err := f.store.Ledger(ctx, f.deal.ID)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing claimed while held")

	_, _, err = f.store.ReleaseSends(ctx, "ops@vendor.test")
	require.NoError(t, err)
	res, err = f.send(f.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	require.Len(t, f.smtp.Messages(), 1)
}
