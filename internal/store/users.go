package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file owns the users and api_tokens tables.

// Role is what a user may do (users.role).
type Role string

// The roles: ops may do everything; a rep reads and works their own deals and tasks (the
// deals they own by the same email); an integration posts events and messages and reads no
// personal data.
const (
	RoleOps         Role = "ops"
	RoleRep         Role = "rep"
	RoleIntegration Role = "integration"
)

// Valid says whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleOps || r == RoleRep || r == RoleIntegration }

// User is a named user of the API.
type User struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// ErrUserExists: a user with that email exists already.
var ErrUserExists = errors.New("a user with that email exists")

// AddUser adds a user; ErrUserExists when the email is taken (in any case).
func (s *Store) AddUser(ctx context.Context, email, name string, role Role) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `INSERT INTO users (email, name, role) VALUES ($1, $2, $3)
		RETURNING id, email, name, role, disabled_at, created_at`, email, name, role).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, fmt.Errorf("user %s: %w", email, ErrUserExists)
	}
	return u, err
}

// Users lists every user, by email.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, email, name, role, disabled_at, created_at FROM users ORDER BY lower(email)`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
		return u, err
	})
}

// DisableUser disables a user (their tokens stop working at once); ErrNotFound for an unknown
// email. Disabling twice keeps the first time.
func (s *Store) DisableUser(ctx context.Context, email string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE lower(email) = lower($1)
		RETURNING id, email, name, role, disabled_at, created_at`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return u, err
}

// EnableUser enables a disabled user again: their tokens that were not revoked work again
// (UserByToken reads only enabled users). ErrNotFound for an unknown email; enabling an
// enabled user changes nothing.
func (s *Store) EnableUser(ctx context.Context, email string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `UPDATE users SET disabled_at = NULL WHERE lower(email) = lower($1)
		RETURNING id, email, name, role, disabled_at, created_at`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return u, err
}

// UserByEmail is the user with that email (in any case), enabled or not; ErrNotFound when
// there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, role, disabled_at, created_at FROM users WHERE lower(email) = lower($1)`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return u, err
}

// APIToken is a token as listed: never the token itself.
type APIToken struct {
	ID         int64      `json:"id"`
	UserEmail  string     `json:"user"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// UserDisabled: the user is disabled, so the token no longer works though not revoked.
	UserDisabled bool `json:"user_disabled,omitempty"`
}

// tokenPrefix marks the engine's tokens, so a leaked one is recognisable (secret scanners).
const tokenPrefix = "fu_"

// HashToken is how a token is stored and looked up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new token for the user with that email: the token is returned once and
// only its hash is stored. ErrNotFound for an unknown or disabled user.
func (s *Store) CreateToken(ctx context.Context, email, name string) (token string, t APIToken, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", APIToken{}, err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	err = s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, token_hash)
		SELECT id, $2, $3 FROM users WHERE lower(email) = lower($1) AND disabled_at IS NULL
		RETURNING id, $1::text, name, created_at`, email, name, HashToken(token)).Scan(&t.ID, &t.UserEmail, &t.Name, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", APIToken{}, fmt.Errorf("user %s (or it is disabled): %w", email, ErrNotFound)
	}
	if err != nil {
		return "", APIToken{}, err
	}
	return token, t, nil
}

// RevokeToken revokes a token by id; ErrNotFound for an unknown one. Revoking twice keeps the
// first time.
func (s *Store) RevokeToken(ctx context.Context, id int64) (APIToken, error) {
	var t APIToken
	err := s.pool.QueryRow(ctx, `
		UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now()) FROM users u
		WHERE t.id = $1 AND u.id = t.user_id
		RETURNING t.id, u.email, t.name, t.created_at, t.last_used_at, t.revoked_at`, id).
		Scan(&t.ID, &t.UserEmail, &t.Name, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	return t, err
}

// Tokens lists the tokens, newest first.
func (s *Store) Tokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, u.email, t.name, t.created_at, t.last_used_at, t.revoked_at,
			u.disabled_at IS NOT NULL
		FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) {
		var t APIToken
		err := r.Scan(&t.ID, &t.UserEmail, &t.Name, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt, &t.UserDisabled)
		return t, err
	})
}

// UserByToken is the enabled user a live token belongs to, or ErrNotFound. It notes when the
// token was last used (at most once a minute, to spare the writes).
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return User{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	var u User
	var tokenID int64
	var lastUsed *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.role, u.disabled_at, u.created_at, t.id, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL`, HashToken(token)).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt, &tokenID, &lastUsed)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	if lastUsed == nil || time.Since(*lastUsed) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, tokenID); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// DealOwnerEmail is the email of the deal's owner, or ErrNotFound.
func (s *Store) DealOwnerEmail(ctx context.Context, dealID string) (string, error) {
	var email string
	err := s.pool.QueryRow(ctx, `SELECT o.email FROM deals d JOIN owners o ON o.id = d.owner_id WHERE d.id = $1`, dealID).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("deal %s: %w", dealID, ErrNotFound)
	}
	return email, err
}
