package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// morningZone is a fixed-offset zone where it is now between 09:00 and 10:00 on a weekday
// (the first hour of the default business hours), or "" when there is none.
func morningZone(now time.Time) string {
	for o := -12; o <= 14; o++ {
		local := now.Add(time.Duration(o) * time.Hour)
		if local.Hour() != 9 || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday {
			continue
		}
		switch {
		case o == 0:
			return "UTC"
		case o > 0:
			return fmt.Sprintf("Etc/GMT-%d", o)
		default:
			return fmt.Sprintf("Etc/GMT+%d", -o)
		}
	}
	return ""
}

// On the real stack: the worker creates the digest schedule; a triggered round finds the rep
// in their first business hour and mails the digest with the reply and its deal's link,
// once: a second round sends nothing more.
func TestMorningDigestOnTheRealStack(t *testing.T) {
	t.Parallel()
	zone := morningZone(time.Now().UTC())
	if zone == "" {
		t.Skip("no zone has a weekday's 09:00 hour now")
	}
	e := newEnv(t, mainServer, "it-digest", fixturePipeline(time.Hour))
	ctx := context.Background()
	v := e.cadence.Version
	d, err := e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "dg-1", Title: "Pilot for dg-1", CadenceVersion: &v,
		Owner:   store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Zone: zone},
		Contact: store.ContactInput{Email: "dg-1@prospect.test", FirstName: "Bob"}})
	require.NoError(t, err)
	_, err = e.store.AddUser(ctx, "ana@vendor.test", "Ana Rep", store.RoleRep)
	require.NoError(t, err)
	_, _, err = e.store.RecordInboundMessage(ctx, store.InboundMessage{Key: "mid:dg-reply@prospect.test", Source: "api",
		From: "dg-1@prospect.test", Subject: "Re: our pilot", Kind: "reply", Match: store.MatchSender,
		Outcome: store.MessageEngaged, DealIDs: []string{d.DealID}})
	require.NoError(t, err)

	e.start()
	h := e.client.ScheduleClient().GetHandle(ctx, workflows.DigestScheduleID)
	require.Eventually(t, func() bool { _, err := h.Describe(ctx); return err == nil }, 20*time.Second, 100*time.Millisecond,
		"the worker creates the schedule")
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))

	digest := waitForMailTo(t, e.smtp, "ana@vendor.test", 30*time.Second)
	text, html := smtptest.Bodies(t, digest.Data)
	for _, body := range []string{text, html} {
		require.Contains(t, body, "Re: our pilot")
		require.Contains(t, body, "/deals/"+d.DealID)
	}

	// The schedule skips a round while the previous one runs: trigger the second once the
	// first has finished.
	roundsDone := func(n int) func() bool {
		return func() bool {
			desc, err := h.Describe(ctx)
			return err == nil && desc.Info.NumActions >= n && len(desc.Info.RunningWorkflows) == 0
		}
	}
	require.Eventually(t, roundsDone(1), 30*time.Second, 200*time.Millisecond, "the first round finished")
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	require.Eventually(t, roundsDone(2), 30*time.Second, 200*time.Millisecond, "the second round ran")
	n := 0
	for _, m := range e.smtp.Messages() {
		if m.To[0] == "ana@vendor.test" {
			n++
		}
	}
	require.Equal(t, 1, n, "one digest per owner and local date")
}

func waitForMailTo(t *testing.T, s *smtptest.Server, to string, timeout time.Duration) smtptest.Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range s.Messages() {
			if len(m.To) > 0 && m.To[0] == to {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no mail to %s within %s", to, timeout)
	return smtptest.Received{}
}

// On the real stack, whatever the hour: a digest asked for now goes out once through the
// worker with the rep's task; asked again the same day, it is not sent twice.
func TestDigestAskedForNowOnTheRealStack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-digest-now", fixturePipeline(time.Hour))
	ctx := context.Background()
	v := e.cadence.Version
	d, err := e.svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "dn-1", Title: "Pilot for dn-1", CadenceVersion: &v,
		Owner:   store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep"},
		Contact: store.ContactInput{Email: "dn-1@prospect.test", FirstName: "Bob"}})
	require.NoError(t, err)
	_, err = e.store.AddUser(ctx, "ana@vendor.test", "Ana Rep", store.RoleRep)
	require.NoError(t, err)
	_, _, err = e.store.RecordInboundMessage(ctx, store.InboundMessage{Key: "mid:dn-reply@prospect.test", Source: "api",
		From: "dn-1@prospect.test", Subject: "Re: next week", Kind: "reply", Match: store.MatchSender,
		Outcome: store.MessageEngaged, DealIDs: []string{d.DealID}})
	require.NoError(t, err)
	e.start()

	res, err := e.svc.DigestNow(ctx, "Ana@Vendor.test")
	require.NoError(t, err)
	require.True(t, res.Sent, "skipped: %s", res.Skipped)
	digest := waitForMailTo(t, e.smtp, "ana@vendor.test", 10*time.Second)
	require.Equal(t, res.MessageID, digest.MessageID)
	text, _ := smtptest.Bodies(t, digest.Data)
	require.Contains(t, text, "Re: next week")

	again, err := e.svc.DigestNow(ctx, "ana@vendor.test")
	require.NoError(t, err)
	require.Equal(t, "sent already", again.Skipped)
	n := 0
	for _, m := range e.smtp.Messages() {
		if m.To[0] == "ana@vendor.test" {
			n++
		}
	}
	require.Equal(t, 1, n)

	_, err = e.svc.DigestNow(ctx, "dn-1@prospect.test")
	require.ErrorIs(t, err, deals.ErrNotFound, "a contact is no owner")
}
