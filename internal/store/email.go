package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/followup-engine/followup/internal/mail"
)

// LedgerKey identifies one email the cadence meant to send: never a run id, never a cadence
// version, so continue-as-new and migrations cannot resend what was sent.
type LedgerKey struct {
	DealID     string `json:"deal_id"`
	Visit      int    `json:"visit"`
	StepID     string `json:"step_id"`
	Occurrence int    `json:"occurrence"`
}

func (k LedgerKey) String() string {
	return k.DealID + "/" + strconv.Itoa(k.Visit) + "/" + k.StepID + "/" + strconv.Itoa(k.Occurrence)
}

// Ledger states.
const (
	EmailSending    = "sending"    // claimed; an attempt is (or was) under way
	EmailRetry      = "retry"      // a transient failure: nothing was accepted
	EmailDeferred   = "deferred"   // held back by a send limit: the deal re-plans it
	EmailAmbiguous  = "ambiguous"  // the connection was lost after the final dot
	EmailSent       = "sent"       // accepted with 250
	EmailSuppressed = "suppressed" // skipped: opted out or bounced before
	EmailBounced    = "bounced"    // 5.1.x: the address is suppressed now
	EmailRejected   = "rejected"   // 5.7.x: a policy problem of ours, not the prospect's
	EmailFailed     = "failed"     // permanent for another reason
	EmailCancelled  = "cancelled"  // the deal stopped it while it was retried (left the stage, a reply)
)

// EmailTerminal reports whether a ledger state is final: no further attempt may send.
func EmailTerminal(state string) bool {
	switch state {
	case EmailSent, EmailSuppressed, EmailBounced, EmailRejected, EmailFailed, EmailCancelled:
		return true
	}
	return false
}

// ClaimRequest asks for the right to attempt one send.
type ClaimRequest struct {
	Key       LedgerKey
	ContactID string
	Address   string
	Template  string
	MessageID string        // used when the row is new; an existing row keeps its own
	Lease     time.Duration // longer than the send activity's Start-To-Close
	// CadenceVersion: the version the workflow sends under, recorded with a new row for the
	// per-step statistics (it is not part of the key: a migration never resends).
	CadenceVersion int64
}

// Claim is the ledger row's state after a claim.
type Claim struct {
	State     string
	MessageID string
	// ClaimedAt is when the key was first claimed: the same for every attempt, so whatever
	// an email derives from it (its unsubscribe link's issued-at) is the same on a retry.
	ClaimedAt time.Time
	Attempts  int
	Ambiguous bool
	Granted   bool // this attempt may send
	Busy      bool // another attempt holds a live lease
	// LeaseLeft: when Busy, how long the other attempt's lease still runs; the retry waits
	// exactly that, not a backoff that may overshoot it by minutes.
	LeaseLeft time.Duration
	// Envelope: what an earlier attempt of this key composed, when that attempt may have
	// been delivered (sent, ambiguous); zero before any was. A retry sends it again, so one
	// Message-ID always names one message.
	Envelope Envelope
}

// Envelope is what the ledger keeps of a composed email beside its Message-ID.
type Envelope struct {
	Subject    string
	InReplyTo  string // the message it answers; '' when it is not a reply
	ThreadRoot string // the first message of its thread; '' when it is that message
}

// ClaimEmail claims the ledger row for one attempt, in its own committed transaction, with
// the Message-ID stored at the first claim. A terminal row is returned as is (never sent
// twice); a row whose previous attempt vanished without an outcome is marked ambiguous.
func (s *Store) ClaimEmail(ctx context.Context, r ClaimRequest) (Claim, error) {
	var c Claim
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c = Claim{}
		k := r.Key
		err := tx.QueryRow(ctx, `
			INSERT INTO email_ledger (deal_id, visit, step_id, occurrence, contact_id, to_address, template, message_id,
				state, attempts, lease_until, cadence_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', 1, now() + $9::interval, $10)
			ON CONFLICT (deal_id, visit, step_id, occurrence) DO NOTHING
			RETURNING state, message_id, claimed_at, attempts, ambiguous`,
			k.DealID, k.Visit, k.StepID, k.Occurrence, r.ContactID, strings.ToLower(r.Address), r.Template, r.MessageID, r.Lease,
			r.CadenceVersion,
		).Scan(&c.State, &c.MessageID, &c.ClaimedAt, &c.Attempts, &c.Ambiguous)
		if err == nil {
			c.Granted = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("claim email %s: %w", k, err)
		}
		var leaseLeftMS int64
		err = tx.QueryRow(ctx, `
			SELECT state, message_id, claimed_at, attempts, ambiguous,
				coalesce(ceil(extract(epoch FROM lease_until - now()) * 1000), 0)::bigint, subject, in_reply_to, thread_root
			FROM email_ledger WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4 FOR UPDATE`,
			k.DealID, k.Visit, k.StepID, k.Occurrence).Scan(&c.State, &c.MessageID, &c.ClaimedAt, &c.Attempts, &c.Ambiguous, &leaseLeftMS,
			&c.Envelope.Subject, &c.Envelope.InReplyTo, &c.Envelope.ThreadRoot)
		if err != nil {
			return fmt.Errorf("claim email %s: %w", k, err)
		}
		if EmailTerminal(c.State) {
			return nil
		}
		if c.State == EmailSending && leaseLeftMS > 0 {
			c.Busy, c.LeaseLeft = true, time.Duration(leaseLeftMS)*time.Millisecond
			return nil
		}
		// A 'sending' row with an expired lease lost its attempt between claim and outcome:
		// whether that attempt reached the server is unknown.
		lostAttempt := c.State == EmailSending
		err = tx.QueryRow(ctx, `
			UPDATE email_ledger SET state = 'sending', attempts = attempts + 1, ambiguous = ambiguous OR $5,
				lease_until = now() + $6::interval, updated_at = now(),
				detail = CASE WHEN $5 THEN 'previous attempt ended without a recorded outcome' ELSE detail END
			WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4
			RETURNING state, attempts, ambiguous`,
			k.DealID, k.Visit, k.StepID, k.Occurrence, lostAttempt, r.Lease).Scan(&c.State, &c.Attempts, &c.Ambiguous)
		if err != nil {
			return fmt.Errorf("reclaim email %s: %w", k, err)
		}
		c.Granted = true
		return nil
	})
	return c, err
}

// SendOutcome is what one attempt ended with.
type SendOutcome struct {
	State           string    // one of the Email* states except sending
	NotBefore       time.Time // EmailDeferred: when the limit lets the email go
	Code            int
	Enhanced        string
	Detail          string
	Ambiguous       bool // the attempt may have been delivered
	SuppressAddress bool // a hard bounce: suppress the address
	// Envelope: what this attempt composed, set when the message may have been delivered
	// (sent, ambiguous). The first one recorded stays: retries resend it.
	Envelope Envelope
}

// SendLocked runs send while holding the contact's lock, the same lock an opt-out takes, in
// a transaction that re-checks suppression first and records the outcome: a committed opt-out
// is therefore never followed by a send. The connection is held across the SMTP exchange.
//
// Once send has run, its outcome is recorded and committed even if ctx ends meanwhile, so a
// message the server accepted is never left looking unsent. If anything fails before send
// runs, the claim's lease is released, so the retry neither waits for it nor is mistaken for
// an attempt whose outcome is unknown.
func (s *Store) SendLocked(ctx context.Context, key LedgerKey, contactID, address string,
	send func(context.Context) SendOutcome) (out SendOutcome, err error) {
	return s.SendLockedSpaced(ctx, key, contactID, address, 0, Envelope{}, send)
}

// SendLockedSpaced is SendLocked that also keeps deals apart: when another deal's email to the
// same contact was sent (or is being sent) less than spacing ago, nothing is sent and the
// outcome is EmailDeferred with the instant the contact may hear from this deal. The check
// runs under the contact's lock, so two deals' sends cannot both pass it.
//
// composed is the envelope this attempt would send. When an earlier attempt of the key may
// have been delivered (the row is ambiguous) and this one sends nothing (suppressed since,
// deferred), the row keeps that envelope: the ledger still says which message may be in the
// prospect's mailbox.
func (s *Store) SendLockedSpaced(ctx context.Context, key LedgerKey, contactID, address string, spacing time.Duration,
	composed Envelope, send func(context.Context) SendOutcome) (out SendOutcome, err error) {
	attempted := false
	defer func() {
		if err != nil && !attempted {
			s.releaseClaim(key)
		}
	}()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return SendOutcome{}, fmt.Errorf("begin send: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := lockContact(ctx, tx, contactID); err != nil {
		return SendOutcome{}, err
	}
	var reason string
	err = tx.QueryRow(ctx, `
		SELECT reason || ' (' || source || ')' FROM suppressions
		WHERE contact_id = $1 OR address = lower($2) ORDER BY id LIMIT 1`, contactID, address).Scan(&reason)
	switch {
	case err == nil:
		out = SendOutcome{State: EmailSuppressed, Detail: "suppressed: " + reason}
	case errors.Is(err, pgx.ErrNoRows):
		if err := ctx.Err(); err != nil {
			return SendOutcome{}, fmt.Errorf("send not attempted: %w", err)
		}
		var last *time.Time
		if spacing > 0 {
			err := tx.QueryRow(ctx, `
				SELECT max(coalesce(sent_at, updated_at)) FROM email_ledger
				WHERE contact_id = $1 AND deal_id <> $2
					-- Under this lock no other send is mid-SMTP: what counts is what went out, or
					-- may have (ambiguous, or an attempt that vanished after claiming).
					AND (state IN ('sent', 'ambiguous') OR (state = 'sending' AND lease_until < now()))
					AND coalesce(sent_at, updated_at) > now() - $3::interval`, contactID, key.DealID, spacing).Scan(&last)
			if err != nil {
				return SendOutcome{}, fmt.Errorf("check contact spacing: %w", err)
			}
		}
		if last != nil {
			out = SendOutcome{State: EmailDeferred, NotBefore: last.Add(spacing),
				Detail: fmt.Sprintf("deferred: another deal emailed this contact at %s; deals keep %s apart", last.UTC().Format(time.RFC3339), spacing)}
			break
		}
		attempted = true
		out = send(ctx)
	default:
		return SendOutcome{}, fmt.Errorf("check suppression: %w", err)
	}
	// From here the outcome is known: record it whatever happens to ctx.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var code *int
	if out.Code != 0 {
		code = &out.Code
	}
	// The envelope is pinned when this attempt may have been delivered (out.Envelope), or,
	// when it sent nothing, if an earlier attempt may have been (the row is ambiguous).
	env, mayHaveDelivered := out.Envelope, out.Envelope != (Envelope{})
	if !mayHaveDelivered && !attempted {
		env = composed
	}
	_, err = tx.Exec(rctx, `
		UPDATE email_ledger SET state = $5, smtp_code = $6, smtp_enhanced = $7,
			detail = CASE WHEN ambiguous AND $5 NOT IN ('sent', 'ambiguous')
				THEN $8 || '; an earlier attempt may have been delivered' ELSE $8 END,
			ambiguous = ambiguous OR $9, lease_until = NULL, updated_at = now(),
			-- The database's clock orders a deal's sends (threads reply to the last), not
			-- the clocks of the workers that sent them.
			sent_at = CASE WHEN $5 = 'sent' THEN coalesce(sent_at, clock_timestamp()) ELSE sent_at END,
			subject = CASE WHEN subject = '' AND ($13 OR ambiguous) THEN $10 ELSE subject END,
			in_reply_to = CASE WHEN subject = '' AND ($13 OR ambiguous) THEN $11 ELSE in_reply_to END,
			thread_root = CASE WHEN subject = '' AND ($13 OR ambiguous) THEN $12 ELSE thread_root END
		WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4`,
		key.DealID, key.Visit, key.StepID, key.Occurrence, out.State, code, out.Enhanced, out.Detail, out.Ambiguous,
		env.Subject, env.InReplyTo, env.ThreadRoot, mayHaveDelivered)
	if err != nil {
		return out, fmt.Errorf("record send outcome: %w", err)
	}
	if out.SuppressAddress {
		_, err = tx.Exec(rctx, `INSERT INTO suppressions (contact_id, address, reason, source, detail) VALUES ($1, lower($2), 'bounce', 'smtp', $3)`,
			contactID, address, out.Detail)
		if err != nil {
			return out, fmt.Errorf("record bounce suppression: %w", err)
		}
	}
	if err := tx.Commit(rctx); err != nil {
		return out, fmt.Errorf("commit send outcome: %w", err)
	}
	return out, nil
}

// MailboxSlot is the answer of ReserveMailboxSlot.
type MailboxSlot struct {
	Granted   bool
	Sent      int       // emails the mailbox sent (or is sending) in the last 24 hours
	NotBefore time.Time // when not granted: when the oldest of them leaves the window
}

// CapWindow is the rolling window of the per-mailbox cap.
const CapWindow = 24 * time.Hour

// ReserveMailboxSlot takes one of a sending mailbox's daily slots for a claimed ledger row,
// under the mailbox's lock, so concurrent sends cannot overshoot the cap. A refused row is
// marked deferred. Rows count while sending, sent or ambiguous; a row that ends otherwise
// (suppressed, failed, deferred…) frees its slot by itself. The mailbox is keyed by
// mail.Mailbox, the key relays are picked by.
func (s *Store) ReserveMailboxSlot(ctx context.Context, key LedgerKey, mailbox string, cap int) (MailboxSlot, error) {
	mailbox = mail.Mailbox(mailbox)
	var slot MailboxSlot
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		slot = MailboxSlot{}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mailbox:' || $1, 0))`, mailbox); err != nil {
			return fmt.Errorf("lock mailbox: %w", err)
		}
		const counted = `FROM email_ledger WHERE mailbox = $1 AND counted_at > now() - $2::interval
			AND state IN ('sending', 'sent', 'ambiguous')
			AND NOT (deal_id = $3 AND visit = $4 AND step_id = $5 AND occurrence = $6)`
		args := []any{mailbox, CapWindow, key.DealID, key.Visit, key.StepID, key.Occurrence}
		if err := tx.QueryRow(ctx, `SELECT count(*) `+counted, args...).Scan(&slot.Sent); err != nil {
			return fmt.Errorf("count mailbox sends: %w", err)
		}
		if cap <= 0 || slot.Sent < cap {
			slot.Granted = true
			_, err := tx.Exec(ctx, `UPDATE email_ledger SET mailbox = $1, counted_at = now()
				WHERE deal_id = $2 AND visit = $3 AND step_id = $4 AND occurrence = $5`, mailbox, key.DealID, key.Visit, key.StepID, key.Occurrence)
			return err
		}
		// The slot frees when enough of the counted sends have left the window.
		var oldest time.Time
		err := tx.QueryRow(ctx, `SELECT counted_at `+counted+` ORDER BY counted_at OFFSET $7 LIMIT 1`,
			append(args, slot.Sent-cap)...).Scan(&oldest)
		if err != nil {
			return fmt.Errorf("find the mailbox's next slot: %w", err)
		}
		slot.NotBefore = oldest.Add(CapWindow)
		_, err = tx.Exec(ctx, `UPDATE email_ledger SET state = 'deferred', lease_until = NULL, updated_at = now(), detail = $5
			WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4 AND state = 'sending'`,
			key.DealID, key.Visit, key.StepID, key.Occurrence,
			fmt.Sprintf("deferred: the sending mailbox reached its cap of %d emails in 24 hours; a slot frees at %s", cap, slot.NotBefore.UTC().Format(time.RFC3339)))
		return err
	})
	return slot, err
}

// releaseClaim returns a claim whose attempt never reached SMTP to 'retry'.
func (s *Store) releaseClaim(key LedgerKey) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.pool.Exec(ctx, `UPDATE email_ledger SET state = 'retry', lease_until = NULL, updated_at = now()
		WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4 AND state = 'sending'`,
		key.DealID, key.Visit, key.StepID, key.Occurrence)
}

// AbandonEmail records that a key's retries ran out without an accepted send. A row still
// leased by a live attempt, or already final, is left alone.
func (s *Store) AbandonEmail(ctx context.Context, key LedgerKey, detail string) error {
	return s.closeUnsent(ctx, key, EmailFailed, detail)
}

// CancelEmail records that the deal stopped a key whose send was being retried; like
// AbandonEmail it leaves a live lease and a final row alone.
func (s *Store) CancelEmail(ctx context.Context, key LedgerKey, detail string) error {
	return s.closeUnsent(ctx, key, EmailCancelled, detail)
}

func (s *Store) closeUnsent(ctx context.Context, key LedgerKey, state, detail string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE email_ledger SET state = $5, detail = $6, lease_until = NULL, updated_at = now()
		WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4
			AND (state IN ('retry', 'ambiguous') OR (state = 'sending' AND lease_until < now()))`,
		key.DealID, key.Visit, key.StepID, key.Occurrence, state, detail)
	return err
}

func lockContact(ctx context.Context, tx pgx.Tx, contactID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('contact:' || $1::text, 0))`, contactID)
	if err != nil {
		return fmt.Errorf("lock contact: %w", err)
	}
	return nil
}

// Suppression is an opt-out, a bounce or a manual block.
type Suppression struct {
	ContactID string // optional
	Address   string // optional
	Reason    string // unsubscribe, bounce, complaint, manual
	Source    string
	Detail    string
}

// Suppress records a suppression under the contact's lock, so it serialises with sends:
// once this commits, no send for the contact can follow. Suppression is permanent; a new
// deal for the same contact does not clear it.
func (s *Store) Suppress(ctx context.Context, sup Suppression) error {
	if sup.ContactID == "" && sup.Address == "" {
		return errors.New("suppress: a contact or an address is required")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		lockID := sup.ContactID
		if lockID == "" {
			// An address-only opt-out still serialises with sends to the contact it names.
			err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE lower(email) = lower($1)`, sup.Address).Scan(&lockID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if lockID != "" {
			if err := lockContact(ctx, tx, lockID); err != nil {
				return err
			}
		}
		var contact, address *string
		if sup.ContactID != "" {
			contact = &sup.ContactID
		}
		if sup.Address != "" {
			a := strings.ToLower(sup.Address)
			address = &a
		}
		_, err := tx.Exec(ctx, `INSERT INTO suppressions (contact_id, address, reason, source, detail) VALUES ($1, $2, $3, $4, $5)`,
			contact, address, sup.Reason, sup.Source, sup.Detail)
		return err
	})
}

// Suppressed reports whether a contact or its address is suppressed.
func (s *Store) Suppressed(ctx context.Context, contactID, address string) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM suppressions WHERE contact_id = $1 OR address = lower($2)`,
		contactID, address).Scan(&n)
	return n > 0, err
}

// LedgerEntry is one email ledger row.
type LedgerEntry struct {
	Key       LedgerKey `json:"key"`
	ToAddress string    `json:"to_address"`
	Template  string    `json:"template"`
	MessageID string    `json:"message_id"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	Ambiguous bool      `json:"ambiguous"`
	// Delivered says plainly whether the prospect has the email: yes, maybe (an attempt's
	// outcome was lost after the message was handed over, and the row is not sent), no, or
	// pending (still being tried).
	Delivered string     `json:"delivered"`
	SMTPCode  *int       `json:"smtp_code,omitempty"`
	Enhanced  string     `json:"enhanced"`
	Detail    string     `json:"detail"`
	ClaimedAt time.Time  `json:"claimed_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Ledger lists a deal's email ledger, oldest first.
func (s *Store) Ledger(ctx context.Context, dealID string) ([]LedgerEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT deal_id, visit, step_id, occurrence, to_address, template, message_id, state, attempts, ambiguous,
			smtp_code, smtp_enhanced, detail, claimed_at, sent_at
		FROM email_ledger WHERE deal_id = $1 ORDER BY claimed_at, visit, step_id, occurrence`, dealID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := row.Scan(&e.Key.DealID, &e.Key.Visit, &e.Key.StepID, &e.Key.Occurrence, &e.ToAddress, &e.Template, &e.MessageID,
			&e.State, &e.Attempts, &e.Ambiguous, &e.SMTPCode, &e.Enhanced, &e.Detail, &e.ClaimedAt, &e.SentAt)
		e.Delivered = delivered(e.State, e.Ambiguous)
		return e, err
	})
}

// Delivery answers to the question "does the prospect have this email?".
const (
	DeliveredYes     = "yes"
	DeliveredMaybe   = "maybe"
	DeliveredNo      = "no"
	DeliveredPending = "pending"
)

func delivered(state string, ambiguous bool) string {
	switch {
	case state == EmailSent:
		return DeliveredYes
	case ambiguous:
		return DeliveredMaybe
	case EmailTerminal(state):
		return DeliveredNo
	}
	return DeliveredPending
}

// SentEmail is an email of a deal the mail server accepted.
type SentEmail struct {
	MessageID, Subject string
	ThreadRoot         string // the first message of its thread; '' when it is that message
}

// LastSentEmail returns the deal's most recently sent email, which a threaded follow-up
// replies to; ErrNotFound when the deal has sent none.
func (s *Store) LastSentEmail(ctx context.Context, dealID string) (SentEmail, error) {
	var e SentEmail
	err := s.pool.QueryRow(ctx, `
		SELECT message_id, subject, thread_root FROM email_ledger
		WHERE deal_id = $1 AND state = 'sent' ORDER BY sent_at DESC, claimed_at DESC LIMIT 1`, dealID).Scan(&e.MessageID, &e.Subject, &e.ThreadRoot)
	if errors.Is(err, pgx.ErrNoRows) {
		return SentEmail{}, fmt.Errorf("no email sent for deal %s: %w", dealID, ErrNotFound)
	}
	return e, err
}

// SendContext is what a send needs to know about a deal's parties.
type SendContext struct {
	DealID, Title string
	Owner         Party
	Contact       Party
	ContactID     string
}

// Party is an owner or a contact as emails and task titles address them.
type Party struct {
	Email, FirstName, LastName, Name, Company string
	SenderFrom, SenderReplyTo                 string
	Zone, Country, BusinessHours              string // calendar overrides; empty: the pipeline's
}

// DealParties loads the owner and contact of a deal.
func (s *Store) DealParties(ctx context.Context, dealID string) (SendContext, error) {
	var sc SendContext
	err := s.pool.QueryRow(ctx, `
		SELECT d.id, d.title, c.id, c.email, c.first_name, c.last_name, c.company, c.zone, c.country,
			o.email, o.name, o.company, o.sender_from, o.sender_reply_to, o.zone, o.country, o.business_hours
		FROM deals d JOIN contacts c ON c.id = d.contact_id JOIN owners o ON o.id = d.owner_id
		WHERE d.id = $1`, dealID).Scan(&sc.DealID, &sc.Title, &sc.ContactID, &sc.Contact.Email, &sc.Contact.FirstName,
		&sc.Contact.LastName, &sc.Contact.Company, &sc.Contact.Zone, &sc.Contact.Country, &sc.Owner.Email, &sc.Owner.Name,
		&sc.Owner.Company, &sc.Owner.SenderFrom, &sc.Owner.SenderReplyTo, &sc.Owner.Zone, &sc.Owner.Country, &sc.Owner.BusinessHours)
	if errors.Is(err, pgx.ErrNoRows) {
		return SendContext{}, fmt.Errorf("deal %s: %w", dealID, ErrNotFound)
	}
	if err != nil {
		return SendContext{}, err
	}
	// The names templates use: the contact's full name, the owner's first word.
	sc.Contact.Name = strings.TrimSpace(sc.Contact.FirstName + " " + sc.Contact.LastName)
	sc.Owner.Name = strings.TrimSpace(sc.Owner.Name)
	sc.Owner.FirstName, _, _ = strings.Cut(sc.Owner.Name, " ")
	return sc, nil
}
