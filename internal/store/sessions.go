package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file owns users.password_hash and the sessions table of the reps' pages
// (internal/pages): the password is hashed by the caller, a session id is stored as
// HashToken of it.

// LoginUser is a user as a login sees them: with their password's hash.
type LoginUser struct {
	User
	PasswordHash string
}

// SetPassword stores a user's password hash and ends their sessions; ErrNotFound for an
// unknown email.
func (s *Store) SetPassword(ctx context.Context, email, hash string) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback(ctx)
	var u User
	err = tx.QueryRow(ctx, `UPDATE users SET password_hash = $2 WHERE lower(email) = lower($1)
		RETURNING id, email, name, role, disabled_at, created_at`, email, hash).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
		return User{}, err
	}
	return u, tx.Commit(ctx)
}

// UserForLogin finds a user by email with their password hash; ErrNotFound for an unknown
// email.
func (s *Store) UserForLogin(ctx context.Context, email string) (LoginUser, error) {
	var u LoginUser
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, role, disabled_at, created_at, password_hash
		FROM users WHERE lower(email) = lower($1)`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt, &u.PasswordHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return LoginUser{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return u, err
}

// Session is a logged-in browser: its user and the CSRF token its forms carry.
type Session struct {
	User      User
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession stores a session under the hash of its id, for the user, until expires.
func (s *Store) CreateSession(ctx context.Context, idHash, userID, csrf string, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`,
		idHash, userID, csrf, expires)
	return err
}

// SessionByHash finds a live session, of a user not disabled; ErrNotFound otherwise.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (Session, error) {
	var ss Session
	u := &ss.User
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.disabled_at, u.created_at, s.csrf_token, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL`, idHash).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt, &ss.CSRFToken, &ss.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	return ss, err
}

// DeleteSession ends a session (logout); deleting an unknown one is no error. Expired
// sessions go with it.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1 OR expires_at < now() - interval '1 day'`, idHash)
	return err
}

// DealPeople names a deal's contact and owner, for the deal page.
type DealPeople struct {
	ContactName, ContactEmail, Company string
	OwnerEmail, OwnerZone              string
}

// DealPeopleOf reads who a deal is with and who holds it; ErrNotFound for an unknown deal.
func (s *Store) DealPeopleOf(ctx context.Context, dealID string) (DealPeople, error) {
	var p DealPeople
	err := s.pool.QueryRow(ctx, `SELECT trim(c.first_name || ' ' || c.last_name), c.email, c.company, o.email, o.zone
		FROM deals d JOIN contacts c ON c.id = d.contact_id JOIN owners o ON o.id = d.owner_id
		WHERE d.id = $1`, dealID).Scan(&p.ContactName, &p.ContactEmail, &p.Company, &p.OwnerEmail, &p.OwnerZone)
	if errors.Is(err, pgx.ErrNoRows) {
		return DealPeople{}, fmt.Errorf("deal %s: %w", dealID, ErrNotFound)
	}
	return p, err
}

// EventActors maps each of a deal's inbound events, by "source/source_event_id", to the
// actor who sent it (as authenticated; events of no actor are left out), so that the deal
// page can say who made a move.
func (s *Store) EventActors(ctx context.Context, dealID string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT source || '/' || source_event_id, actor FROM inbound_events
		WHERE deal_id = $1 AND actor <> ''`, dealID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, a string
		if err := rows.Scan(&k, &a); err != nil {
			return nil, err
		}
		out[k] = a
	}
	return out, rows.Err()
}
