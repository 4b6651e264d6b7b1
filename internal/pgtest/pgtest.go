// Package pgtest gives each test its own PostgreSQL database, cloned in milliseconds from a
// template that holds the migrated schema. The template is named by the migrations' hash and
// built under an advisory lock, because test packages run in parallel. In the unit tier
// (FOLLOWUP_TEST_TIER=unit, make test-unit) a test that asks for a database is skipped.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/testtier"
)

// DefaultAdminURL is used when DATABASE_URL is unset: the local server `make test` ensures.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDatabase creates a fresh, migrated database for t, dropped when t ends, and returns its
// URL. It skips t in the unit tier and fails it when PostgreSQL does not answer.
func NewDatabase(t testing.TB) string {
	t.Helper()
	testtier.Needs(t, "PostgreSQL")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL at DATABASE_URL (or %s) does not answer: %v\n"+
			"run the tests with `make test`, which starts one, or set DATABASE_URL", DefaultAdminURL, err)
	}
	defer admin.Close(context.Background())
	template := "followup_tpl_" + store.MigrationsHash()
	if err := ensureTemplate(ctx, admin, template); err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := "followup_t_" + randomHex(8)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: clone template: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(t, AdminURL(), name)
}

// New returns a pool on a fresh database for t, closed when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close) // registered after the drop, so it runs first
	return pool
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn, template string) (err error) {
	lockKey := int64(0x7067746d706c) // "pgtmpl"
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return err
	}
	defer func() {
		if _, unlockErr := admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey); unlockErr != nil && err == nil {
			err = unlockErr
		}
	}()
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)", template).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	// Build under another name and rename when complete, so a crash never leaves a
	// half-migrated template behind.
	build := template + "_build"
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", build)); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s", build)); err != nil {
		return err
	}
	buildURL, err := databaseURL(AdminURL(), build)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, buildURL)
	if err != nil {
		return err
	}
	err = engine.Prepare(ctx, store.New(pool))
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", build, template))
	return err
}

func withDatabase(t testing.TB, base, name string) string {
	u, err := databaseURL(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

func databaseURL(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL must be a postgres:// URL for tests, got %q", base)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
