package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Transition is one recorded stage change.
type Transition struct {
	DealID         string     `json:"deal_id"`
	Visit          int        `json:"visit"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	At             time.Time  `json:"at"`
	Source         string     `json:"source"`
	SourceEventID  string     `json:"source_event_id"`
	SourceTime     *time.Time `json:"source_time,omitempty"`
	Reason         string     `json:"reason"`
	InboundEventID int64      `json:"inbound_event_id,omitempty"`
}

// RecordTransition stores a transition once per (deal, visit), so a retried activity is a
// no-op, and marks the event that caused it applied.
func (s *Store) RecordTransition(ctx context.Context, t Transition) error {
	_, err := s.RecordTransitionFirst(ctx, t)
	return err
}

// RecordTransitionFirst is RecordTransition that also says whether this call inserted the
// row (false: a retry found its own row), so a count of transitions counts each once.
func (s *Store) RecordTransitionFirst(ctx context.Context, t Transition) (bool, error) {
	inserted := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		inserted = false
		tag, err := tx.Exec(ctx, `
			INSERT INTO stage_transitions (deal_id, visit, from_stage, to_stage, at, source, source_event_id, source_time, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (deal_id, visit) DO NOTHING`,
			t.DealID, t.Visit, t.From, t.To, t.At, t.Source, t.SourceEventID, t.SourceTime, t.Reason)
		if err != nil {
			return fmt.Errorf("record transition: %w", err)
		}
		inserted = tag.RowsAffected() == 1
		if !inserted {
			// A retry finds its own row; another transition under the same visit number means
			// two runs disagree about the deal, which must not pass silently.
			var to, eventID string
			if err := tx.QueryRow(ctx, `SELECT to_stage, source_event_id FROM stage_transitions WHERE deal_id = $1 AND visit = $2`,
				t.DealID, t.Visit).Scan(&to, &eventID); err != nil {
				return err
			}
			if to != t.To || eventID != t.SourceEventID {
				return fmt.Errorf("deal %s visit %d is already recorded as a move to %s (event %q), not to %s (event %q)",
					t.DealID, t.Visit, to, eventID, t.To, t.SourceEventID)
			}
		}
		// A transition newer than the one the deal closed on is the reopened run's: the deal
		// is open again, even if the reopen's own commit was lost.
		if _, err := tx.Exec(ctx, `UPDATE deals SET state = 'open', closed_at = NULL, updated_at = now()
			WHERE id = $1 AND state = 'closed' AND stage_visit < $2`, t.DealID, t.Visit); err != nil {
			return err
		}
		if t.InboundEventID != 0 {
			err = setEventState(ctx, tx, t.InboundEventID, EventApplied, fmt.Sprintf("moved to %s (visit %d)", t.To, t.Visit))
		}
		return err
	})
	return inserted && err == nil, err
}

// CancelVisitTasks cancels the open tasks of a visit the deal left; it returns how many.
func (s *Store) CancelVisitTasks(ctx context.Context, dealID string, visit int, at time.Time, reason string) (int, error) {
	return s.CancelVisitTasksExcept(ctx, dealID, visit, at, reason, nil)
}

// CancelVisitTasksExcept is CancelVisitTasks that leaves the tasks in keep open (a reply's
// or a bounce's task, which is about the prospect, not the stage the deal leaves).
func (s *Store) CancelVisitTasksExcept(ctx context.Context, dealID string, visit int, at time.Time, reason string, keep []int64) (int, error) {
	if keep == nil {
		keep = []int64{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tasks SET state = 'cancelled', closed_at = $3, close_reason = $4
		WHERE deal_id = $1 AND visit = $2 AND state = 'open' AND NOT (id = ANY ($5))`, dealID, visit, at, reason, keep)
	if err != nil {
		return 0, fmt.Errorf("cancel tasks: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CloseTask marks an open task of a deal done or skipped; it reports whether the task was
// open (a retry, or a task cancelled meanwhile, changes nothing).
func (s *Store) CloseTask(ctx context.Context, dealID string, taskID int64, state string, at time.Time, reason string) (bool, error) {
	if state != "done" && state != "skipped" {
		return false, fmt.Errorf("close task: state %q (want done or skipped)", state)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tasks SET state = $3, closed_at = $4, close_reason = $5
		WHERE id = $2 AND deal_id = $1 AND state = 'open'`, dealID, taskID, state, at, reason)
	if err != nil {
		return false, fmt.Errorf("close task: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SnoozeTask moves an open task's due date; it reports whether the task was open.
func (s *Store) SnoozeTask(ctx context.Context, dealID string, taskID int64, due time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE tasks SET due_at = $3 WHERE id = $2 AND deal_id = $1 AND state = 'open'`, dealID, taskID, due)
	if err != nil {
		return false, fmt.Errorf("snooze task: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Task is a rep's task row.
type Task struct {
	ID          int64      `json:"id"`
	DealID      string     `json:"deal_id"`
	OwnerID     string     `json:"owner_id"`
	Visit       int        `json:"visit"`
	StepID      string     `json:"step_id"`
	Occurrence  int        `json:"occurrence"`
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	DueAt       time.Time  `json:"due_at"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CloseReason string     `json:"close_reason"`
}

// NewTask is a task to create for the deal's owner.
type NewTask struct {
	DealID     string
	Visit      int
	StepID     string
	Occurrence int
	Kind       string
	Title      string
	DueAt      time.Time
	At         time.Time
	// CadenceVersion: the version the workflow runs, for the per-step statistics; nil (an
	// activity scheduled before the workflow passed it) records the deal's current one.
	CadenceVersion *int64
}

// CreateTask creates a task once per (deal, visit, step, occurrence); a retry returns the
// row the first attempt created.
func (s *Store) CreateTask(ctx context.Context, t NewTask) (Task, error) {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tasks (deal_id, owner_id, visit, step_id, occurrence, kind, title, due_at, created_at, cadence_version)
		SELECT d.id, d.owner_id, $2, $3, $4, $5, $6, $7, $8, coalesce($9, d.cadence_version) FROM deals d WHERE d.id = $1
		ON CONFLICT (deal_id, visit, step_id, occurrence) DO NOTHING`,
		t.DealID, t.Visit, t.StepID, t.Occurrence, t.Kind, t.Title, t.DueAt, t.At, t.CadenceVersion)
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4`, t.DealID, t.Visit, t.StepID, t.Occurrence)
	if err != nil {
		return Task{}, err
	}
	task, err := pgx.CollectExactlyOneRow(rows, scanTask)
	if errors.Is(err, pgx.ErrNoRows) {
		return Task{}, fmt.Errorf("create task: deal %s: %w", t.DealID, ErrNotFound)
	}
	return task, err
}

const taskColumns = `id, deal_id, owner_id, visit, step_id, occurrence, kind, title, due_at, state, created_at, closed_at, close_reason`

func scanTask(row pgx.CollectableRow) (Task, error) {
	var t Task
	err := row.Scan(&t.ID, &t.DealID, &t.OwnerID, &t.Visit, &t.StepID, &t.Occurrence, &t.Kind, &t.Title, &t.DueAt,
		&t.State, &t.CreatedAt, &t.ClosedAt, &t.CloseReason)
	return t, err
}

// PlannedAction is one projected agenda item.
type PlannedAction struct {
	ItemID     string     `json:"item_id"`
	Visit      int        `json:"visit"`
	Kind       string     `json:"kind"`
	StepID     string     `json:"step_id"`
	Occurrence int        `json:"occurrence"`
	At         time.Time  `json:"at"`
	DueAt      *time.Time `json:"due_at,omitempty"`
	Reason     string     `json:"reason"`
}

// Projection is the workflow's current view of a deal.
type Projection struct {
	DealID    string
	Revision  int64
	Stage     string
	Visit     int
	EnteredAt time.Time
	Deadline  *time.Time
	Next      []PlannedAction
}

// Project writes the projection unless a newer revision is already there (activity retries
// can arrive out of order). It reports whether it wrote.
func (s *Store) Project(ctx context.Context, p Projection) (bool, error) {
	wrote := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var nextAt *time.Time
		if len(p.Next) > 0 {
			nextAt = &p.Next[0].At
		}
		tag, err := tx.Exec(ctx, `
			UPDATE deals SET stage = $3, stage_visit = $4, stage_entered_at = $5, stage_deadline = $6,
				next_action_at = $7, revision = $2, start_error = '', updated_at = now()
			WHERE id = $1 AND revision < $2`,
			p.DealID, p.Revision, p.Stage, p.Visit, p.EnteredAt, p.Deadline, nextAt)
		if err != nil {
			return fmt.Errorf("project deal: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		wrote = true
		if _, err := tx.Exec(ctx, `DELETE FROM planned_actions WHERE deal_id = $1`, p.DealID); err != nil {
			return err
		}
		rows := make([][]any, len(p.Next))
		for i, a := range p.Next {
			rows[i] = []any{p.DealID, a.ItemID, p.Visit, a.Kind, a.StepID, a.Occurrence, a.At, a.DueAt, a.Reason, p.Revision}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"planned_actions"},
			[]string{"deal_id", "item_id", "visit", "kind", "step_id", "occurrence", "at", "due_at", "reason", "revision"},
			pgx.CopyFromRows(rows))
		return err
	})
	return wrote, err
}

// MarkClosed records the deal closed in the given visit and clears its agenda.
func (s *Store) MarkClosed(ctx context.Context, dealID, stage string, visit int, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE deals SET state = 'closed', closed_at = $2, stage = $3, stage_visit = $4,
				next_action_at = NULL, updated_at = now()
			WHERE id = $1 AND state = 'open'`, dealID, at, stage, visit)
		if err != nil {
			return fmt.Errorf("mark closed: %w", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM planned_actions WHERE deal_id = $1`, dealID)
		return err
	})
}
