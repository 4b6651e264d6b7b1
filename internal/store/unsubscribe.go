package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// UnsubscribeTarget is what the unsubscribe page of a signed link shows and needs.
type UnsubscribeTarget struct {
	ContactEmail string
	// OwnerName and OwnerCompany are the deal owner's, when the deal is the contact's.
	OwnerName, OwnerCompany string
	// DealFound: the link's deal exists and is the contact's, so the opt-out can go through
	// the deal's front door (deals.Service.Engage) and reach its workflow.
	DealFound bool
	// Unsubscribed: an unsubscribe (or a spam complaint) of the contact, or of its address,
	// is recorded already.
	Unsubscribed bool
}

// UnsubscribeTarget reads the contact and deal a signed unsubscribe link names; ErrNotFound
// when the contact is unknown.
func (s *Store) UnsubscribeTarget(ctx context.Context, contactID, dealID string) (UnsubscribeTarget, error) {
	var t UnsubscribeTarget
	err := s.pool.QueryRow(ctx, `
		SELECT c.email, coalesce(o.name, ''), coalesce(o.company, ''), d.id IS NOT NULL,
			EXISTS (SELECT 1 FROM suppressions sp WHERE sp.reason IN ('unsubscribe', 'complaint')
				AND (sp.contact_id = c.id OR sp.address = lower(c.email)))
		FROM contacts c
			LEFT JOIN deals d ON d.id = $2::uuid AND d.contact_id = c.id
			LEFT JOIN owners o ON o.id = d.owner_id
		WHERE c.id = $1::uuid`, contactID, dealID).
		Scan(&t.ContactEmail, &t.OwnerName, &t.OwnerCompany, &t.DealFound, &t.Unsubscribed)
	if errors.Is(err, pgx.ErrNoRows) {
		return UnsubscribeTarget{}, fmt.Errorf("contact %s: %w", contactID, ErrNotFound)
	}
	return t, err
}

// UnsubscribeContact records that a contact opted out, under the contact's lock (the lock
// sends take), so once it returns no send to the contact can follow. It is idempotent: a
// contact already unsubscribed gets no second row (added reports whether this call wrote
// one). It serves opt-outs that cannot go through a deal (a link whose deal is unknown);
// RecordEngagement is the path of the others. ErrNotFound when the contact is unknown.
func (s *Store) UnsubscribeContact(ctx context.Context, contactID, source, detail string) (added bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1::uuid)`, contactID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("contact %s: %w", contactID, ErrNotFound)
		}
		if err := lockContact(ctx, tx, contactID); err != nil {
			return err
		}
		// The same check as RecordEngagement's, so the two paths share one row per contact.
		tag, err := tx.Exec(ctx, `
			INSERT INTO suppressions (contact_id, address, reason, source, detail)
			SELECT $1::uuid, NULL, 'unsubscribe', $2::text, $3::text
			WHERE NOT EXISTS (SELECT 1 FROM suppressions WHERE reason = 'unsubscribe'
				AND contact_id = $1::uuid AND address IS NULL)`,
			contactID, source, detail)
		if err != nil {
			return fmt.Errorf("record unsubscribe: %w", err)
		}
		added = tag.RowsAffected() == 1
		return nil
	})
	return added, err
}

// EmailOfLink finds the email whose unsubscribe link was used: the link names the deal, the
// contact and its issued-at, which is the email's first claim to the second (activities
// compose the link from Claim.ClaimedAt). found is false when no email, or more than one,
// matches: the opt-out then names no email and the statistics fall back to the last one sent.
func (s *Store) EmailOfLink(ctx context.Context, dealID, contactID string, issuedAt time.Time) (key LedgerKey, found bool, err error) {
	rows, err := s.pool.Query(ctx, `
		SELECT deal_id::text, visit, step_id, occurrence FROM email_ledger
		WHERE deal_id = $1::uuid AND contact_id = $2::uuid AND claimed_at >= $3 AND claimed_at < $3 + interval '1 second'
		LIMIT 2`, dealID, contactID, issuedAt)
	if err != nil {
		return LedgerKey{}, false, fmt.Errorf("email of unsubscribe link: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerKey, error) {
		var k LedgerKey
		return k, r.Scan(&k.DealID, &k.Visit, &k.StepID, &k.Occurrence)
	})
	if err != nil || len(keys) != 1 {
		return LedgerKey{}, false, err
	}
	return keys[0], true, nil
}
