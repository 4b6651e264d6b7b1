package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/smtptest"
)

// A threaded follow-up replies to the deal's last sent email: In-Reply-To names it,
// References start at the thread's first email, and the subject is "Re: " once.
func TestThreadedFollowUpsReplyToTheLastSentEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	first := f.input("intro", 1)
	first.Thread = true // nothing sent yet: a threaded step starts the thread with its own subject
	res1, err := f.send(first)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res1.Outcome)

	second := activities.SendInput{DealID: f.deal.ID, CadenceVersion: cadence.DefaultVersion, Visit: 1,
		StepID: "value-followup", Occurrence: 1, Template: "value-followup", Thread: true}
	res2, err := f.send(second)
	require.NoError(t, err)

	third := second
	third.StepID, third.Template = "qualification-followup", "qualification-followup"
	res3, err := f.send(third)
	require.NoError(t, err)

	unthreaded := third
	unthreaded.StepID, unthreaded.Template, unthreaded.Thread = "nurture", "nurture", false
	_, err = f.send(unthreaded)
	require.NoError(t, err)

	msgs := f.smtp.WaitForMessages(t, 4, 5*time.Second)
	require.Empty(t, msgs[0].Header.Get("In-Reply-To"))
	require.Empty(t, msgs[0].Header.Get("References"))
	subject := "Ana from Vendor: a quick idea for Prospect Inc"
	require.Equal(t, subject, msgs[0].Subject)

	require.Equal(t, "<"+res1.MessageID+">", msgs[1].Header.Get("In-Reply-To"))
	require.Equal(t, "<"+res1.MessageID+">", msgs[1].Header.Get("References"))
	require.Equal(t, "Re: "+subject, msgs[1].Subject)

	require.Equal(t, "<"+res2.MessageID+">", msgs[2].Header.Get("In-Reply-To"))
	require.Equal(t, "<"+res1.MessageID+"> <"+res2.MessageID+">", msgs[2].Header.Get("References"))
	require.Equal(t, "Re: "+subject, msgs[2].Subject, "never Re: Re:")
	require.Equal(t, res3.MessageID, msgs[2].MessageID)

	require.Empty(t, msgs[3].Header.Get("In-Reply-To"), "a step without thread: starts a new thread")
	require.NotContains(t, msgs[3].Subject, "Re:")

	// A retry of a threaded key after its completion was lost sends nothing new.
	again, err := f.send(third)
	require.NoError(t, err)
	require.Equal(t, res3.MessageID, again.MessageID)
	require.Equal(t, 4, f.smtp.Attempts())
}

// A pipeline's sender wins over the owner's identity; replies still reach the owner unless
// the pipeline names a reply-to.
func TestPipelineSenderIsUsed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := cadence.Default()
	p.ID = "team-nurture"
	p.Sender = &cadence.Sender{From: "Vendor Team <team@vendor.test>"}
	cv, err := f.store.PublishNext(context.Background(), p)
	require.NoError(t, err)

	in := f.input("intro", 1)
	in.CadenceVersion = cv.Version
	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	msg := f.smtp.WaitForMessages(t, 1, 5*time.Second)[0]
	require.Equal(t, `"Vendor Team" <team@vendor.test>`, msg.Header.Get("From"))
	require.Equal(t, "team@vendor.test", msg.From, "the envelope sender is the pipeline's mailbox")
	require.Equal(t, "<ana@vendor.test>", msg.Header.Get("Reply-To"), "replies reach the owner")
}

// A retry after an ambiguous attempt (the connection dropped after the final dot: the first
// copy may be in the prospect's inbox) sends the same message again, even if the deal sent
// another email meanwhile: one Message-ID always names one subject and one parent.
func TestRetryOfAThreadedEmailResendsTheSameMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	intro, err := f.send(f.input("intro", 1))
	require.NoError(t, err)

	followup := activities.SendInput{DealID: f.deal.ID, CadenceVersion: cadence.DefaultVersion, Visit: 1,
		StepID: "value-followup", Occurrence: 1, Template: "value-followup", Thread: true}
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Drop: true})
	_, err = f.send(followup)
	require.Error(t, err, "ambiguous: retried")

	// Another email of the deal goes out before the retry (as a migration could cause).
	other := followup
	other.StepID, other.Template, other.Thread = "nurture", "nurture", false
	_, err = f.send(other)
	require.NoError(t, err)

	res, err := f.send(followup)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	// The dropped attempt reached no mailbox of the test server: intro, nurture, retry.
	msgs := f.smtp.WaitForMessages(t, 3, 5*time.Second)
	retry := msgs[2]
	require.Equal(t, res.MessageID, retry.MessageID)
	require.Equal(t, "<"+intro.MessageID+">", retry.Header.Get("In-Reply-To"), "still the reply to the intro, not to the newer email")
	require.Equal(t, "<"+intro.MessageID+">", retry.Header.Get("References"))
	require.Equal(t, "Re: "+msgs[0].Subject, retry.Subject)
	require.Equal(t, 4, f.smtp.Attempts())
}

// An attempt that failed where the message cannot have been delivered (a 4xx at RCPT or to
// the final dot) records no envelope: nothing of it reached a mailbox, so its retry composes
// afresh and replies to the deal's email sent meanwhile. Only an attempt that may have been
// delivered (sent, ambiguous) pins its envelope for retries.
func TestRetryAfterAnUndeliveredAttemptComposesAfresh(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]smtptest.Fault{
		"4xx at RCPT":        {Stage: smtptest.AtRcpt, Code: 450, Enhanced: "4.2.0", Message: "mailbox busy"},
		"4xx to the message": {Stage: smtptest.AfterData, Code: 451, Enhanced: "4.7.1", Message: "greylisted"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			_, err := f.send(f.input("intro", 1))
			require.NoError(t, err)

			followup := activities.SendInput{DealID: f.deal.ID, CadenceVersion: cadence.DefaultVersion, Visit: 1,
				StepID: "value-followup", Occurrence: 1, Template: "value-followup", Thread: true}
			f.smtp.Enqueue(fault)
			_, err = f.send(followup)
			require.Equal(t, activities.ErrTypeSMTPTransient, errType(t, err))
			var subject, inReplyTo string
			require.NoError(t, f.store.Pool().QueryRow(context.Background(),
				`SELECT subject, in_reply_to FROM email_ledger WHERE deal_id = $1 AND step_id = 'value-followup'`, f.deal.ID).Scan(&subject, &inReplyTo))
			require.Empty(t, subject, "no envelope recorded: the message was not delivered")
			require.Empty(t, inReplyTo)

			other := followup
			other.StepID, other.Template, other.Thread = "nurture", "nurture", false
			nurture, err := f.send(other)
			require.NoError(t, err)

			res, err := f.send(followup)
			require.NoError(t, err)
			require.Equal(t, activities.SendSent, res.Outcome)
			msgs := f.smtp.WaitForMessages(t, 3, 5*time.Second)
			retry := msgs[2]
			require.Equal(t, res.MessageID, retry.MessageID)
			require.Equal(t, "<"+nurture.MessageID+">", retry.Header.Get("In-Reply-To"), "the reply to the deal's last sent email")
			require.Equal(t, "Re: "+msgs[1].Subject, retry.Subject)
		})
	}
}
