package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/followup-engine/followup/internal/money"
)

// Monthly targets of a pipeline, per currency: pipeline_targets. This file writes it. The
// pipeline metrics' coverage compares the open pipeline with them.

// Target is what ops expect a pipeline to close in a month, in one currency.
type Target struct {
	Pipeline string       `json:"pipeline"`
	Month    string       `json:"month"` // YYYY-MM
	Currency string       `json:"currency"`
	Amount   money.Amount `json:"amount"`
	SetAt    time.Time    `json:"set_at"`
	SetBy    string       `json:"set_by,omitempty"`
}

// MaxTargetsListed bounds a pipeline's target list.
const MaxTargetsListed = 500

// SetTarget sets (or replaces) a pipeline's target for a month (its first day, UTC) and
// currency, recording the actor under ctx. The caller checks the pipeline, amount and
// currency.
func (s *Store) SetTarget(ctx context.Context, pipelineID string, month time.Time, currency string, amount money.Amount) (Target, error) {
	first := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	var t Target
	err := s.pool.QueryRow(ctx, `
		INSERT INTO pipeline_targets (pipeline_id, month, currency, amount, set_at, set_by)
		VALUES ($1, $2, $3, $4::numeric, now(), $5)
		ON CONFLICT (pipeline_id, month, currency) DO UPDATE SET
			amount = excluded.amount, set_at = excluded.set_at, set_by = excluded.set_by
		RETURNING pipeline_id, to_char(month, 'YYYY-MM'), currency, amount::text, set_at, set_by`,
		pipelineID, first.Format(time.DateOnly), currency, string(amount), ActorOf(ctx)).
		Scan(&t.Pipeline, &t.Month, &t.Currency, &t.Amount, &t.SetAt, &t.SetBy)
	if err != nil {
		return Target{}, fmt.Errorf("set target: %w", err)
	}
	return t, nil
}

// Targets lists a pipeline's targets by month and currency, the latest MaxTargetsListed.
func (s *Store) Targets(ctx context.Context, pipelineID string) ([]Target, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM (
			SELECT pipeline_id, to_char(month, 'YYYY-MM') AS m, currency, amount::text, set_at, set_by
			FROM pipeline_targets WHERE pipeline_id = $1 ORDER BY month DESC, currency LIMIT $2
		) t ORDER BY m, currency`, pipelineID, MaxTargetsListed)
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Target, error) {
		var t Target
		err := r.Scan(&t.Pipeline, &t.Month, &t.Currency, &t.Amount, &t.SetAt, &t.SetBy)
		return t, err
	})
}
