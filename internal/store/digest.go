package store

// This file owns the rep's morning digest: who gets one (DigestOwners), what it lists
// (DigestReplies, DigestEngineMoves, with OpenTasks for the tasks), the digest_ledger that
// sends it once per owner and local date, and users.digest_off.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxDigestOwners bounds the owners one read of DigestOwners returns.
const MaxDigestOwners = 1000

// DigestOwner is an owner who may get a morning digest: a rep (an enabled user of role rep
// by the owner's email) who has not turned it off and whom no owner pause holds now.
type DigestOwner struct {
	ID            string
	Email         string
	Name          string
	Zone          string // '' means UTC here: a digest has no pipeline to fall back on
	Country       string
	BusinessHours string
	// LastSentAt is when this owner's last digest went out, if one did.
	LastSentAt *time.Time
	// LastLedgerDate is the latest local date (YYYY-MM-DD) of the owner's digest_ledger rows,
	// sent or claimed; "" with none.
	LastLedgerDate string
}

// DigestOwners lists the owners who may get a digest now, in id order, at most limit
// (1 to MaxDigestOwners) after the owner id after ("" for the first page).
func (s *Store) DigestOwners(ctx context.Context, after string, limit int) ([]DigestOwner, error) {
	if limit < 1 || limit > MaxDigestOwners {
		return nil, fmt.Errorf("digest owners: limit %d is not from 1 to %d", limit, MaxDigestOwners)
	}
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.pool.Query(ctx, digestOwnerQuery+`AND o.id > $1::uuid ORDER BY o.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("digest owners: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DigestOwner, error) { return scanDigestOwner(r) })
}

// DigestOwnerByID is one owner as DigestOwners would list them; false when that owner gets
// no digest now (no rep, digest off, paused).
func (s *Store) DigestOwnerByID(ctx context.Context, id string) (DigestOwner, bool, error) {
	o, err := scanDigestOwner(s.pool.QueryRow(ctx, digestOwnerQuery+`AND o.id = $1::uuid`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return DigestOwner{}, false, nil
	}
	if err != nil {
		return DigestOwner{}, false, fmt.Errorf("digest owner %s: %w", id, err)
	}
	return o, true, nil
}

const digestOwnerQuery = `SELECT o.id, o.email, o.name, o.zone, o.country, o.business_hours,
		(SELECT max(l.sent_at) FROM digest_ledger l WHERE l.owner_id = o.id AND l.state = 'sent'),
		coalesce((SELECT max(l.local_date)::text FROM digest_ledger l WHERE l.owner_id = o.id), '')
	FROM owners o
	WHERE EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(o.email)
			AND u.role = 'rep' AND u.disabled_at IS NULL AND NOT u.digest_off)
		AND NOT EXISTS (SELECT 1 FROM pauses p WHERE p.scope = 'owner' AND p.key = o.id::text
			AND p.lifted_at IS NULL AND (p.until IS NULL OR p.until > now())) `

func scanDigestOwner(r pgx.Row) (DigestOwner, error) {
	var o DigestOwner
	err := r.Scan(&o.ID, &o.Email, &o.Name, &o.Zone, &o.Country, &o.BusinessHours, &o.LastSentAt, &o.LastLedgerDate)
	return o, err
}

// DigestState is the state of a digest_ledger row.
type DigestState string

const (
	DigestClaimed DigestState = "claimed" // an attempt holds it (claimed_at + the lease)
	DigestSent    DigestState = "sent"
)

// DigestClaim is what ClaimDigest decided.
type DigestClaim struct {
	Claimed   bool        // this caller may send now
	State     DigestState // the row's state when not claimed
	MessageID string      // the Message-ID every attempt of this digest uses
	ClaimedAt time.Time
}

// ClaimDigest claims the digest of an owner for a local date before it is sent: the first
// caller inserts the row, a later one re-takes it only when the claim is older than lease
// (a crashed attempt) and never once it is sent. Concurrent callers: exactly one claims.
func (s *Store) ClaimDigest(ctx context.Context, ownerID string, localDate time.Time, messageID string, lease time.Duration) (DigestClaim, error) {
	date := localDate.Format(time.DateOnly)
	var c DigestClaim
	err := s.pool.QueryRow(ctx, `INSERT INTO digest_ledger (owner_id, local_date, state, message_id)
		VALUES ($1::uuid, $2::date, 'claimed', $3)
		ON CONFLICT (owner_id, local_date) DO UPDATE SET claimed_at = now()
			WHERE digest_ledger.state = 'claimed' AND digest_ledger.claimed_at < now() - $4::interval
		RETURNING message_id, claimed_at`, ownerID, date, messageID, lease.String()).Scan(&c.MessageID, &c.ClaimedAt)
	if err == nil {
		c.Claimed = true
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return DigestClaim{}, fmt.Errorf("claim digest of owner %s for %s: %w", ownerID, date, err)
	}
	err = s.pool.QueryRow(ctx, `SELECT state, message_id, claimed_at FROM digest_ledger
		WHERE owner_id = $1::uuid AND local_date = $2::date`, ownerID, date).Scan(&c.State, &c.MessageID, &c.ClaimedAt)
	if err != nil {
		return DigestClaim{}, fmt.Errorf("claim digest of owner %s for %s: %w", ownerID, date, err)
	}
	return c, nil
}

// MarkDigestSent records the digest of an owner for a local date as sent.
func (s *Store) MarkDigestSent(ctx context.Context, ownerID string, localDate time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE digest_ledger SET state = 'sent', sent_at = now()
		WHERE owner_id = $1::uuid AND local_date = $2::date`, ownerID, localDate.Format(time.DateOnly))
	if err != nil {
		return fmt.Errorf("mark digest of owner %s sent: %w", ownerID, err)
	}
	return nil
}

// ReleaseDigest drops a claim whose send failed for sure, so a later round tries again.
func (s *Store) ReleaseDigest(ctx context.Context, ownerID string, localDate time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM digest_ledger
		WHERE owner_id = $1::uuid AND local_date = $2::date AND state = 'claimed'`, ownerID, localDate.Format(time.DateOnly))
	return err
}

// SetDigestOff turns a user's morning digest off (or on again); ErrNotFound without such a user.
func (s *Store) SetDigestOff(ctx context.Context, email string, off bool) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `UPDATE users SET digest_off = $2 WHERE lower(email) = lower($1)
		RETURNING id, email, name, role, disabled_at, created_at`, email, off).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return u, err
}

// MaxDigestItems bounds each list of a digest.
const MaxDigestItems = 50

// DigestReply is a prospect's reply to one of the owner's deals.
type DigestReply struct {
	DealID     string
	DealTitle  string
	From       string
	Subject    string
	ReceivedAt time.Time
}

// DigestReplies lists the prospects' replies to the owner's deals since a time, newest first,
// at most MaxDigestItems: every engaged event of kind reply (from the API, the CLI or the
// mailbox intake, with the message's sender and subject when a mailbox read it), and the
// replies a mailbox read that became no event.
func (s *Store) DigestReplies(ctx context.Context, ownerID string, since time.Time) ([]DigestReply, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, title, sender, subject, at FROM (
			SELECT d.id, d.title, coalesce(m.from_address, c.email) AS sender, coalesce(m.subject, '') AS subject,
				e.received_at AS at
			FROM inbound_events e JOIN deals d ON d.id = e.deal_id JOIN contacts c ON c.id = d.contact_id
				LEFT JOIN LATERAL (SELECT m.from_address, m.subject FROM inbound_messages m
					WHERE m.received_at >= $2::timestamptz - interval '1 day' AND e.id = ANY (m.event_ids) LIMIT 1) m ON true
			WHERE d.owner_id = $1::uuid AND e.kind = 'engaged' AND e.payload->>'kind' = 'reply'
				AND e.state NOT IN ('duplicate', 'refused') AND e.received_at >= $2
			UNION ALL
			SELECT d.id, d.title, m.from_address, m.subject, m.received_at
			FROM inbound_messages m JOIN deals d ON d.id = ANY (m.deal_ids)
			WHERE d.owner_id = $1::uuid AND m.kind = 'reply' AND m.received_at >= $2 AND cardinality(m.event_ids) = 0
		) r ORDER BY at DESC LIMIT $3`, ownerID, since, MaxDigestItems)
	if err != nil {
		return nil, fmt.Errorf("digest replies of owner %s: %w", ownerID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DigestReply, error) {
		var x DigestReply
		err := r.Scan(&x.DealID, &x.DealTitle, &x.From, &x.Subject, &x.ReceivedAt)
		return x, err
	})
}

// DigestMove is a stage change the engine made by itself (on_stale, on_exhausted).
type DigestMove struct {
	DealID    string
	DealTitle string
	From, To  string
	Reason    string
	At        time.Time
}

// DigestEngineMoves lists the owner's deals' stage transitions whose source is "engine"
// since a time, newest first, at most MaxDigestItems.
func (s *Store) DigestEngineMoves(ctx context.Context, ownerID string, since time.Time) ([]DigestMove, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.id, d.title, st.from_stage, st.to_stage, st.reason, st.at
		FROM stage_transitions st JOIN deals d ON d.id = st.deal_id
		WHERE d.owner_id = $1::uuid AND st.source = 'engine' AND st.at >= $2
		ORDER BY st.at DESC, st.id DESC LIMIT $3`, ownerID, since, MaxDigestItems)
	if err != nil {
		return nil, fmt.Errorf("digest moves of owner %s: %w", ownerID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DigestMove, error) {
		var x DigestMove
		err := r.Scan(&x.DealID, &x.DealTitle, &x.From, &x.To, &x.Reason, &x.At)
		return x, err
	})
}
