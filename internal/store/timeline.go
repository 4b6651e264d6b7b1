package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timeline is everything PostgreSQL knows about one deal, for `deal show` and pages; it
// answers even when no worker runs.
type Timeline struct {
	Deal        Deal            `json:"deal"`
	Owner       DealOwner       `json:"owner"` // who holds the deal (Deal.OwnerID), by email and name
	Transitions []Transition    `json:"transitions"`
	Planned     []PlannedAction `json:"planned"`
	Tasks       []Task          `json:"tasks"`
	Emails      []LedgerEntry   `json:"emails"`
	Events      []EventRow      `json:"events"`
}

// DealOwner is the owner of a deal as a timeline shows it.
type DealOwner struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"` // empty when the owner has none
}

// EventRow is one inbound event as recorded.
type EventRow struct {
	ID            int64     `json:"id"`
	Source        string    `json:"source"`
	SourceEventID string    `json:"source_event_id"`
	Kind          string    `json:"kind"`
	SourceTime    time.Time `json:"source_time"`
	State         string    `json:"state"`
	Reason        string    `json:"reason"`
	ReceivedAt    time.Time `json:"received_at"`
}

// DealTimeline reads a deal's timeline.
func (s *Store) DealTimeline(ctx context.Context, dealID string) (Timeline, error) {
	var tl Timeline
	var err error
	if tl.Deal, err = s.DealByID(ctx, dealID); err != nil {
		return Timeline{}, err
	}
	tl.Owner.ID = tl.Deal.OwnerID
	if err = s.pool.QueryRow(ctx, `SELECT email, name FROM owners WHERE id = $1`, tl.Deal.OwnerID).
		Scan(&tl.Owner.Email, &tl.Owner.Name); err != nil {
		return Timeline{}, err
	}
	if tl.Transitions, err = s.Transitions(ctx, dealID); err != nil {
		return Timeline{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT item_id, visit, kind, step_id, occurrence, at, due_at, reason
		FROM planned_actions WHERE deal_id = $1 ORDER BY at, item_id`, dealID)
	if err != nil {
		return Timeline{}, err
	}
	tl.Planned, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlannedAction, error) {
		var a PlannedAction
		err := r.Scan(&a.ItemID, &a.Visit, &a.Kind, &a.StepID, &a.Occurrence, &a.At, &a.DueAt, &a.Reason)
		return a, err
	})
	if err != nil {
		return Timeline{}, err
	}
	if tl.Tasks, err = s.Tasks(ctx, dealID); err != nil {
		return Timeline{}, err
	}
	if tl.Emails, err = s.Ledger(ctx, dealID); err != nil {
		return Timeline{}, err
	}
	rows, err = s.pool.Query(ctx, `SELECT id, source, source_event_id, kind, source_time, state, outcome_reason, received_at
		FROM inbound_events WHERE deal_id = $1 ORDER BY id`, dealID)
	if err != nil {
		return Timeline{}, err
	}
	tl.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EventRow, error) {
		var e EventRow
		err := r.Scan(&e.ID, &e.Source, &e.SourceEventID, &e.Kind, &e.SourceTime, &e.State, &e.Reason, &e.ReceivedAt)
		return e, err
	})
	return tl, err
}

// Transitions lists a deal's stage transitions in visit order.
func (s *Store) Transitions(ctx context.Context, dealID string) ([]Transition, error) {
	rows, err := s.pool.Query(ctx, `SELECT deal_id, visit, from_stage, to_stage, at, source, source_event_id, source_time, reason
		FROM stage_transitions WHERE deal_id = $1 ORDER BY visit`, dealID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transition, error) {
		var t Transition
		err := r.Scan(&t.DealID, &t.Visit, &t.From, &t.To, &t.At, &t.Source, &t.SourceEventID, &t.SourceTime, &t.Reason)
		return t, err
	})
}

// Tasks lists a deal's tasks, newest visit first.
func (s *Store) Tasks(ctx context.Context, dealID string) ([]Task, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks WHERE deal_id = $1 ORDER BY created_at, id`, dealID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanTask)
}
