package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
)

type digestFixture struct {
	st   *store.Store
	srv  *smtptest.Server
	acts *activities.Activities
	deal store.Deal
}

func newDigestFixture(t *testing.T, country string) *digestFixture {
	t.Helper()
	st := store.New(pgtest.New(t))
	srv := smtptest.Start(t)
	sender, err := mail.NewSender(mail.Config{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSPolicy("none"), Timeout: 5 * time.Second})
	require.NoError(t, err)
	c, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: "dg-1", Title: "Acme rollout",
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Zone: "UTC", Country: country},
		Contact:        store.ContactInput{Email: "bob@prospect.test", FirstName: "Bob"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:dg-1", SourceTime: time.Now(),
	})
	require.NoError(t, err)
	_, err = st.AddUser(context.Background(), "ana@vendor.test", "Ana Rep", store.RoleRep)
	require.NoError(t, err)
	return &digestFixture{st: st, srv: srv, deal: c.Deal, acts: &activities.Activities{Store: st, Sender: sender,
		Mail: activities.MailSettings{MessageIDSecret: []byte("0123456789abcdef0123456789abcdef"), MessageIDDomain: "mail.test",
			DefaultFrom: "Followup <followup@vendor.test>", PublicBaseURL: "https://followup.example.com/"}}}
}

// The digest lists the overdue task, the reply and the engine's move, each linked to its
// deal's page, goes to the rep once for the date, and a second call sends nothing.
func TestSendDigestListsTasksRepliesAndMovesWithLinks(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t, "")
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := f.st.CreateTask(ctx, store.NewTask{DealID: f.deal.ID, Visit: 1, StepID: "call-1", Occurrence: 1,
		Kind: "call", Title: "Call Bob about the pilot", DueAt: now.Add(-26 * time.Hour), At: now.Add(-48 * time.Hour)})
	require.NoError(t, err)
	_, _, err = f.st.RecordInboundMessage(ctx, store.InboundMessage{Key: "mid:r1@prospect.test", Source: "api",
		From: "bob@prospect.test", Subject: "Re: the pilot", Kind: "reply", Match: store.MatchSender,
		Outcome: store.MessageEngaged, DealIDs: []string{f.deal.ID}})
	require.NoError(t, err)
	require.NoError(t, f.st.RecordTransition(ctx, store.Transition{DealID: f.deal.ID, Visit: 1, To: "new", At: now.Add(-72 * time.Hour),
		Source: "crm", SourceEventID: "create:dg-1"}))
	require.NoError(t, f.st.RecordTransition(ctx, store.Transition{DealID: f.deal.ID, Visit: 2, From: "new", To: "stalled",
		At: now.Add(-time.Hour), Source: "engine", SourceEventID: "engine:stale:2", Reason: "no answer within the limit"}))

	in := activities.DigestInput{DigestDue: activities.DigestDue{OwnerID: f.deal.OwnerID, LocalDate: now.Format(time.DateOnly)}, At: now}
	res, err := f.acts.SendDigest(ctx, in)
	require.NoError(t, err)
	require.True(t, res.Sent)

	msgs := f.srv.WaitForMessages(t, 1, 5*time.Second)
	require.Equal(t, []string{"ana@vendor.test"}, msgs[0].To)
	require.Equal(t, res.MessageID, msgs[0].MessageID)
	text, html := smtptest.Bodies(t, msgs[0].Data)
	link := "https://followup.example.com/deals/" + f.deal.ID
	for _, body := range []string{text, html} {
		require.Contains(t, body, "Call Bob about the pilot")
		require.Contains(t, body, "Re: the pilot")
		require.Contains(t, body, "stalled")
		require.Contains(t, body, link)
		require.Contains(t, body, "https://followup.example.com/tasks")
	}
	require.NotContains(t, text, "moved from (none) to new", "a CRM move is not the engine's")
	require.Contains(t, msgs[0].Subject, "1 overdue")

	again, err := f.acts.SendDigest(ctx, in)
	require.NoError(t, err)
	require.False(t, again.Sent)
	require.Equal(t, "sent already", again.Skipped)
	require.Len(t, f.srv.Messages(), 1)

	due, err := f.acts.FindDigests(ctx, activities.FindDigestsInput{At: now, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, due, "today's digest is in the ledger")
}

// FindDigests picks an owner in the first business hour of a business day only: not on the
// owner's public holiday, not while the owner is paused, not with the digest off.
func TestFindDigestsSkipsHolidaysPausesAndDigestOff(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t, "us")
	ctx := context.Background()
	morning := time.Date(2026, 12, 24, 9, 30, 0, 0, time.UTC) // Thursday, 09:00-17:00 UTC
	find := func(at time.Time) []activities.DigestDue {
		t.Helper()
		due, err := f.acts.FindDigests(ctx, activities.FindDigestsInput{At: at, Limit: 10})
		require.NoError(t, err)
		return due
	}
	require.Equal(t, []activities.DigestDue{{OwnerID: f.deal.OwnerID, LocalDate: "2026-12-24"}}, find(morning))
	require.Empty(t, find(morning.Add(time.Hour)), "past the first business hour")
	require.Empty(t, find(morning.Add(-time.Hour)), "before the opening")
	require.Empty(t, find(morning.AddDate(0, 0, 1)), "Christmas Day is a US holiday")
	require.Empty(t, find(morning.AddDate(0, 0, 2)), "Saturday")

	res, err := f.acts.SendDigest(ctx, activities.DigestInput{DigestDue: activities.DigestDue{OwnerID: f.deal.OwnerID, LocalDate: "2026-12-25"}, At: morning.AddDate(0, 0, 1)})
	require.NoError(t, err)
	require.Equal(t, "holiday", res.Skipped)

	_, err = f.st.SetDigestOff(ctx, "ana@vendor.test", true)
	require.NoError(t, err)
	require.Empty(t, find(morning), "digest off")
	res, err = f.acts.SendDigest(ctx, activities.DigestInput{DigestDue: activities.DigestDue{OwnerID: f.deal.OwnerID, LocalDate: "2026-12-24"}, At: morning})
	require.NoError(t, err)
	require.False(t, res.Sent)

	_, err = f.st.SetDigestOff(ctx, "ana@vendor.test", false)
	require.NoError(t, err)
	_, _, err = f.st.StartPause(ctx, store.PauseScopeOwner, f.deal.OwnerID, nil, "leave", "cli")
	require.NoError(t, err)
	require.Empty(t, find(morning), "paused")
	res, err = f.acts.SendDigest(ctx, activities.DigestInput{DigestDue: activities.DigestDue{OwnerID: f.deal.OwnerID, LocalDate: "2026-12-24"}, At: morning})
	require.NoError(t, err)
	require.False(t, res.Sent)
	require.Empty(t, f.srv.Messages())
}

// A digest that would list nothing is not sent, and its claim goes back: a round later in
// the hour, with a reply come in, sends it.
func TestSendDigestWithNothingToReportSendsNothing(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t, "")
	ctx := context.Background()
	now := time.Now().UTC()
	in := activities.DigestInput{DigestDue: activities.DigestDue{OwnerID: f.deal.OwnerID, LocalDate: now.Format(time.DateOnly)}, At: now}
	res, err := f.acts.SendDigest(ctx, in)
	require.NoError(t, err)
	require.Equal(t, activities.DigestResult{Skipped: activities.DigestNothingToReport}, res)
	require.Empty(t, f.srv.Messages())

	_, _, err = f.st.RecordInboundMessage(ctx, store.InboundMessage{Key: "mid:r2@prospect.test", Source: "api",
		From: "bob@prospect.test", Subject: "Re: pricing", Kind: "reply", Match: store.MatchSender,
		Outcome: store.MessageEngaged, DealIDs: []string{f.deal.ID}})
	require.NoError(t, err)
	res, err = f.acts.SendDigest(ctx, activities.DigestInput{DigestDue: in.DigestDue, At: time.Now().UTC()})
	require.NoError(t, err)
	require.True(t, res.Sent)
	require.Len(t, f.srv.WaitForMessages(t, 1, 5*time.Second), 1)
}

// DigestToday names the owner's local date, in the owner's zone, and refuses an owner who
// gets no digest.
func TestDigestTodayIsTheOwnersLocalDate(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t, "")
	ctx := context.Background()
	kiwi, err := f.st.CreateDeal(ctx, store.NewDeal{
		Source: "crm", ExternalID: "dg-2", Title: "Kiwi rollout",
		Owner:          store.OwnerInput{Email: "mere@vendor.test", Name: "Mere Rep", Zone: "Pacific/Auckland"},
		Contact:        store.ContactInput{Email: "tama@prospect.test", FirstName: "Tama"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:dg-2", SourceTime: time.Now(),
	})
	require.NoError(t, err)
	_, err = f.st.AddUser(ctx, "mere@vendor.test", "Mere Rep", store.RoleRep)
	require.NoError(t, err)
	at := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC) // 09:00 on the 8th in Auckland
	due, err := f.acts.DigestToday(ctx, activities.DigestNowInput{OwnerID: kiwi.Deal.OwnerID, At: at})
	require.NoError(t, err)
	require.Equal(t, activities.DigestDue{OwnerID: kiwi.Deal.OwnerID, LocalDate: "2026-12-08"}, due)
	due, err = f.acts.DigestToday(ctx, activities.DigestNowInput{OwnerID: f.deal.OwnerID, At: at})
	require.NoError(t, err)
	require.Equal(t, "2026-12-07", due.LocalDate, "Ana works in UTC")

	_, err = f.st.SetDigestOff(ctx, "mere@vendor.test", true)
	require.NoError(t, err)
	_, err = f.acts.DigestToday(ctx, activities.DigestNowInput{OwnerID: kiwi.Deal.OwnerID, At: at})
	require.ErrorContains(t, err, "gets no digest now")
}
