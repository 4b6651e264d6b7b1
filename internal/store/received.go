package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReceivedEvent is an inbound event recorded but not yet signalled (state received): the
// request that recorded it failed, or its process stopped, before Temporal accepted it.
type ReceivedEvent struct {
	ID            int64
	Source        string
	SourceEventID string
	Kind          string
	DealID        string // empty when the row names no deal
	SourceTime    time.Time
	Payload       []byte // what the front door recorded of the request, JSON
	ReceivedAt    time.Time
}

// ReceivedEvents lists up to limit events still in received that were recorded more than
// olderThan ago by the database's clock: those the sweeper never tried first, oldest first,
// then those it tried least recently.
func (s *Store) ReceivedEvents(ctx context.Context, olderThan time.Duration, limit int) ([]ReceivedEvent, error) {
	if olderThan < 0 {
		olderThan = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT id, source, source_event_id, kind, deal_id, source_time, payload, received_at
		FROM inbound_events
		WHERE state = 'received' AND received_at < now() - $1 * interval '1 microsecond'
		ORDER BY swept_at NULLS FIRST, received_at, id LIMIT $2`, olderThan.Microseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("list received events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReceivedEvent, error) {
		var e ReceivedEvent
		var dealID *string
		err := r.Scan(&e.ID, &e.Source, &e.SourceEventID, &e.Kind, &dealID, &e.SourceTime, &e.Payload, &e.ReceivedAt)
		if dealID != nil {
			e.DealID = *dealID
		}
		return e, err
	})
}

// LockEvent takes a session advisory lock on one inbound event, so that two sweepers (in
// one process or several) never re-signal the same row at once. ok is false when another
// session holds it. The lock lives on a connection of its own until unlock, which the
// caller must call when ok; a process that dies loses it with its connection.
func (s *Store) LockEvent(ctx context.Context, id int64) (unlock func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock event %d: %w", id, err)
	}
	const key = `hashtextextended('inbound-event:' || $1::bigint::text, 0)`
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, id).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lock event %d: %w", id, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+key+`)`, id); err != nil {
			// Closing the session is what frees the lock then; the pool drops the connection.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}

// NoteSweepAttempt records that the sweeper is trying an event now.
func (s *Store) NoteSweepAttempt(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE inbound_events SET swept_at = now(), sweep_attempts = sweep_attempts + 1 WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("note sweep attempt of event %d: %w", id, err)
	}
	return nil
}

// EventState reads an inbound event's state and outcome reason.
func (s *Store) EventState(ctx context.Context, id int64) (state, reason string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT state, outcome_reason FROM inbound_events WHERE id = $1`, id).Scan(&state, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("inbound event %d: %w", id, ErrNotFound)
	}
	return state, reason, err
}

// PauseByID reads one owner or pipeline pause, or ErrNotFound.
func (s *Store) PauseByID(ctx context.Context, id int64) (Pause, error) {
	p, err := scanPause(s.pool.QueryRow(ctx, `SELECT `+pauseColumns+` FROM pauses WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Pause{}, fmt.Errorf("pause %d: %w", id, ErrNotFound)
	}
	return p, err
}

// LaterEvent returns the id of the deal's first inbound event of one of kinds, from any
// source but notSource, recorded after event afterID, and whether there is one. A pause
// swept late must not undo the resume that came after it.
func (s *Store) LaterEvent(ctx context.Context, dealID string, afterID int64, kinds []string, notSource string) (int64, bool, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM inbound_events WHERE deal_id = $1 AND id > $2 AND kind = ANY($3) AND source <> $4
		ORDER BY id LIMIT 1`,
		dealID, afterID, kinds, notSource).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}
