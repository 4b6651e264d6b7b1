package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// EngagementEvent is something the prospect did (a reply, a bounce, …), received from outside.
type EngagementEvent struct {
	DealID     string
	Source     string
	EventID    string
	SourceTime time.Time
	Payload    []byte // the request as received, JSON
	// Suppress is "bounce" (suppress Address, default the deal contact's email), "unsubscribe"
	// or "complaint" (suppress the deal's contact, and Address too when given; a complaint is
	// an unsubscribe the prospect made by reporting the email as spam) or empty.
	Suppress string
	Address  string
	Detail   string // stored with the suppression
}

// RecordedEngagement is the result of RecordEngagement.
type RecordedEngagement struct {
	Event InboundEvent
	// Suppressed is true when the event asked for a suppression: it is committed, either by
	// this call or by an earlier one.
	Suppressed bool
	// SuppressionAdded is true when this call inserted the suppression row.
	SuppressionAdded bool
}

// ReasonClosedSuppressed is the outcome of a bounce or unsubscribe for a closed deal: the
// suppression is recorded, the workflow (which has nothing left to send) is not signalled.
const ReasonClosedSuppressed = "suppression recorded; the deal is closed, so its workflow was not signalled"

// RecordEngagement stores an engagement event before it is signalled and, for a bounce or an
// unsubscribe, the suppression, in the same transaction and under the contact's lock (the
// lock sends take): once it returns, no send to the contact or address can follow, and a
// retried event finds both recorded. A suppression already present for the same target and
// reason is not recorded twice.
//
// A closed deal refuses other engagements (stored as refused, ErrDealClosed returned, as
// RecordStageEvent does); a bounce or unsubscribe for a closed deal is still suppressed and
// its event stored as applied, since suppression always wins.
func (s *Store) RecordEngagement(ctx context.Context, ev EngagementEvent) (RecordedEngagement, error) {
	if ev.Suppress != "" && ev.Suppress != "bounce" && ev.Suppress != "unsubscribe" && ev.Suppress != "complaint" {
		return RecordedEngagement{}, fmt.Errorf("record engagement: suppress %q (want bounce, unsubscribe or complaint)", ev.Suppress)
	}
	var out RecordedEngagement
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = RecordedEngagement{}
		var state, contactID, email string
		err := tx.QueryRow(ctx, `SELECT d.state, d.contact_id, c.email FROM deals d JOIN contacts c ON c.id = d.contact_id
			WHERE d.id = $1 FOR SHARE OF d`, ev.DealID).Scan(&state, &contactID, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("deal %s: %w", ev.DealID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		out.Event, err = recordEvent(ctx, tx, ev.Source, ev.EventID, KindEngaged, ev.DealID, ev.SourceTime, ev.Payload)
		if err != nil {
			return err
		}
		if ev.Suppress != "" {
			if err := lockContact(ctx, tx, contactID); err != nil {
				return err
			}
			var contact, address *string
			switch ev.Suppress {
			case "bounce":
				a := strings.ToLower(ev.Address)
				if a == "" {
					a = strings.ToLower(email)
				}
				address = &a
			case "unsubscribe", "complaint":
				contact = &contactID
				if ev.Address != "" {
					a := strings.ToLower(ev.Address)
					address = &a
				}
			}
			// The same target with the same reason is one suppression: a retry, or a second
			// report of the same bounce, adds no row. The contact lock serialises the check.
			tag, err := tx.Exec(ctx, `
				INSERT INTO suppressions (contact_id, address, reason, source, detail)
				SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text
				WHERE NOT EXISTS (SELECT 1 FROM suppressions WHERE reason = $3
					AND contact_id IS NOT DISTINCT FROM $1 AND address IS NOT DISTINCT FROM $2)`,
				contact, address, ev.Suppress, ev.Source, ev.Detail)
			if err != nil {
				return fmt.Errorf("record suppression: %w", err)
			}
			out.Suppressed, out.SuppressionAdded = true, tag.RowsAffected() == 1
		}
		if state == "closed" && out.Event.State.Pending() {
			// Only reopen restarts a deal; a suppression is applied regardless.
			out.Event.State, out.Event.Reason = EventRefused, ReasonClosed
			if ev.Suppress != "" {
				out.Event.State, out.Event.Reason = EventApplied, ReasonClosedSuppressed
			}
			err = setEventState(ctx, tx, out.Event.ID, out.Event.State, out.Event.Reason)
		}
		return err
	})
	if err == nil && out.Event.State == EventRefused && ev.Suppress == "" {
		return out, fmt.Errorf("deal %s: %w", ev.DealID, ErrDealClosed)
	}
	return out, err
}

// TaskByID reads one task, or ErrNotFound.
func (s *Store) TaskByID(ctx context.Context, id int64) (Task, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id)
	if err != nil {
		return Task{}, err
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTask)
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("task %d: %w", id, ErrNotFound)
	}
	return t, err
}
