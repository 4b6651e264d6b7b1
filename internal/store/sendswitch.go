package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SendSwitch is the global send switch: while Held, no email goes out.
type SendSwitch struct {
	Held      bool      `json:"held"`
	Reason    string    `json:"reason,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at"` // when it was last held or released
}

const sendSwitchColumns = `held, reason, changed_by, changed_at`

func scanSendSwitch(row pgx.Row) (SendSwitch, error) {
	var sw SendSwitch
	err := row.Scan(&sw.Held, &sw.Reason, &sw.ChangedBy, &sw.ChangedAt)
	return sw, err
}

// SendSwitchState reads the send switch.
func (s *Store) SendSwitchState(ctx context.Context) (SendSwitch, error) {
	sw, err := scanSendSwitch(s.pool.QueryRow(ctx, `SELECT `+sendSwitchColumns+` FROM send_switch`))
	if err != nil {
		return SendSwitch{}, fmt.Errorf("read the send switch: %w", err)
	}
	return sw, nil
}

// HoldSends holds every send from now on. Holding sends already held changes nothing (the
// first hold's reason, author and time stay); changed says whether this call held them.
func (s *Store) HoldSends(ctx context.Context, reason, by string) (sw SendSwitch, changed bool, err error) {
	return s.flipSends(ctx, true, reason, by)
}

// ReleaseSends lets sends go again; releasing sends not held changes nothing.
func (s *Store) ReleaseSends(ctx context.Context, by string) (sw SendSwitch, changed bool, err error) {
	return s.flipSends(ctx, false, "", by)
}

func (s *Store) flipSends(ctx context.Context, held bool, reason, by string) (SendSwitch, bool, error) {
	sw, err := scanSendSwitch(s.pool.QueryRow(ctx, `UPDATE send_switch SET held = $1, reason = $2, changed_by = $3, changed_at = now()
		WHERE held <> $1 RETURNING `+sendSwitchColumns, held, reason, by))
	if errors.Is(err, pgx.ErrNoRows) {
		sw, err = s.SendSwitchState(ctx)
		return sw, false, err
	}
	if err != nil {
		return SendSwitch{}, false, fmt.Errorf("flip the send switch: %w", err)
	}
	return sw, true, nil
}

// SendHold says whether sends are held, why and since when (zero when not held). The send
// activity asks before every send.
func (s *Store) SendHold(ctx context.Context) (held bool, reason string, since time.Time, err error) {
	sw, err := s.SendSwitchState(ctx)
	if err != nil {
		return false, "", time.Time{}, err
	}
	if !sw.Held {
		return false, "", time.Time{}, nil
	}
	return true, sw.Reason, sw.ChangedAt, nil
}
