package store

// This file owns the paged lists of the front door: an owner's open tasks and the deals,
// each read with keyset paging so a page costs the same however deep it lies.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxListLimit bounds a page of a list.
const MaxListLimit = 500

// TaskKey is a task's place in the order of an owner's open tasks: (due_at, id).
type TaskKey struct {
	DueAt time.Time
	ID    int64
}

// OpenTaskFilter picks an owner's open tasks, in (due_at, id) order.
type OpenTaskFilter struct {
	OwnerID   string
	DueFrom   *time.Time // due at or after; nil: no lower bound
	DueBefore *time.Time // due strictly before; nil: no upper bound
	After     *TaskKey   // keyset: only the tasks after this one in the order
	Limit     int        // 1 to MaxListLimit
}

// OpenTask is one open task of an owner, with what a rep needs to act on it.
type OpenTask struct {
	ID           int64     `json:"id"`
	DealID       string    `json:"deal_id"`
	DealTitle    string    `json:"deal_title"`
	ContactName  string    `json:"contact_name"`
	ContactEmail string    `json:"contact_email"`
	Stage        string    `json:"stage"` // the stage of the visit the task belongs to
	Visit        int       `json:"visit"`
	StepID       string    `json:"step"`
	Kind         string    `json:"kind"`
	Title        string    `json:"title"`
	DueAt        time.Time `json:"due_at"`
	// Blocking: the task's step is a blocking task step of its stage in the deal's cadence
	// version: the later steps of the visit wait until the owner completes or skips it.
	Blocking bool `json:"blocking"`
}

// Key is the task's place in the order of OpenTasks.
func (t OpenTask) Key() TaskKey { return TaskKey{DueAt: t.DueAt, ID: t.ID} }

// OpenTasks lists an owner's open tasks in (due_at, id) order through the partial index
// tasks_owner_open_idx (owner_id, due_at) WHERE state = 'open': the owner, the due bounds and
// the keyset are all conditions on it.
func (s *Store) OpenTasks(ctx context.Context, f OpenTaskFilter) ([]OpenTask, error) {
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, fmt.Errorf("open tasks: limit %d is not from 1 to %d", f.Limit, MaxListLimit)
	}
	sql, args := openTasksQuery(f)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("open tasks of owner %s: %w", f.OwnerID, err)
	}
	type row struct {
		OpenTask
		version int64
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var t row
		var first, last string
		err := r.Scan(&t.ID, &t.DealID, &t.DealTitle, &first, &last, &t.ContactEmail, &t.Stage, &t.Visit, &t.StepID,
			&t.Kind, &t.Title, &t.DueAt, &t.version)
		t.ContactName = strings.TrimSpace(first + " " + last)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("open tasks of owner %s: %w", f.OwnerID, err)
	}
	tasks := make([]OpenTask, len(got))
	for i, t := range got {
		if t.Blocking, err = s.blockingStep(ctx, t.version, t.Stage, t.StepID); err != nil {
			return nil, err
		}
		tasks[i] = t.OpenTask
	}
	return tasks, nil
}

// openTasksQuery is the SQL of OpenTasks: only the conditions f sets, so each one is an
// index condition of a plan PostgreSQL can reuse.
func openTasksQuery(f OpenTaskFilter) (string, []any) {
	args := []any{f.OwnerID}
	conds := []string{"t.owner_id = $1", "t.state = 'open'"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.DueFrom != nil {
		conds = append(conds, "t.due_at >= "+arg(*f.DueFrom))
	}
	if f.DueBefore != nil {
		conds = append(conds, "t.due_at < "+arg(*f.DueBefore))
	}
	if f.After != nil {
		due, id := arg(f.After.DueAt), arg(f.After.ID)
		// The first half bounds the index scan; the row comparison breaks ties by id.
		conds = append(conds, fmt.Sprintf("t.due_at >= %s AND (t.due_at, t.id) > (%s, %s)", due, due, id))
	}
	limit := arg(f.Limit) // before the return reads args
	return `SELECT t.id, t.deal_id, d.title, c.first_name, c.last_name, c.email, coalesce(st.to_stage, ''), t.visit,
			t.step_id, t.kind, t.title, t.due_at, d.cadence_version
		FROM tasks t JOIN deals d ON d.id = t.deal_id JOIN contacts c ON c.id = d.contact_id
			LEFT JOIN stage_transitions st ON st.deal_id = t.deal_id AND st.visit = t.visit
		WHERE ` + strings.Join(conds, " AND ") + `
		ORDER BY t.due_at, t.id LIMIT ` + limit, args
}

// blockingStep says whether step is a blocking step of stage in a cadence version (read
// through the cache of published versions). Escalation and stale-rung tasks name no step of
// the stage, and are never blocking.
func (s *Store) blockingStep(ctx context.Context, version int64, stage, step string) (bool, error) {
	cv, err := s.Cadence(ctx, version)
	if err != nil {
		return false, err
	}
	st, ok := cv.Pipeline.Stage(stage)
	if !ok {
		return false, nil
	}
	sp, ok := st.Step(step)
	return ok && sp.Blocking, nil
}

// DealKey is a deal's place in the order of ListDeals: next_action_at (a deal with none,
// closed or waiting on nothing, comes after every deal with one), then id.
type DealKey struct {
	NextActionAt *time.Time
	ID           string
}

// DealFilter picks deals, in DealKey order; empty fields do not filter.
type DealFilter struct {
	Stage    string
	OwnerID  string
	Pipeline string
	State    string // open or closed
	After    *DealKey
	Limit    int // 1 to MaxListLimit
}

// ListedDeal is one deal of a list: where it stands and whose it is.
type ListedDeal struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	Pipeline       string     `json:"pipeline"`
	Stage          string     `json:"stage"`
	State          string     `json:"state"`
	OwnerEmail     string     `json:"owner"`
	ContactEmail   string     `json:"contact"`
	StageEnteredAt *time.Time `json:"stage_entered_at,omitempty"`
	StageDeadline  *time.Time `json:"stage_deadline,omitempty"`
	NextActionAt   *time.Time `json:"next_action_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}

// Key is the deal's place in the order of ListDeals.
func (d ListedDeal) Key() DealKey { return DealKey{NextActionAt: d.NextActionAt, ID: d.ID} }

// ListDeals lists the deals f picks, ordered by next_action_at (nulls last), then id.
func (s *Store) ListDeals(ctx context.Context, f DealFilter) ([]ListedDeal, error) {
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, fmt.Errorf("list deals: limit %d is not from 1 to %d", f.Limit, MaxListLimit)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	conds := []string{"true"}
	if f.Stage != "" {
		conds = append(conds, "d.stage = "+arg(f.Stage))
	}
	if f.OwnerID != "" {
		conds = append(conds, "d.owner_id = "+arg(f.OwnerID)+"::uuid")
	}
	if f.Pipeline != "" {
		conds = append(conds, "cv.pipeline_id = "+arg(f.Pipeline))
	}
	if f.State != "" {
		conds = append(conds, "d.state = "+arg(f.State))
	}
	switch {
	case f.After == nil:
	case f.After.NextActionAt == nil: // among the deals without a next action
		conds = append(conds, "d.next_action_at IS NULL AND d.id > "+arg(f.After.ID)+"::uuid")
	default:
		at, id := arg(*f.After.NextActionAt), arg(f.After.ID)
		conds = append(conds, fmt.Sprintf("(d.next_action_at > %s OR (d.next_action_at = %s AND d.id > %s::uuid) OR d.next_action_at IS NULL)", at, at, id))
	}
	limit := arg(f.Limit) // before the call reads args
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, d.title, cv.pipeline_id, d.stage, d.state, o.email, c.email, d.stage_entered_at, d.stage_deadline,
			d.next_action_at, d.created_at
		FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
			JOIN owners o ON o.id = d.owner_id JOIN contacts c ON c.id = d.contact_id
		WHERE `+strings.Join(conds, " AND ")+`
		ORDER BY d.next_action_at NULLS LAST, d.id LIMIT `+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("list deals: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ListedDeal, error) {
		var d ListedDeal
		err := r.Scan(&d.ID, &d.Title, &d.Pipeline, &d.Stage, &d.State, &d.OwnerEmail, &d.ContactEmail, &d.StageEnteredAt,
			&d.StageDeadline, &d.NextActionAt, &d.CreatedAt)
		return d, err
	})
}
