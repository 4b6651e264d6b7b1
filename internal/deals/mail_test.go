package deals_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// sendEmail records an email of the deal as sent, with its Message-ID, as SendEmail does.
func sendEmail(t *testing.T, svc *deals.Service, dealID, step, messageID string) store.LedgerKey {
	t.Helper()
	ctx := context.Background()
	parties, err := svc.Store.DealParties(ctx, dealID)
	require.NoError(t, err)
	key := store.LedgerKey{DealID: dealID, Visit: 1, StepID: step, Occurrence: 1}
	_, err = svc.Store.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: parties.ContactID, Address: parties.Contact.Email,
		Template: step, MessageID: messageID, Lease: time.Minute})
	require.NoError(t, err)
	_, err = svc.Store.SendLocked(ctx, key, parties.ContactID, parties.Contact.Email, func(context.Context) store.SendOutcome {
		return store.SendOutcome{State: store.EmailSent, Code: 250}
	})
	require.NoError(t, err)
	return key
}

func createFor(t *testing.T, svc *deals.Service, ext, contact string) string {
	t.Helper()
	resp, err := svc.Create(context.Background(), deals.CreateRequest{Source: "crm", ExternalID: ext,
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: contact, FirstName: "Bob"}})
	require.NoError(t, err)
	return resp.DealID
}

func eml(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n"))
}

// What the mailbox intake makes of each kind of message, on PostgreSQL and a real Temporal
// dev server (no worker: the deals' runs receive the signals, which is what is checked).
func TestTakeMessageMatchesClassifiesAndRecordsEachMessageOnce(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	svc.OwnAddresses = []string{"sales@vendor.test"}
	ctx := context.Background()
	dealA := createFor(t, svc, "mail-a", "bob@prospect.test")
	dealB := createFor(t, svc, "mail-b", "bob@prospect.test")
	dealC := createFor(t, svc, "mail-c", "cleo@prospect.test")
	closed := createFor(t, svc, "mail-closed", "dan@prospect.test")
	introA := sendEmail(t, svc, dealA, "intro", "intro-a@it.test")
	sendEmail(t, svc, dealC, "intro", "intro-c@it.test")
	sendEmail(t, svc, closed, "intro", "intro-closed@it.test")
	require.NoError(t, svc.Store.MarkClosed(ctx, closed, "lost", 1, time.Now()))
	take := func(raw string) deals.MessageResponse {
		t.Helper()
		resp, err := svc.TakeMessage(ctx, eml(raw), deals.MessageOrigin{Source: "api"})
		require.NoError(t, err)
		return resp
	}
	date := time.Now().Format(time.RFC1123Z)

	// A reply to the intro: matched exactly, attributed to the intro, delivered once.
	reply := fmt.Sprintf(`
From: Bob <Bob@Prospect.test>
To: ana@vendor.test
Subject: Re: a quick idea
Date: %s
Message-ID: <r1@prospect.test>
In-Reply-To: <intro-a@it.test>
References: <intro-a@it.test>

Sounds good.
`, date)
	got := take(reply)
	require.Equal(t, store.MessageKind("reply"), got.Kind)
	require.Equal(t, store.MatchThread, got.Match)
	require.Equal(t, &introA, got.Answers)
	require.Equal(t, store.MessageEngaged, got.Outcome)
	require.Len(t, got.Events, 1)
	require.Equal(t, dealA, got.Events[0].DealID)
	require.Equal(t, store.EventSignalled, got.Events[0].State)
	require.False(t, got.Duplicate)
	again := take(reply)
	require.True(t, again.Duplicate, "the same Message-ID again is the same message")
	require.Equal(t, got.Message, again.Message)
	require.Empty(t, again.Events, "nothing delivered again")
	require.Equal(t, []string{"engaged/"}, engagedSignals(t, dealA), "one signal for the deal")

	// A reply that names nothing of ours: by its sender, to each of the contact's open deals.
	got = take(fmt.Sprintf(`
From: bob@prospect.test
To: ana@vendor.test
Subject: one more thing
Date: %s
Message-ID: <r2@prospect.test>

Also, pricing?
`, date))
	require.Equal(t, store.MatchSender, got.Match)
	require.Nil(t, got.Answers)
	require.Len(t, got.Events, 2)
	require.ElementsMatch(t, []string{dealA, dealB}, []string{got.Events[0].DealID, got.Events[1].DealID})

	ignored := func(raw, reason string) {
		t.Helper()
		got := take(raw)
		require.Equal(t, store.MessageIgnored, got.Outcome, raw)
		require.Contains(t, got.Reason, reason)
		require.Empty(t, got.Events)
	}
	// Ours, list traffic, strangers and garbage change no deal; each is recorded with why.
	ignored(fmt.Sprintf("From: sales@vendor.test\nTo: bob@prospect.test\nSubject: a quick idea\nDate: %s\nMessage-ID: <intro-a@it.test>\n\nHi\n", date),
		"a copy of our own email "+introA.String())
	ignored(fmt.Sprintf("From: Ana <ana@vendor.test>\nTo: bob@prospect.test\nSubject: Re: a quick idea\nDate: %s\nMessage-ID: <o1@vendor.test>\nIn-Reply-To: <r1@prospect.test>\n\nSure\n", date),
		"from our own address ana@vendor.test")
	ignored(fmt.Sprintf("From: sales@vendor.test\nTo: ana@vendor.test\nSubject: fwd\nDate: %s\nMessage-ID: <o2@vendor.test>\n\nfyi\n", date),
		"from our own address sales@vendor.test")
	ignored(fmt.Sprintf("From: bob@prospect.test\nTo: list@lists.test\nList-Id: <sales.lists.test>\nSubject: hello all\nDate: %s\nMessage-ID: <l1@lists.test>\n\nhi\n", date),
		"mailing-list or bulk mail")
	ignored(fmt.Sprintf("From: eve@elsewhere.test\nTo: ana@vendor.test\nSubject: hi\nDate: %s\nMessage-ID: <s1@elsewhere.test>\nIn-Reply-To: <someone-else@other-tenant.test>\n\nhi\n", date),
		"eve@elsewhere.test is not the contact of an open deal")
	ignored("this is not a message at all", "unreadable")

	// Header injection in the subject is recorded on one line.
	got = take(fmt.Sprintf("From: eve@elsewhere.test\nTo: ana@vendor.test\nSubject: =?UTF-8?Q?hi=0D=0ABcc:_x@evil.example?=\nDate: %s\nMessage-ID: <s2@elsewhere.test>\n\nhi\n", date))
	rec, err := svc.Store.InboundMessageByKey(ctx, got.Key)
	require.NoError(t, err)
	require.NotContains(t, rec.Subject, "\n")
	require.NotContains(t, rec.Subject, "\r")

	// An out-of-office names no date in the future: it counts, without one.
	got = take(fmt.Sprintf("From: cleo@prospect.test\nTo: ana@vendor.test\nSubject: Out of Office\nAuto-Submitted: auto-replied\nDate: %s\nMessage-ID: <ooo1@prospect.test>\nIn-Reply-To: <intro-c@it.test>\n\nI was back on 1 January 2020.\n", date))
	require.Equal(t, store.MessageKind("auto_reply"), got.Kind)
	require.Empty(t, got.ReturnOn)
	require.Len(t, got.Events, 1)
	require.Equal(t, dealC, got.Events[0].DealID)

	// A delayed delivery is recorded, nothing more.
	got = take(dsn(date, "d1", "cleo@prospect.test", "delayed", "4.4.7", "intro-c@it.test"))
	require.Equal(t, store.MessageKind("delayed"), got.Kind)
	require.Equal(t, store.MessageRecorded, got.Outcome)
	require.Empty(t, got.Events)

	// A permanent failure: the address is suppressed and the deal told.
	got = take(dsn(date, "d2", "cleo@prospect.test", "failed", "5.1.1", "intro-c@it.test"))
	require.Equal(t, store.MessageKind("bounce"), got.Kind)
	require.Equal(t, store.MatchThread, got.Match)
	require.Len(t, got.Events, 1)
	require.True(t, got.Events[0].Suppressed)
	parties, err := svc.Store.DealParties(ctx, dealC)
	require.NoError(t, err)
	suppressed, err := svc.Store.Suppressed(ctx, parties.ContactID, "cleo@prospect.test")
	require.NoError(t, err)
	require.True(t, suppressed)

	// A spam complaint: the contact is suppressed with reason complaint.
	got = take(fmt.Sprintf(`
From: abuse@isp.test
To: abuse@vendor.test
Subject: FW: a quick idea
Date: %s
Message-ID: <arf1@isp.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

This is an abuse report.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: isp/1.0
Version: 1
Original-Rcpt-To: bob@prospect.test

--arf
Content-Type: text/rfc822-headers

Message-ID: <intro-a@it.test>
To: bob@prospect.test

--arf--
`, date))
	require.Equal(t, store.MessageKind("complaint"), got.Kind)
	require.Len(t, got.Events, 1, "the deal whose intro was reported; bob's other deal never mailed him")
	require.Equal(t, dealA, got.Events[0].DealID)
	var reason string
	require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT reason FROM suppressions WHERE address = 'bob@prospect.test'`).Scan(&reason))
	require.Equal(t, "complaint", reason)

	// A report for an address never mailed changes nothing.
	got = take(dsn(date, "d3", "nobody@prospect.test", "failed", "5.1.1", "not-ours@other.test"))
	require.Equal(t, store.MessageIgnored, got.Outcome)
	require.Contains(t, got.Reason, "never mailed")

	// A reply to a closed deal's email is recorded refused on that deal; the message ignored.
	got = take(fmt.Sprintf("From: dan@prospect.test\nTo: ana@vendor.test\nSubject: Re: hi\nDate: %s\nMessage-ID: <r3@prospect.test>\nIn-Reply-To: <intro-closed@it.test>\n\nstill interested\n", date))
	require.Equal(t, store.MessageIgnored, got.Outcome)
	require.Equal(t, "every deal it concerns is closed", got.Reason)
	require.Len(t, got.Events, 1)
	require.Equal(t, store.EventRefused, got.Events[0].State)

	msgs, err := svc.Store.InboundMessages(ctx, store.MessageFilter{DealID: dealA})
	require.NoError(t, err)
	require.Len(t, msgs, 3, "the reply, the sender-matched message and the complaint")
}

// What a real mailbox holds beyond the textbook: bytes that are not UTF-8, aliases, old
// reports, colleagues replying all, a reply to a lost deal's email, one message in two
// mailboxes without a Message-ID.
func TestTakeMessageEdgeCases(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	take := func(raw string) deals.MessageResponse {
		t.Helper()
		resp, err := svc.TakeMessage(ctx, eml(raw), deals.MessageOrigin{Source: "api"})
		require.NoError(t, err, "a message is always taken")
		return resp
	}
	date := time.Now().Format(time.RFC1123Z)
	alias := createFor(t, svc, "edge-alias", "alias@prospect.test")
	sendEmail(t, svc, alias, "intro", "intro-alias@it.test")
	lost := createFor(t, svc, "edge-lost", "erin@prospect.test")
	sendEmail(t, svc, lost, "intro", "intro-lost@it.test")
	require.NoError(t, svc.Store.MarkClosed(ctx, lost, "lost", 1, time.Now()))
	again := createFor(t, svc, "edge-again", "erin@prospect.test")

	// A Message-ID with bytes that are not UTF-8: taken by its content, not refused.
	got := take("From: eve@elsewhere.test\nSubject: hi\nMessage-ID: <r\xe9ply@x.test>\nIn-Reply-To: <\xff@x.test>\n\nhi\n")
	require.True(t, strings.HasPrefix(got.Key, "sha256:"), got.Key)
	require.Equal(t, store.MessageIgnored, got.Outcome)

	// The report names the address the alias resolved to; the original it carries is ours.
	got = take(strings.Replace(dsn(date, "alias-1", "real.person@prospect.test", "failed", "5.1.1", "intro-alias@it.test"),
		"To: real.person@prospect.test", "To: alias@prospect.test", 1))
	require.Equal(t, store.MessageEngaged, got.Outcome, got.Reason)
	require.Equal(t, store.MatchThread, got.Match)
	require.Len(t, got.Events, 1)
	require.Equal(t, alias, got.Events[0].DealID)
	var suppressed string
	require.NoError(t, svc.Store.Pool().QueryRow(ctx, `SELECT address FROM suppressions WHERE reason = 'bounce'`).Scan(&suppressed))
	require.Equal(t, "alias@prospect.test", suppressed, "the address we mailed")

	// A report written long before our email cannot be about it.
	old := time.Now().AddDate(-1, 0, 0).Format(time.RFC1123Z)
	got = take(dsn(old, "old-1", "alias@prospect.test", "failed", "5.1.1", "someone-elses@other.test"))
	require.Equal(t, store.MessageIgnored, got.Outcome)
	require.Contains(t, got.Reason, "never mailed")

	// The owner's colleague replies all: not the prospect answering.
	got = take(fmt.Sprintf("From: Boss <boss@vendor.test>\nTo: alias@prospect.test\nCc: ana@vendor.test\nSubject: Re: hi\nDate: %s\nMessage-ID: <boss-1@vendor.test>\nIn-Reply-To: <intro-alias@it.test>\n\nlooping in\n", date))
	require.Equal(t, store.MessageIgnored, got.Outcome)
	require.Contains(t, got.Reason, "at the deal owner's own domain")

	// A reply to the lost deal's email reaches the contact's open deal.
	got = take(fmt.Sprintf("From: erin@prospect.test\nTo: ana@vendor.test\nSubject: Re: hi\nDate: %s\nMessage-ID: <erin-1@prospect.test>\nIn-Reply-To: <intro-lost@it.test>\n\nnow we are ready\n", date))
	require.Equal(t, store.MessageEngaged, got.Outcome, got.Reason)
	require.Equal(t, store.MatchSender, got.Match)
	require.Equal(t, lost, got.Answers.DealID, "it still says which email it answered")
	require.Len(t, got.Events, 1)
	require.Equal(t, again, got.Events[0].DealID)

	// One message without a Message-ID in two mailboxes: different transport headers, one
	// message.
	body := fmt.Sprintf("From: erin@prospect.test\nTo: ana@vendor.test\nSubject: no id\nDate: %s\n\nplease call\n", date)
	first := take("Received: from a by mx1\nDelivered-To: ana@vendor.test\n" + body)
	second := take("Received: from a by mx2\nDelivered-To: replies@vendor.test\n" + body)
	require.False(t, first.Duplicate)
	require.True(t, second.Duplicate)
	require.Equal(t, first.Message, second.Message)
}

func dsn(date, id, rcpt, action, status, original string) string {
	return fmt.Sprintf(`
From: MAILER-DAEMON@mx.prospect.test
To: sales@vendor.test
Subject: Undelivered Mail Returned to Sender
Date: %s
Message-ID: <%s@mx.prospect.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Delivery report.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.prospect.test

Final-Recipient: rfc822; %s
Action: %s
Status: %s
Diagnostic-Code: smtp; %s user unknown

--b
Content-Type: text/rfc822-headers

Message-ID: <%s>
To: %s

--b--
`, date, id, rcpt, action, status, status, original, rcpt)
}

// engagedSignals lists the engagement signals the deal's run received.
func engagedSignals(t *testing.T, dealID string) []string {
	t.Helper()
	var out []string
	for _, s := range told(t, dealID) {
		if strings.HasPrefix(s, "engaged/") {
			out = append(out, s)
		}
	}
	return out
}
