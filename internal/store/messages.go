package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// This file owns the inbound_messages and mailbox_cursors tables: the mailbox intake's record
// of every message it read, and where each polled mailbox stopped. It also holds the reads
// the intake matches a message with (the ledger by Message-ID and by address, contacts' open
// deals, our own addresses).

// MessageKind is what a read message is (inbound_messages.kind); the classifier names the
// same values.
type MessageKind string

// MessageMatch says how a message was tied to deals (inbound_messages.match).
type MessageMatch string

// The ways a message is matched: thread (In-Reply-To or References name an email of ours,
// or a report's attached original does: exact), recipient (a report names an address we
// mailed), sender (the sender is the contact of open deals: weaker), none.
const (
	MatchThread    MessageMatch = "thread"
	MatchRecipient MessageMatch = "recipient"
	MatchSender    MessageMatch = "sender"
	MatchNone      MessageMatch = "none"
)

// MessageOutcome is what became of a read message (inbound_messages.outcome).
type MessageOutcome string

// The outcomes of a message: engaged (delivered to its deals as engagement events), recorded
// (kept, nothing to do: a delayed delivery, a feedback report), ignored (changes no deal; the
// reason says why).
const (
	MessageEngaged  MessageOutcome = "engaged"
	MessageRecorded MessageOutcome = "recorded"
	MessageIgnored  MessageOutcome = "ignored"
)

// InboundMessage is one message the intake read and what became of it.
type InboundMessage struct {
	ID         int64          `json:"id"`
	Key        string         `json:"key"`           // "mid:" + Message-ID, or "sha256:" + hex
	Source     string         `json:"source"`        // "imap:" + mailbox, "api" or "cli"
	UID        uint32         `json:"uid,omitempty"` // the IMAP UID; 0 otherwise
	From       string         `json:"from"`
	Subject    string         `json:"subject"`
	SentAt     time.Time      `json:"sent_at,omitzero"` // the message's Date; zero when it had none
	Kind       MessageKind    `json:"kind"`
	Rule       string         `json:"rule"`
	Match      MessageMatch   `json:"match"`
	Answers    *LedgerKey     `json:"answers,omitempty"` // the email of ours it answers or reports on
	Outcome    MessageOutcome `json:"outcome"`
	Reason     string         `json:"reason,omitempty"`
	ReturnOn   string         `json:"return_on,omitempty"` // YYYY-MM-DD, an automatic reply's return date
	DealIDs    []string       `json:"deals"`
	EventIDs   []int64        `json:"events"`
	ReceivedAt time.Time      `json:"received_at"`
}

const messageColumns = `id, message_key, source, coalesce(uid, 0), from_address, subject, sent_at, kind, rule, match,
	answers_deal::text, answers_visit, answers_step, answers_occurrence, outcome, reason,
	coalesce(to_char(return_on, 'YYYY-MM-DD'), ''), deal_ids::text[], event_ids, received_at`

func scanMessage(row pgx.Row) (InboundMessage, error) {
	var m InboundMessage
	var sentAt *time.Time
	var deal, step *string
	var visit, occurrence *int
	var uid int64
	err := row.Scan(&m.ID, &m.Key, &m.Source, &uid, &m.From, &m.Subject, &sentAt, &m.Kind, &m.Rule, &m.Match,
		&deal, &visit, &step, &occurrence, &m.Outcome, &m.Reason, &m.ReturnOn, &m.DealIDs, &m.EventIDs, &m.ReceivedAt)
	if err != nil {
		return InboundMessage{}, err
	}
	m.UID = uint32(uid)
	if sentAt != nil {
		m.SentAt = *sentAt
	}
	if deal != nil && visit != nil && step != nil && occurrence != nil {
		m.Answers = &LedgerKey{DealID: *deal, Visit: *visit, StepID: *step, Occurrence: *occurrence}
	}
	return m, nil
}

// InboundMessageByKey reads the message recorded under key, or ErrNotFound.
func (s *Store) InboundMessageByKey(ctx context.Context, key string) (InboundMessage, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM inbound_messages WHERE message_key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return InboundMessage{}, fmt.Errorf("message %s: %w", key, ErrNotFound)
	}
	return m, err
}

// RecordInboundMessage records a message once: a message already recorded under the same
// key (read again, or from a second mailbox) keeps its first record, which is returned with
// inserted false.
func (s *Store) RecordInboundMessage(ctx context.Context, m InboundMessage) (rec InboundMessage, inserted bool, err error) {
	// What a message says is stored bounded and as text PostgreSQL takes (UTF-8, no NUL): a
	// message that cannot be recorded would be read again forever.
	m.Key, m.From, m.Subject = boundedText(m.Key, 1000), boundedText(m.From, 320), boundedText(m.Subject, 1000)
	m.Rule, m.Reason = boundedText(m.Rule, 1000), boundedText(m.Reason, 2000)
	var sentAt *time.Time
	if !m.SentAt.IsZero() {
		sentAt = &m.SentAt
	}
	var uid *int64
	if m.UID != 0 {
		u := int64(m.UID)
		uid = &u
	}
	var returnOn *string
	if m.ReturnOn != "" {
		returnOn = &m.ReturnOn
	}
	var deal, step *string
	var visit, occurrence *int
	if a := m.Answers; a != nil {
		deal, visit, step, occurrence = &a.DealID, &a.Visit, &a.StepID, &a.Occurrence
	}
	if m.DealIDs == nil {
		m.DealIDs = []string{}
	}
	if m.EventIDs == nil {
		m.EventIDs = []int64{}
	}
	rec, err = scanMessage(s.pool.QueryRow(ctx, `
		INSERT INTO inbound_messages (message_key, source, uid, from_address, subject, sent_at, kind, rule, match,
			answers_deal, answers_visit, answers_step, answers_occurrence, outcome, reason, return_on, deal_ids, event_ids)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::date, $17::uuid[], $18)
		ON CONFLICT (message_key) DO NOTHING
		RETURNING `+messageColumns, m.Key, m.Source, uid, m.From, m.Subject, sentAt, m.Kind, m.Rule, m.Match,
		deal, visit, step, occurrence, m.Outcome, m.Reason, returnOn, m.DealIDs, m.EventIDs))
	if errors.Is(err, pgx.ErrNoRows) {
		rec, err = s.InboundMessageByKey(ctx, m.Key)
		return rec, false, err
	}
	if err != nil {
		return InboundMessage{}, false, fmt.Errorf("record inbound message: %w", err)
	}
	return rec, true, nil
}

// MessageFilter selects recorded messages, newest first.
type MessageFilter struct {
	DealID  string // messages delivered to this deal; empty: all
	Outcome MessageOutcome
	Before  int64 // messages with a smaller id (paging); 0: from the newest
	Limit   int
}

// InboundMessages lists recorded messages.
func (s *Store) InboundMessages(ctx context.Context, f MessageFilter) ([]InboundMessage, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var deal *string
	if f.DealID != "" {
		deal = &f.DealID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM inbound_messages
		WHERE ($1::uuid IS NULL OR $1::uuid = ANY (deal_ids) OR answers_deal = $1::uuid)
		  AND ($2 = '' OR outcome = $2) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, deal, string(f.Outcome), f.Before, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboundMessage, error) { return scanMessage(r) })
}

// LedgerEmail is an email of ours found by its Message-ID or its address.
type LedgerEmail struct {
	Key       LedgerKey
	ContactID string
	ToAddress string
	State     string
	DealOpen  bool
	SentAt    time.Time // when it was sent, else claimed
}

// EmailByMessageID finds the ledger's email with that Message-ID (without angle brackets), or
// ErrNotFound.
func (s *Store) EmailByMessageID(ctx context.Context, messageID string) (LedgerEmail, error) {
	var e LedgerEmail
	err := s.pool.QueryRow(ctx, `
		SELECT l.deal_id, l.visit, l.step_id, l.occurrence, l.contact_id, l.to_address, l.state, d.state = 'open',
			coalesce(l.sent_at, l.claimed_at)
		FROM email_ledger l JOIN deals d ON d.id = l.deal_id WHERE l.message_id = $1`, messageID).
		Scan(&e.Key.DealID, &e.Key.Visit, &e.Key.StepID, &e.Key.Occurrence, &e.ContactID, &e.ToAddress, &e.State, &e.DealOpen, &e.SentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return LedgerEmail{}, fmt.Errorf("email %s: %w", messageID, ErrNotFound)
	}
	return e, err
}

// EmailsToAddress lists, per deal, the latest email we sent (or may have sent) to address,
// newest first, at most limit deals.
func (s *Store) EmailsToAddress(ctx context.Context, address string, limit int) ([]LedgerEmail, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT deal_id, visit, step_id, occurrence, contact_id, to_address, state, open, at FROM (
			SELECT DISTINCT ON (l.deal_id) l.deal_id, l.visit, l.step_id, l.occurrence, l.contact_id, l.to_address,
				l.state, d.state = 'open' AS open, coalesce(l.sent_at, l.claimed_at) AS at
			FROM email_ledger l JOIN deals d ON d.id = l.deal_id
			WHERE lower(l.to_address) = lower($1) AND (l.state IN ('sent', 'ambiguous', 'bounced') OR l.ambiguous)
			ORDER BY l.deal_id, coalesce(l.sent_at, l.claimed_at) DESC) latest
		ORDER BY at DESC LIMIT $2`, address, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerEmail, error) {
		var e LedgerEmail
		err := r.Scan(&e.Key.DealID, &e.Key.Visit, &e.Key.StepID, &e.Key.Occurrence, &e.ContactID, &e.ToAddress, &e.State, &e.DealOpen, &e.SentAt)
		return e, err
	})
}

// OpenDealsOfContact lists the open deals whose contact has this email address, oldest
// first, at most limit.
func (s *Store) OpenDealsOfContact(ctx context.Context, address string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.id::text FROM deals d JOIN contacts c ON c.id = d.contact_id
		WHERE lower(c.email) = lower($1) AND d.state = 'open' ORDER BY d.created_at, d.id LIMIT $2`, address, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// OwnAddress says whether address is one of ours: an owner's address or sender identity, or
// a mailbox the engine has sent from.
func (s *Store) OwnAddress(ctx context.Context, address string) (bool, error) {
	a := strings.ToLower(strings.TrimSpace(address))
	if a == "" {
		return false, nil
	}
	var own bool
	// sender_from and sender_reply_to may hold "Name <addr>": the bracketed form matches too.
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM owners WHERE lower(email) = $1
				OR lower(sender_from) IN ($1, $2) OR lower(sender_from) LIKE $3
				OR lower(sender_reply_to) IN ($1, $2) OR lower(sender_reply_to) LIKE $3)
			OR EXISTS (SELECT 1 FROM email_ledger WHERE mailbox = $1 AND counted_at IS NOT NULL)`,
		a, "<"+a+">", "%<"+likeEscape(a)+">").Scan(&own)
	return own, err
}

// boundedText is s as valid UTF-8 without NUL, cut to at most max bytes on a rune boundary.
func boundedText(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// MailboxCursor is where a polled mailbox stopped: every message up to LastUID under
// UIDValidity was taken in.
type MailboxCursor struct {
	UIDValidity uint32    `json:"uid_validity"`
	LastUID     uint32    `json:"last_uid"`
	PolledAt    time.Time `json:"polled_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// MailboxCursorOf reads a mailbox's cursor; found is false for a mailbox never polled.
func (s *Store) MailboxCursorOf(ctx context.Context, mailbox string) (c MailboxCursor, found bool, err error) {
	var validity, last int64
	var polled *time.Time
	err = s.pool.QueryRow(ctx, `SELECT uid_validity, last_uid, polled_at, last_error FROM mailbox_cursors WHERE mailbox = $1`, mailbox).
		Scan(&validity, &last, &polled, &c.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return MailboxCursor{}, false, nil
	}
	if err != nil {
		return MailboxCursor{}, false, err
	}
	c.UIDValidity, c.LastUID = uint32(validity), uint32(last)
	if polled != nil {
		c.PolledAt = *polled
	}
	return c, true, nil
}

// SaveMailboxCursor moves a mailbox's cursor: under a new UIDVALIDITY it starts over.
func (s *Store) SaveMailboxCursor(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO mailbox_cursors (mailbox, uid_validity, last_uid) VALUES ($1, $2, $3)
		ON CONFLICT (mailbox) DO UPDATE SET uid_validity = $2, last_uid = $3, updated_at = now()`,
		mailbox, int64(uidValidity), int64(lastUID))
	return err
}

// NoteMailboxPoll records the end of a poll: its time, and its error (empty when it went
// well). A mailbox whose first poll failed gets a cursor with UIDVALIDITY 0: nothing read yet.
func (s *Store) NoteMailboxPoll(ctx context.Context, mailbox, pollError string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO mailbox_cursors (mailbox, uid_validity, polled_at, last_error) VALUES ($1, 0, now(), $2)
		ON CONFLICT (mailbox) DO UPDATE SET polled_at = now(), last_error = $2`, mailbox, boundedText(pollError, 1000))
	return err
}

// MailboxCursors lists every polled mailbox's cursor by name.
func (s *Store) MailboxCursors(ctx context.Context) (map[string]MailboxCursor, error) {
	rows, err := s.pool.Query(ctx, `SELECT mailbox, uid_validity, last_uid, polled_at, last_error FROM mailbox_cursors`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]MailboxCursor{}
	for rows.Next() {
		var name string
		var validity, last int64
		var polled *time.Time
		var c MailboxCursor
		if err := rows.Scan(&name, &validity, &last, &polled, &c.LastError); err != nil {
			return nil, err
		}
		c.UIDValidity, c.LastUID = uint32(validity), uint32(last)
		if polled != nil {
			c.PolledAt = *polled
		}
		out[name] = c
	}
	return out, rows.Err()
}

// WithMailboxLock runs fn while holding the mailbox's advisory lock, so two processes never
// poll one mailbox at once; ran is false (and fn not called) when another holds it.
func (s *Store) WithMailboxLock(ctx context.Context, mailbox string, fn func(context.Context) error) (ran bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	key := "followup-mailbox:" + mailbox
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ran); err != nil || !ran {
		return false, err
	}
	defer func() {
		// A lock that cannot be released (the connection broke) ends with its session.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); uerr != nil {
			conn.Conn().Close(unlockCtx)
		}
	}()
	return true, fn(ctx)
}
