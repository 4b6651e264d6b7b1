package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/followup-engine/followup/internal/cadence"
)

// ErrNotFound is returned when a row asked for by id does not exist.
var ErrNotFound = errors.New("not found")

// ErrUndecodable is returned for a published cadence version whose stored model does not
// decode into the model: asking again cannot help.
var ErrUndecodable = errors.New("its stored model does not decode")

// CadenceVersion is one published, immutable cadence.
type CadenceVersion struct {
	Version  int64
	Hash     string
	Pipeline cadence.Pipeline
}

// PublishCadence stores p as version, immutably: publishing the same model again under the
// same version is a no-op, a different model under a taken version is an error. A model
// over the cadence bounds (cadence.Pipeline.CheckBounds) is refused: no deal could run it.
func (s *Store) PublishCadence(ctx context.Context, version int64, p cadence.Pipeline) (CadenceVersion, error) {
	if err := p.Validate(); err != nil {
		return CadenceVersion{}, err
	}
	if err := p.CheckBounds(); err != nil {
		return CadenceVersion{}, fmt.Errorf("publish cadence %d: %w", version, err)
	}
	model, err := p.CanonicalJSON()
	if err != nil {
		return CadenceVersion{}, err
	}
	hash, err := p.Hash()
	if err != nil {
		return CadenceVersion{}, err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO cadence_versions (version, pipeline_id, hash, model)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (version) DO NOTHING`, version, p.ID, hash, model)
	if err != nil {
		return CadenceVersion{}, fmt.Errorf("publish cadence %d: %w", version, err)
	}
	stored, err := s.Cadence(ctx, version)
	if err != nil {
		return CadenceVersion{}, err
	}
	if stored.Hash != hash {
		return CadenceVersion{}, fmt.Errorf("cadence version %d is already published with hash %s (this model hashes to %s); versions are immutable: publish a new version", version, stored.Hash, hash)
	}
	return stored, nil
}

// PublishNext publishes p as the next version number, or returns the version already
// holding the same model (the hash decides), so publishing is idempotent.
func (s *Store) PublishNext(ctx context.Context, p cadence.Pipeline) (CadenceVersion, error) {
	hash, err := p.Hash()
	if err != nil {
		return CadenceVersion{}, err
	}
	var existing int64
	err = s.pool.QueryRow(ctx, `SELECT version FROM cadence_versions WHERE hash = $1`, hash).Scan(&existing)
	if err == nil {
		return s.Cadence(ctx, existing)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return CadenceVersion{}, err
	}
	var next int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), -1) + 1 FROM cadence_versions`).Scan(&next); err != nil {
		return CadenceVersion{}, err
	}
	return s.PublishCadence(ctx, next, p)
}

// LatestCadenceOf is the newest published version of a pipeline: what new deals pin.
func (s *Store) LatestCadenceOf(ctx context.Context, pipelineID string) (CadenceVersion, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT max(version) FROM cadence_versions WHERE pipeline_id = $1 HAVING count(*) > 0`, pipelineID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return CadenceVersion{}, fmt.Errorf("pipeline %q has no published cadence: %w", pipelineID, ErrNotFound)
	}
	if err != nil {
		return CadenceVersion{}, err
	}
	return s.Cadence(ctx, v)
}

// RecordMigration pins a deal to another cadence version and marks the migrate event applied.
func (s *Store) RecordMigration(ctx context.Context, dealID string, from, to int64, eventID int64, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deals SET cadence_version = $2, updated_at = now() WHERE id = $1`, dealID, to); err != nil {
			return fmt.Errorf("record migration: %w", err)
		}
		if eventID == 0 {
			return nil
		}
		return setEventState(ctx, tx, eventID, EventApplied,
			fmt.Sprintf("migrated from cadence version %d to %d at %s", from, to, at.UTC().Format(time.RFC3339)))
	})
}

// AppliedMigrations counts a deal's applied cadence migrations.
func (s *Store) AppliedMigrations(ctx context.Context, dealID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM inbound_events WHERE deal_id = $1 AND kind = $2 AND state = $3`, dealID, KindMigrate, EventApplied).Scan(&n)
	return n, err
}

// OpenDealsOnVersion lists the open deals pinned to a cadence version, oldest first.
func (s *Store) OpenDealsOnVersion(ctx context.Context, version int64) ([]Deal, error) {
	return s.openDeals(ctx, `d.cadence_version = $1`, version)
}

type publishedRow struct {
	hash  string
	model []byte
}

func (s *Store) publishedRow(ctx context.Context, version int64) (publishedRow, error) {
	if row, ok := s.published.Load(version); ok {
		return row.(publishedRow), nil
	}
	var row publishedRow
	err := s.pool.QueryRow(ctx, `SELECT hash, model FROM cadence_versions WHERE version = $1`, version).Scan(&row.hash, &row.model)
	if errors.Is(err, pgx.ErrNoRows) {
		return publishedRow{}, fmt.Errorf("cadence version %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return publishedRow{}, fmt.Errorf("load cadence version %d: %w", version, err)
	}
	s.published.Store(version, row)
	return row, nil
}

// Cadence loads a published version.
func (s *Store) Cadence(ctx context.Context, version int64) (CadenceVersion, error) {
	row, err := s.publishedRow(ctx, version)
	if err != nil {
		return CadenceVersion{}, err
	}
	// Decoded per call, so no caller shares (and could change) another's pipeline.
	cv := CadenceVersion{Version: version, Hash: row.hash}
	if err := json.Unmarshal(row.model, &cv.Pipeline); err != nil {
		return CadenceVersion{}, fmt.Errorf("cadence version %d: %w: %w", version, ErrUndecodable, err)
	}
	return cv, nil
}

// SetStartError records on a deal why its workflow cannot start with cadence version, its
// pinned one. The version must still be the deal's: a migration's load of another version
// that fails leaves the deal running where it is, and says so on the migrate event.
func (s *Store) SetStartError(ctx context.Context, dealID string, version int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE deals SET start_error = $3, updated_at = now()
		WHERE id = $1 AND cadence_version = $2`, dealID, version, reason)
	if err != nil {
		return fmt.Errorf("record why deal %s cannot start: %w", dealID, err)
	}
	return nil
}

// VisitDone lists the steps of a stage visit that ran, from the ledger and the tasks, for
// previews and migration dry runs (the workflow itself keeps the exact list).
func (s *Store) VisitDone(ctx context.Context, dealID string, visit int) ([]cadence.Done, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT step_id, occurrence, coalesce(sent_at, updated_at), state FROM email_ledger
		WHERE deal_id = $1 AND visit = $2 AND state IN ('sent', 'suppressed', 'bounced', 'rejected', 'failed')
		UNION ALL
		SELECT step_id, occurrence, created_at, 'created' FROM tasks
		WHERE deal_id = $1 AND visit = $2 AND step_id NOT LIKE 'move-from-%'
		ORDER BY 3`, dealID, visit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (cadence.Done, error) {
		var d cadence.Done
		err := r.Scan(&d.StepID, &d.Occurrence, &d.At, &d.Outcome)
		return d, err
	})
}

// PipelineSummary is one pipeline: its latest published cadence version and its deals.
type PipelineSummary struct {
	ID            string
	LatestVersion int64
	OpenDeals     int
	Deals         int
}

// maxPipelines bounds the pipelines listed: a deployment has a handful.
const maxPipelines = 500

const pipelinesSQL = `SELECT cv.pipeline_id, max(cv.version),
		count(d.id) FILTER (WHERE d.state = 'open'), count(d.id)
	FROM cadence_versions cv LEFT JOIN deals d ON d.cadence_version = cv.version
	GROUP BY cv.pipeline_id ORDER BY cv.pipeline_id LIMIT $1`

// Pipelines lists the pipelines that have a published cadence, by id.
func (s *Store) Pipelines(ctx context.Context) ([]PipelineSummary, error) {
	rows, err := s.pool.Query(ctx, pipelinesSQL, maxPipelines)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PipelineSummary, error) {
		var p PipelineSummary
		err := r.Scan(&p.ID, &p.LatestVersion, &p.OpenDeals, &p.Deals)
		return p, err
	})
}
