// Package store owns the engine's PostgreSQL schema and every write to it.
package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store wraps the pool every process shares between its HTTP handlers and activities.
type Store struct {
	pool *pgxpool.Pool
	// published caches cadence versions by number: they are immutable, and every stage
	// event, send and workflow run reads one.
	published sync.Map // int64 → publishedRow
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool exposes the pool for tests and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// PoolOptions size the pool. Email sends hold a connection across the SMTP exchange (the
// contact lock lives in a transaction), so the pool must cover the concurrent sends plus the
// other activities and handlers; pgxpool's default of max(4, CPUs) does not.
type PoolOptions struct {
	ConcurrentSends int // the send task queue's MaxConcurrentActivityExecutionSize
	Other           int // connections for everything else
}

// Open connects a pool to url, sized by opts unless the URL sets pool_max_conns, and pings it.
func Open(ctx context.Context, url string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL: %w", err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "followup"
	if !strings.Contains(url, "pool_max_conns") {
		other := opts.Other
		if other <= 0 {
			other = 8
		}
		cfg.MaxConns = int32(opts.ConcurrentSends + other)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s does not answer: %w", redact(cfg), err)
	}
	return pool, nil
}

func redact(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

const (
	versionTable = "public.schema_version"
	// migrateLockKey serialises start-up migrations of several workers and starters.
	migrateLockKey = 0x666f6c6c6f77 // "follow"
)

// Migrate applies the embedded migrations; it is idempotent and safe to run from several
// processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	return migrateConn(ctx, conn.Conn())
}

func migrateConn(ctx context.Context, conn *pgx.Conn) (err error) {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		_, unlockErr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLockKey))
		err = errors.Join(err, unlockErr)
	}()
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrate: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrateURL migrates the database at url over a single connection (test templates).
func MigrateURL(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrateConn(ctx, conn)
}

// MigrationsHash names the schema: test templates are keyed by it, so a changed migration
// gets a fresh template.
func MigrationsHash() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(migrationFiles, "migrations")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := migrationFiles.ReadFile("migrations/" + n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
