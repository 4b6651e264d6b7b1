package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/followup-engine/followup/internal/money"
)

// A deal's value: deals.amount, currency and expected_close_on, and their history in
// deal_value_changes (who set which value when). This file writes both.

// DealValue is what a deal is worth and when it is expected to close; "" is unset.
type DealValue struct {
	Amount          money.Amount `json:"amount,omitempty"`
	Currency        string       `json:"currency,omitempty"`
	ExpectedCloseOn string       `json:"expected_close_on,omitempty"` // YYYY-MM-DD
}

// IsZero says whether nothing is set.
func (v DealValue) IsZero() bool { return v == DealValue{} }

// ValueChange is a change of a deal's value: the fields set replace the deal's, the others
// stay.
type ValueChange struct {
	DealValue
	Source string
}

// ErrAmountWithoutCurrency: an amount needs a currency (given now or set before).
var ErrAmountWithoutCurrency = errors.New("an amount needs a currency")

// SetDealValue applies a value change to a deal and records it with the actor under ctx;
// a change that changes nothing records nothing. It returns the deal's value after.
func (s *Store) SetDealValue(ctx context.Context, dealID string, ch ValueChange) (DealValue, error) {
	var out DealValue
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = setDealValue(ctx, tx, dealID, ch)
		return err
	})
	return out, err
}

func setDealValue(ctx context.Context, tx pgx.Tx, dealID string, ch ValueChange) (DealValue, error) {
	var before DealValue
	err := tx.QueryRow(ctx, `SELECT coalesce(amount::text, ''), currency, coalesce(expected_close_on::text, '')
		FROM deals WHERE id = $1 FOR UPDATE`, dealID).Scan(&before.Amount, &before.Currency, &before.ExpectedCloseOn)
	if errors.Is(err, pgx.ErrNoRows) {
		return DealValue{}, fmt.Errorf("deal %s: %w", dealID, ErrNotFound)
	}
	if err != nil {
		return DealValue{}, fmt.Errorf("read deal %s value: %w", dealID, err)
	}
	after := before
	if ch.Amount != "" {
		after.Amount = ch.Amount
	}
	if ch.Currency != "" {
		after.Currency = ch.Currency
	}
	if ch.ExpectedCloseOn != "" {
		after.ExpectedCloseOn = ch.ExpectedCloseOn
	}
	if after.Amount != "" && after.Currency == "" {
		return DealValue{}, fmt.Errorf("deal %s: %w", dealID, ErrAmountWithoutCurrency)
	}
	if after == before {
		return after, nil
	}
	_, err = tx.Exec(ctx, `UPDATE deals SET amount = nullif($2, '')::numeric, currency = $3,
			expected_close_on = nullif($4, '')::date, updated_at = now() WHERE id = $1`,
		dealID, string(after.Amount), after.Currency, after.ExpectedCloseOn)
	if err != nil {
		return DealValue{}, fmt.Errorf("set deal %s value: %w", dealID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO deal_value_changes (deal_id, amount, currency, expected_close_on, source, actor)
		VALUES ($1, nullif($2, '')::numeric, $3, nullif($4, '')::date, $5, $6)`,
		dealID, string(after.Amount), after.Currency, after.ExpectedCloseOn, ch.Source, ActorOf(ctx))
	if err != nil {
		return DealValue{}, fmt.Errorf("record deal %s value change: %w", dealID, err)
	}
	return after, nil
}
