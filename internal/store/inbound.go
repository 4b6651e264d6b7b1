package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/followup-engine/followup/internal/opsmetrics"
)

// This file owns the inbound_events table: every INSERT and UPDATE of it is here. An inbound
// event is one input from outside (a create, a stage change, an engagement, …), recorded
// before its deal hears of it, with its lifecycle:
//
//	received → signalled → applied | ignored | duplicate | refused
//
// received: recorded, not yet handed to the deal's workflow (the sweeper retries it);
// signalled: Temporal accepted it; the other states are outcomes, recorded by the front door
// (refused: the deal is closed) or by the workflow, which keeps the first one.

// EventKind is what an inbound event asks of its deal (inbound_events.kind).
type EventKind string

// The kinds of inbound events. workflows.EventKind names the same values.
const (
	KindCreated      EventKind = "created"
	KindStageChanged EventKind = "stage_changed"
	KindEngaged      EventKind = "engaged"
	KindTaskClosed   EventKind = "task_closed"
	KindTaskSnoozed  EventKind = "task_snoozed"
	KindPaused       EventKind = "paused"
	KindResumed      EventKind = "resumed"
	KindMigrate      EventKind = "migrate"
	KindReopen       EventKind = "reopen"
	KindOwnerChanged EventKind = "owner_changed"
)

// EventState is where an inbound event is in its lifecycle (inbound_events.state).
type EventState string

// The states of an inbound event.
const (
	EventReceived  EventState = "received"
	EventSignalled EventState = "signalled"
	EventApplied   EventState = "applied"
	EventIgnored   EventState = "ignored"
	EventDuplicate EventState = "duplicate"
	EventRefused   EventState = "refused"
)

// Pending says whether the event still waits for its deal to hear of it, or to decide: an
// event in such a state for a closed deal is refused.
func (s EventState) Pending() bool { return s == EventReceived || s == EventSignalled }

// ReasonClosed is the outcome reason of an event refused because its deal is closed.
const ReasonClosed = "deal is closed; reopen it to continue"

// InboundEvent is the recorded state of one input from outside.
type InboundEvent struct {
	ID       int64
	State    EventState
	Reason   string
	Inserted bool // false when the same (source, event id) was recorded before
}

// InboundEventRecord is a recorded inbound event looked up by its source key.
type InboundEventRecord struct {
	ID      int64
	DealID  string // empty when the event names no deal
	Kind    EventKind
	State   EventState
	Reason  string
	Payload []byte
}

// InboundEventByKey reads the event a source recorded under eventID, or ErrNotFound.
func (s *Store) InboundEventByKey(ctx context.Context, source, eventID string) (InboundEventRecord, error) {
	var e InboundEventRecord
	var dealID *string
	err := s.pool.QueryRow(ctx, `SELECT id, deal_id, kind, state, outcome_reason, payload FROM inbound_events
		WHERE source = $1 AND source_event_id = $2`, source, eventID).Scan(&e.ID, &dealID, &e.Kind, &e.State, &e.Reason, &e.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return InboundEventRecord{}, fmt.Errorf("event %s/%s: %w", source, eventID, ErrNotFound)
	}
	if err != nil {
		return InboundEventRecord{}, err
	}
	if dealID != nil {
		e.DealID = *dealID
	}
	return e, nil
}

type actorKey struct{}

// WithActor names who, as authenticated, sends the events recorded under ctx: "user:<email>"
// for an API token's user, "api-token" for the bootstrap API_TOKEN, "cli:<login>" for the
// CLI, "mailbox:<name>" for the mailbox intake. The source a request names stays as given.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor WithActor set, or "".
func ActorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// recordEvent records an inbound event in state received, or finds the one recorded under
// the same (source, event id): the same deal and kind is a retry (Inserted false); another
// deal or kind is refused (*EventIDTakenError).
func recordEvent(ctx context.Context, tx pgx.Tx, source, eventID string, kind EventKind, dealID string, at time.Time, payload []byte) (InboundEvent, error) {
	if payload == nil {
		payload = []byte("{}")
	}
	ev := InboundEvent{Inserted: true}
	err := tx.QueryRow(ctx, `
		INSERT INTO inbound_events (source, source_event_id, kind, deal_id, source_time, payload, actor)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (source, source_event_id) DO NOTHING
		RETURNING id, state, outcome_reason`, source, eventID, kind, dealID, at, payload, ActorOf(ctx)).Scan(&ev.ID, &ev.State, &ev.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		ev.Inserted = false
		var prev InboundEventRecord
		err = tx.QueryRow(ctx, `SELECT id, coalesce(deal_id::text, ''), kind, state, outcome_reason, payload FROM inbound_events
			WHERE source = $1 AND source_event_id = $2`, source, eventID).
			Scan(&prev.ID, &prev.DealID, &prev.Kind, &prev.State, &prev.Reason, &prev.Payload)
		if err == nil && (prev.DealID != dealID || prev.Kind != kind) {
			// The same key for another deal or kind is another request, never its duplicate.
			return InboundEvent{}, &EventIDTakenError{Source: source, EventID: eventID, Holder: prev}
		}
		ev.ID, ev.State, ev.Reason = prev.ID, prev.State, prev.Reason
	}
	if err != nil {
		return InboundEvent{}, fmt.Errorf("record inbound event: %w", err)
	}
	fate := "retried"
	if ev.Inserted {
		fate = string(EventReceived)
	}
	opsmetrics.CountInboundEvent(source, fate)
	return ev, nil
}

// countFates counts, in the metrics, the events an UPDATE … RETURNING source moved to state.
func countFates(rows pgx.Rows, err error, state EventState) error {
	if err != nil {
		return err
	}
	moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, source := range moved {
		opsmetrics.CountInboundEvent(source, string(state))
	}
	return nil
}

// ErrEventIDTaken: a source's event id already names another request (another deal, kind or
// payload). The request is refused, naming the event that holds the id (*EventIDTakenError).
var ErrEventIDTaken = errors.New("event id already used for another request")

// EventIDTakenError names the recorded event that holds a (source, event id).
type EventIDTakenError struct {
	Source, EventID string
	Holder          InboundEventRecord
}

func (e *EventIDTakenError) Error() string {
	return fmt.Sprintf("event id %q of source %s was already used for another request: event %d (%s on deal %s); send a new event id",
		e.EventID, e.Source, e.Holder.ID, e.Holder.Kind, e.Holder.DealID)
}

// Is makes errors.Is(err, ErrEventIDTaken) true.
func (e *EventIDTakenError) Is(target error) bool { return target == ErrEventIDTaken }

// MarkEventSignalled moves an event from received to signalled once Temporal accepted it.
//
// It runs once Temporal accepted the signal, so the caller's cancellation (a client gone, a
// server stopping) does not stop it: a row left 'received' would be signalled again.
func (s *Store) MarkEventSignalled(ctx context.Context, id int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rows, err := s.pool.Query(ctx, `UPDATE inbound_events SET state = $2, updated_at = now()
		WHERE id = $1 AND state = $3 RETURNING source`, id, EventSignalled, EventReceived)
	return countFates(rows, err, EventSignalled)
}

// SetEventOutcome records what became of an event that was not applied. A decided event
// keeps its first outcome: a redelivered copy marked duplicate must not hide that it applied.
func (s *Store) SetEventOutcome(ctx context.Context, id int64, state EventState, reason string) error {
	rows, err := s.pool.Query(ctx, `UPDATE inbound_events SET state = $2, outcome_reason = $3, updated_at = now()
		WHERE id = $1 AND state IN ($4, $5) RETURNING source`, id, state, reason, EventReceived, EventSignalled)
	return countFates(rows, err, state)
}

// markSignalled moves an event from received to signalled inside the caller's transaction.
func markSignalled(ctx context.Context, tx pgx.Tx, id int64) error {
	rows, err := tx.Query(ctx, `UPDATE inbound_events SET state = $2, updated_at = now() WHERE id = $1 AND state = $3 RETURNING source`,
		id, EventSignalled, EventReceived)
	if err := countFates(rows, err, EventSignalled); err != nil {
		return fmt.Errorf("mark inbound event %d signalled: %w", id, err)
	}
	return nil
}

// dropReceived deletes an event of kind still in received: a claim given up.
func dropReceived(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, id int64, kind EventKind) error {
	_, err := db.Exec(ctx, `DELETE FROM inbound_events WHERE id = $1 AND kind = $2 AND state = $3`, id, kind, EventReceived)
	if err != nil {
		return fmt.Errorf("drop inbound event %d: %w", id, err)
	}
	return nil
}

// reopenUnderWay finds a reopen of the deal recorded but not yet started (received).
func reopenUnderWay(ctx context.Context, tx pgx.Tx, dealID string) (int64, bool, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM inbound_events WHERE deal_id = $1 AND kind = $2 AND state = $3 ORDER BY id LIMIT 1`,
		dealID, KindReopen, EventReceived).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// setEventState sets an event's state and outcome reason inside the caller's transaction:
// the front door refusing an event of a closed deal, a transition or a migration applying
// it.
func setEventState(ctx context.Context, tx pgx.Tx, id int64, state EventState, reason string) error {
	rows, err := tx.Query(ctx, `UPDATE inbound_events SET state = $2, outcome_reason = $3, updated_at = now() WHERE id = $1 RETURNING source`,
		id, state, reason)
	if err := countFates(rows, err, state); err != nil {
		return fmt.Errorf("set inbound event %d %s: %w", id, state, err)
	}
	return nil
}

// ReceivedEvent is an inbound event recorded but not yet signalled (state received): the
// request that recorded it failed, or its process stopped, before Temporal accepted it.
type ReceivedEvent struct {
	ID            int64
	Source        string
	SourceEventID string
	Kind          EventKind
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
		WHERE state = $3 AND received_at < now() - $1 * interval '1 microsecond'
		ORDER BY swept_at NULLS FIRST, received_at, id LIMIT $2`, olderThan.Microseconds(), limit, EventReceived)
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

// InboundEventState reads an inbound event's state and outcome reason.
func (s *Store) InboundEventState(ctx context.Context, id int64) (state EventState, reason string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT state, outcome_reason FROM inbound_events WHERE id = $1`, id).Scan(&state, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("inbound event %d: %w", id, ErrNotFound)
	}
	return state, reason, err
}

// LaterEvent returns the id of the deal's first inbound event of one of kinds, from any
// source but notSource, recorded after event afterID, and whether there is one. A pause
// swept late must not undo the resume that came after it.
func (s *Store) LaterEvent(ctx context.Context, dealID string, afterID int64, kinds []EventKind, notSource string) (int64, bool, error) {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM inbound_events WHERE deal_id = $1 AND id > $2 AND kind = ANY($3) AND source <> $4
		ORDER BY id LIMIT 1`,
		dealID, afterID, names, notSource).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// SupersedeReceived marks ignored the events of a source still waiting to be signalled
// (state received) whose ids start with prefix, but not with except (empty: no exception):
// a later change made them moot, such as a pause lifted, or given another end, before every
// deal heard of it. Nothing re-signals them afterwards. It returns how many it marked.
func (s *Store) SupersedeReceived(ctx context.Context, source, prefix, except, reason string) (int, error) {
	notLike := ""
	if except != "" {
		notLike = likePrefix(except)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE inbound_events SET state = $5, outcome_reason = $3, updated_at = now()
		WHERE source = $1 AND source_event_id LIKE $2 AND ($4 = '' OR source_event_id NOT LIKE $4) AND state = $6`,
		source, likePrefix(prefix), reason, notLike, EventIgnored, EventReceived)
	if err != nil {
		return 0, fmt.Errorf("supersede events %s/%s…: %w", source, prefix, err)
	}
	return int(tag.RowsAffected()), nil
}
