package activities

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
)

// SendEmail sends one cadence email exactly as the ledger allows:
//  1. claim the ledger row with its HMAC-derived Message-ID in a committed transaction;
//  2. under the contact's lock (the lock opt-outs take), re-check suppression, send over
//     SMTP and record the outcome;
//  3. classify failures by reply code: 4xx and network errors are retried, a connection lost
//     after the final dot is ambiguous and retried with the same Message-ID, 5.1.x suppresses
//     the address, 5.7.x alerts ops without blaming the prospect.
func (a *Activities) SendEmail(ctx context.Context, in SendInput) (res SendResult, err error) {
	reported := false // an earlier attempt's outcome, reported again, was counted then
	defer func() {
		if !reported {
			countSend(res, err) // followup_emails_total (opsmetrics.go)
		}
	}()
	logger := activity.GetLogger(ctx)
	key := store.LedgerKey{DealID: in.DealID, Visit: in.Visit, StepID: in.StepID, Occurrence: in.Occurrence}
	held, why, since, err := a.Store.SendHold(ctx)
	if err != nil {
		return SendResult{}, fmt.Errorf("read the send switch: %w", err)
	}
	if held {
		// Ops switched sending off: nothing is claimed; the deal asks again later, each deal
		// on its own clock, so the release is no burst.
		logger.Info("Sends are held: email deferred", "Key", key.String(), "HeldSince", since)
		return SendResult{Outcome: SendDeferred, DeferredUntil: time.Now().Add(SendHoldRecheck),
			DeferReason: "sending is held by ops: " + why}, nil
	}
	parties, err := a.Store.DealParties(ctx, in.DealID)
	if errors.Is(err, store.ErrNotFound) {
		return SendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	if err != nil {
		return SendResult{}, err
	}
	cv, err := a.cadence(ctx, in.CadenceVersion)
	if err != nil {
		return SendResult{}, err
	}
	// The thread is looked up before the claim: a failed lookup must not hold the lease.
	var parent *store.SentEmail
	if in.Thread {
		last, err := a.Store.LastSentEmail(ctx, in.DealID)
		switch {
		case err == nil:
			parent = &last
		case !errors.Is(err, store.ErrNotFound):
			return SendResult{}, fmt.Errorf("find the thread of %s: %w", key, err)
		}
	}
	claim, err := a.Store.ClaimEmail(ctx, store.ClaimRequest{
		Key: key, ContactID: parties.ContactID, Address: parties.Contact.Email, Template: in.Template,
		MessageID: mail.MessageID(a.Mail.MessageIDSecret, key.String(), a.Mail.MessageIDDomain),
		Lease:     ClaimLease, CadenceVersion: in.CadenceVersion,
	})
	if err != nil {
		return SendResult{}, err
	}
	result := SendResult{MessageID: claim.MessageID, Attempts: claim.Attempts, Ambiguous: claim.Ambiguous}
	switch {
	case claim.Busy:
		// An attempt on a lost worker holds the lease: the retry comes when it ends, not
		// after a backoff that may overshoot it by minutes.
		return SendResult{}, temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("another attempt holds the ledger lease for %s for %s more", key, claim.LeaseLeft.Round(time.Second)),
			ErrTypeClaimBusy, temporal.ApplicationErrorOptions{NextRetryDelay: claim.LeaseLeft + leaseSlack})
	case !claim.Granted:
		// Terminal already (an earlier attempt finished): never send twice.
		result.Outcome, reported = outcomeOf(claim.State), true
		return result, nil
	}

	// Tell the server this attempt is alive; a cancellation requested meanwhile (the deal
	// left the stage) arrives with the answer and stops the send before SMTP.
	activity.RecordHeartbeat(ctx, key.String())
	th := threading{Parent: parent}
	if claim.Envelope.Subject != "" {
		th.Resend = &claim.Envelope
	}
	// The link is issued when the key was first claimed, so every attempt of it (a retry
	// after an ambiguous one) sends the same message.
	msg, renderErr := a.compose(in, cv, parties, claim.MessageID, th, claim.ClaimedAt)
	if renderErr == nil && a.Mail.DailyCap > 0 {
		slot, err := a.Store.ReserveMailboxSlot(ctx, key, mail.Mailbox(msg.From), a.Mail.DailyCap)
		if err != nil {
			return SendResult{}, fmt.Errorf("reserve a mailbox slot for %s: %w", key, err)
		}
		if !slot.Granted {
			logger.Info("Mailbox cap reached: email deferred", "Key", key.String(), "Sent24h", slot.Sent, "Until", slot.NotBefore)
			result.Outcome, result.DeferredUntil = SendDeferred, slot.NotBefore
			result.DeferReason = fmt.Sprintf("the sending mailbox reached its cap of %d emails in 24 hours", a.Mail.DailyCap)
			return result, nil
		}
	}
	composed := store.Envelope{Subject: msg.Subject, InReplyTo: msg.InReplyTo, ThreadRoot: msg.ThreadRoot}
	out, err := a.Store.SendLockedSpaced(ctx, key, parties.ContactID, parties.Contact.Email, a.Mail.ContactSpacing, composed, func(ctx context.Context) store.SendOutcome {
		if renderErr != nil {
			return store.SendOutcome{State: store.EmailFailed, Detail: "render: " + renderErr.Error()}
		}
		started := time.Now()
		resp, err := a.Sender.Send(ctx, msg)
		opsmetrics.ObserveSend(time.Since(started))
		out := store.SendOutcome{State: store.EmailSent, Detail: resp}
		if err != nil {
			out = outcomeOfFailure(mail.Classify(err))
		}
		if out.State == store.EmailSent || out.State == store.EmailAmbiguous {
			// The message may be in the prospect's mailbox: retries send this one again.
			out.Envelope = composed
		}
		return out
	})
	if err != nil {
		return SendResult{}, fmt.Errorf("send %s: %w", key, err)
	}
	result.Ambiguous = result.Ambiguous || out.Ambiguous
	result.Code, result.Enhanced = out.Code, out.Enhanced
	switch out.State {
	case store.EmailDeferred:
		result.Outcome, result.DeferredUntil = SendDeferred, out.NotBefore
		result.DeferReason = fmt.Sprintf("another deal emailed this contact less than %s ago", a.Mail.ContactSpacing)
		return result, nil
	case store.EmailRetry:
		reply := "no reply code: dial or network error"
		if out.Code != 0 {
			reply = strings.TrimSpace(fmt.Sprintf("reply %d %s", out.Code, out.Enhanced))
		}
		return SendResult{}, temporal.NewApplicationError(fmt.Sprintf("SMTP transient failure for %s (%s)", key, reply), ErrTypeSMTPTransient)
	case store.EmailAmbiguous:
		logger.Warn("SMTP outcome unknown: retrying with the same Message-ID", "Key", key.String(), "MessageID", claim.MessageID)
		return SendResult{}, temporal.NewApplicationError(fmt.Sprintf("SMTP connection lost after the final dot for %s", key), ErrTypeSMTPAmbiguous)
	case store.EmailRejected:
		logger.Error("SMTP policy rejection: check sender authentication and reputation (prospect not suppressed)",
			"Key", key.String(), "Code", out.Code, "Enhanced", out.Enhanced, "Detail", out.Detail)
	case store.EmailBounced:
		logger.Info("Hard bounce: address suppressed", "Key", key.String(), "Enhanced", out.Enhanced)
	}
	result.Outcome = outcomeOf(out.State)
	return result, nil
}

// AbandonEmail records in the ledger that a key's retries ran out (Schedule-To-Close).
func (a *Activities) AbandonEmail(ctx context.Context, in SendInput) error {
	key := store.LedgerKey{DealID: in.DealID, Visit: in.Visit, StepID: in.StepID, Occurrence: in.Occurrence}
	return a.Store.AbandonEmail(ctx, key, "retries ran out without an accepted send")
}

// CancelEmail records in the ledger that the deal stopped a key whose send was being
// retried, with in.Reason.
func (a *Activities) CancelEmail(ctx context.Context, in SendInput) error {
	key := store.LedgerKey{DealID: in.DealID, Visit: in.Visit, StepID: in.StepID, Occurrence: in.Occurrence}
	return a.Store.CancelEmail(ctx, key, in.Reason)
}

func outcomeOf(state string) SendOutcome {
	switch state {
	case store.EmailSent:
		return SendSent
	case store.EmailSuppressed:
		return SendSuppressed
	case store.EmailBounced:
		return SendBounced
	case store.EmailRejected:
		return SendRejected
	default:
		return SendFailed
	}
}

func outcomeOfFailure(f mail.Failure) store.SendOutcome {
	out := store.SendOutcome{Code: f.Code, Enhanced: f.Enhanced, Detail: f.Detail}
	switch f.Class {
	case mail.FailTransient:
		out.State = store.EmailRetry
	case mail.FailAmbiguous:
		out.State, out.Ambiguous = store.EmailAmbiguous, true
	case mail.FailPermanentAddress:
		out.State, out.SuppressAddress = store.EmailBounced, true
	case mail.FailPermanentPolicy:
		out.State = store.EmailRejected
	default:
		out.State = store.EmailFailed
	}
	return out
}

// threading is where compose puts an email in its deal's thread.
type threading struct {
	// Resend: the envelope an earlier attempt of the key recorded (that message may have
	// been delivered). When set, the email goes out with it again, whatever changed since (a
	// newer parent, a new subject): one Message-ID always names one message.
	Resend *store.Envelope
	// Parent: the deal's last sent email, which a threaded step replies to; nil for a new
	// thread.
	Parent *store.SentEmail
}

// compose renders the step's template for the deal's contact, threaded as th says. The
// unsubscribe link is issued at issuedAt.
func (a *Activities) compose(in SendInput, c *published, parties store.SendContext, messageID string, th threading, issuedAt time.Time) (mail.Message, error) {
	tpl, ok := c.template(in.Template)
	if !ok {
		return mail.Message{}, fmt.Errorf("template %q is not in cadence version %d", in.Template, in.CadenceVersion)
	}
	data := renderData(parties)
	subject, err := tpl.subject.render(data)
	if err != nil {
		return mail.Message{}, err
	}
	text, err := tpl.text.render(data)
	if err != nil {
		return mail.Message{}, err
	}
	var htmlBody string
	if tpl.html.set() {
		if htmlBody, err = tpl.html.render(data); err != nil {
			return mail.Message{}, err
		}
	}
	msg := mail.Message{MessageID: messageID, Headers: map[string]string{"X-Followup-Step": in.StepID}}
	switch {
	case th.Resend != nil:
		subject, msg.InReplyTo, msg.ThreadRoot = th.Resend.Subject, th.Resend.InReplyTo, th.Resend.ThreadRoot
	case th.Parent != nil:
		msg.InReplyTo, msg.ThreadRoot = th.Parent.MessageID, th.Parent.ThreadRoot
		if msg.ThreadRoot == "" {
			msg.ThreadRoot = th.Parent.MessageID
		}
		subject = render.ReplySubject(th.Parent.Subject, subject)
	}
	msg.Subject = subject
	// The signed unsubscribe link: in the List-Unsubscribe header (RFC 8058) and in the
	// footer beside the postal address, for readers and for bases the header cannot use.
	unsubscribeURL, err := a.Mail.Unsubscribe.URL(parties.ContactID, parties.DealID, issuedAt)
	if err != nil {
		return mail.Message{}, err
	}
	msg.Text, msg.HTML = withFooter(text, htmlBody, a.Mail.PostalAddress, unsubscribeURL)
	if a.Mail.Unsubscribe.OneClick() {
		msg.ListUnsubscribeURL = unsubscribeURL
	}
	msg.From, msg.ReplyTo = senderOf(c.Pipeline.Sender, parties.Owner, a.Mail.DefaultFrom)
	msg.To = parties.Contact.Email
	if name := data.Contact.Name; name != "" {
		msg.To = fmt.Sprintf("%s <%s>", quoteName(name), parties.Contact.Email)
	}
	return msg, nil
}

// withFooter appends the postal address and the unsubscribe link to both parts.
func withFooter(text, htmlBody, postal, unsubscribeURL string) (string, string) {
	if postal == "" && unsubscribeURL == "" {
		return text, htmlBody
	}
	text += "\n--\n"
	var footer []string
	if postal != "" {
		text += postal + "\n"
		footer = append(footer, html.EscapeString(postal))
	}
	if unsubscribeURL != "" {
		text += "Unsubscribe: " + unsubscribeURL + "\n"
		footer = append(footer, "<a href=\""+html.EscapeString(unsubscribeURL)+"\">Unsubscribe</a>")
	}
	if htmlBody != "" {
		htmlBody += "<hr><p style=\"font-size:small;color:#666\">" + strings.Join(footer, "<br>") + "</p>"
	}
	return text, htmlBody
}

// senderOf picks From and Reply-To: the pipeline's sender wins (a team mailbox), then the
// owner's own identity, then MAIL_FROM, then the owner's address. Replies go to the
// pipeline's reply_to, else the owner's, else the owner's address: a reply reaches a person.
func senderOf(pipeline *cadence.Sender, owner store.Party, defaultFrom string) (from, replyTo string) {
	var pFrom, pReplyTo string
	if pipeline != nil {
		pFrom, pReplyTo = pipeline.From, pipeline.ReplyTo
	}
	return firstSet(pFrom, owner.SenderFrom, defaultFrom, owner.Email), firstSet(pReplyTo, owner.SenderReplyTo, owner.Email)
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// quoteName quotes a display name when it holds characters RFC 5322 reserves.
func quoteName(name string) string {
	name = render.OneLine(name)
	if strings.ContainsAny(name, `()<>[]:;@\,."`) {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name
}
