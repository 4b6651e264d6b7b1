package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Scopes of the pauses table. A deal's own pause lives in its workflow only.
const (
	PauseScopeOwner    = "owner"
	PauseScopePipeline = "pipeline"
)

// Pause is one pause of an owner or a pipeline. It holds while it is not lifted and its end
// (Until), if any, is still ahead.
type Pause struct {
	ID     int64      `json:"id"`
	Scope  string     `json:"scope"`
	Key    string     `json:"key"` // the owner id, or the pipeline id
	Since  time.Time  `json:"since"`
	Until  *time.Time `json:"until,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Source string     `json:"source"`
	// Revision counts the changes of Until; the deals' event ids carry it.
	Revision int        `json:"revision"`
	LiftedAt *time.Time `json:"lifted_at,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
}

// PauseChange says what StartPause did.
type PauseChange string

const (
	PauseStarted   PauseChange = "paused"         // a new pause
	PauseMoved     PauseChange = "until_changed"  // the pause held already; its end moved
	PauseUnchanged PauseChange = "already_paused" // the pause held already with this end (a retry)
)

const pauseColumns = `id, scope, key, since, until, reason, source, revision, lifted_at, lifted_by`

func scanPause(row pgx.Row) (Pause, error) {
	var p Pause
	err := row.Scan(&p.ID, &p.Scope, &p.Key, &p.Since, &p.Until, &p.Reason, &p.Source, &p.Revision, &p.LiftedAt, &p.LiftedBy)
	return p, err
}

func checkPauseScope(scope string) error {
	if scope != PauseScopeOwner && scope != PauseScopePipeline {
		return fmt.Errorf("pause scope %q (want owner or pipeline)", scope)
	}
	return nil
}

// expirePause marks lifted a pause of the key whose end has come, so a new one may start.
// lockPauseScope serialises the changes to one owner's or pipeline's pause with the
// sweeper's re-sending of that pause to a deal (WithPauseScopeLock): a pause swept late can
// then never reach a deal after the resume that lifted it.
func lockPauseScope(ctx context.Context, tx pgx.Tx, scope, key string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('pause:' || $1 || ':' || $2, 0))`, scope, key)
	if err != nil {
		return fmt.Errorf("lock %s %s pauses: %w", scope, key, err)
	}
	return nil
}

// WithPauseScopeLock runs fn while no pause of scope and key can start, change or lift.
func (s *Store) WithPauseScopeLock(ctx context.Context, scope, key string, fn func(context.Context) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockPauseScope(ctx, tx, scope, key); err != nil {
			return err
		}
		return fn(ctx)
	})
}

func expirePause(ctx context.Context, tx pgx.Tx, scope, key string) error {
	if err := lockPauseScope(ctx, tx, scope, key); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE pauses SET lifted_at = until, lifted_by = 'until', updated_at = now()
		WHERE scope = $1 AND key = $2 AND lifted_at IS NULL AND until <= now()`, scope, key)
	if err != nil {
		return fmt.Errorf("expire pause: %w", err)
	}
	return nil
}

// StartPause records a pause of an owner or a pipeline: a new one, or, while one holds
// already, its new end (Until; nil: until resumed) with the revision bumped. The same end
// again changes nothing but a new reason, so a retried call converges on the same row and
// revision.
func (s *Store) StartPause(ctx context.Context, scope, key string, until *time.Time, reason, source string) (Pause, PauseChange, error) {
	if err := checkPauseScope(scope); err != nil {
		return Pause{}, "", err
	}
	var (
		out    Pause
		change PauseChange
	)
	attempt := func() error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			if err := expirePause(ctx, tx, scope, key); err != nil {
				return err
			}
			cur, err := scanPause(tx.QueryRow(ctx, `SELECT `+pauseColumns+` FROM pauses
				WHERE scope = $1 AND key = $2 AND lifted_at IS NULL FOR UPDATE`, scope, key))
			if errors.Is(err, pgx.ErrNoRows) {
				out, err = scanPause(tx.QueryRow(ctx, `INSERT INTO pauses (scope, key, until, reason, source)
					VALUES ($1, $2, $3, $4, $5) RETURNING `+pauseColumns, scope, key, until, reason, source))
				change = PauseStarted
				return err
			}
			if err != nil {
				return err
			}
			if sameEnd(cur.Until, until) {
				change = PauseUnchanged
				out, err = scanPause(tx.QueryRow(ctx, `UPDATE pauses SET reason = coalesce(nullif($2, ''), reason),
					updated_at = CASE WHEN reason = coalesce(nullif($2, ''), reason) THEN updated_at ELSE now() END
					WHERE id = $1 RETURNING `+pauseColumns, cur.ID, reason))
				return err
			}
			change = PauseMoved
			out, err = scanPause(tx.QueryRow(ctx, `UPDATE pauses SET until = $2, reason = coalesce(nullif($3, ''), reason),
				revision = revision + 1, updated_at = now() WHERE id = $1 RETURNING `+pauseColumns, cur.ID, until, reason))
			return err
		})
	}
	err := attempt()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		// A concurrent pause of the same key won the race: update that one instead.
		err = attempt()
	}
	if err != nil {
		return Pause{}, "", fmt.Errorf("record %s pause of %s: %w", scope, key, err)
	}
	return out, change, nil
}

func sameEnd(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// LiftPause lifts the pause holding an owner or a pipeline (lifted true). With none
// holding, it returns the key's latest pause, lifted earlier (lifted false): a retried
// resume finds what it lifted and can finish telling the deals. ErrNotFound when the key
// was never paused.
func (s *Store) LiftPause(ctx context.Context, scope, key, source string) (Pause, bool, error) {
	if err := checkPauseScope(scope); err != nil {
		return Pause{}, false, err
	}
	var (
		out    Pause
		lifted bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := expirePause(ctx, tx, scope, key); err != nil {
			return err
		}
		var err error
		out, err = scanPause(tx.QueryRow(ctx, `UPDATE pauses SET lifted_at = now(), lifted_by = $3, updated_at = now()
			WHERE scope = $1 AND key = $2 AND lifted_at IS NULL RETURNING `+pauseColumns, scope, key, source))
		if err == nil {
			lifted = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		out, err = scanPause(tx.QueryRow(ctx, `SELECT `+pauseColumns+` FROM pauses
			WHERE scope = $1 AND key = $2 ORDER BY id DESC LIMIT 1`, scope, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s %s was never paused: %w", scope, key, ErrNotFound)
		}
		return err
	})
	return out, lifted, err
}

// ActivePause is the pause holding an owner or a pipeline now, if any.
func (s *Store) ActivePause(ctx context.Context, scope, key string) (Pause, bool, error) {
	p, err := scanPause(s.pool.QueryRow(ctx, `SELECT `+pauseColumns+` FROM pauses
		WHERE scope = $1 AND key = $2 AND lifted_at IS NULL AND (until IS NULL OR until > now())`, scope, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Pause{}, false, nil
	}
	if err != nil {
		return Pause{}, false, err
	}
	return p, true, nil
}

// ActivePausesOfDeal lists the pauses holding a deal's owner or its pipeline now (owner
// first): those a new run of the deal starts with.
func (s *Store) ActivePausesOfDeal(ctx context.Context, dealID string) ([]Pause, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT p.id, p.scope, p.key, p.since, p.until, p.reason, p.source, p.revision, p.lifted_at, p.lifted_by
		FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
			JOIN pauses p ON (p.scope = 'owner' AND p.key = d.owner_id::text) OR (p.scope = 'pipeline' AND p.key = cv.pipeline_id)
		WHERE d.id = $1 AND p.lifted_at IS NULL AND (p.until IS NULL OR p.until > now())
		ORDER BY p.scope, p.id`, dealID)
	if err != nil {
		return nil, fmt.Errorf("active pauses of deal %s: %w", dealID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pause, error) { return scanPause(r) })
}

// OpenDealsOfOwner lists an owner's open deals, oldest first.
func (s *Store) OpenDealsOfOwner(ctx context.Context, ownerID string) ([]Deal, error) {
	return s.openDeals(ctx, `d.owner_id = $1`, ownerID)
}

// OpenDealsOfPipeline lists the open deals on any cadence version of a pipeline, oldest first.
func (s *Store) OpenDealsOfPipeline(ctx context.Context, pipelineID string) ([]Deal, error) {
	return s.openDeals(ctx, `cv.pipeline_id = $1`, pipelineID)
}

// openDeals lists the open deals cond picks, oldest first: cond is a condition on the deal
// (d) and its cadence version (cv), with arg as $1.
func (s *Store) openDeals(ctx context.Context, cond string, arg any) ([]Deal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dealColumns+`
		FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
		WHERE `+cond+` AND d.state = 'open' ORDER BY d.created_at, d.id`, arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deal, error) { return scanDeal(r) })
}

// Owner is a rep as pauses name them.
type Owner struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Zone  string `json:"zone,omitempty"` // empty: the pipeline's
	// LatestCadenceVersion is the cadence version of the owner's newest deal (open ones
	// first), whose calendar stands in for an owner without a zone; nil without deals.
	LatestCadenceVersion *int64 `json:"-"`
}

const ownerQuery = `SELECT o.id, o.email, o.name, o.zone,
		(SELECT d.cadence_version FROM deals d WHERE d.owner_id = o.id
			ORDER BY d.state = 'open' DESC, d.created_at DESC LIMIT 1)
	FROM owners o `

func scanOwner(row pgx.Row, what string) (Owner, error) {
	var o Owner
	err := row.Scan(&o.ID, &o.Email, &o.Name, &o.Zone, &o.LatestCadenceVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return Owner{}, fmt.Errorf("owner %s: %w", what, ErrNotFound)
	}
	return o, err
}

// OwnerByEmail finds an owner by email, case-insensitively, or ErrNotFound.
func (s *Store) OwnerByEmail(ctx context.Context, email string) (Owner, error) {
	return scanOwner(s.pool.QueryRow(ctx, ownerQuery+`WHERE lower(o.email) = lower($1)`, email), email)
}

// OwnerByID finds an owner by id, or ErrNotFound.
func (s *Store) OwnerByID(ctx context.Context, id string) (Owner, error) {
	return scanOwner(s.pool.QueryRow(ctx, ownerQuery+`WHERE o.id = $1::uuid`, id), id)
}

// likePrefix is the LIKE pattern of the strings that start with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// PauseByID reads one owner or pipeline pause, or ErrNotFound.
func (s *Store) PauseByID(ctx context.Context, id int64) (Pause, error) {
	p, err := scanPause(s.pool.QueryRow(ctx, `SELECT `+pauseColumns+` FROM pauses WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Pause{}, fmt.Errorf("pause %d: %w", id, ErrNotFound)
	}
	return p, err
}
