package deals

import (
	"context"
	"errors"

	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/store"
)

// ValueRequest sets a deal's value: the fields given replace the deal's, the others stay.
type ValueRequest struct {
	Deal            string       `json:"-"`
	Amount          money.Amount `json:"amount,omitempty"`
	Currency        string       `json:"currency,omitempty"`
	ExpectedCloseOn string       `json:"expected_close_on,omitempty"`
	Source          string       `json:"source,omitempty"` // who tells us: api, cli, hubspot, …
}

// ValueResponse is the deal's value after the request.
type ValueResponse struct {
	DealID string `json:"deal_id"`
	store.DealValue
}

// checkValue checks a value's fields and returns the currency upper-cased and the date as
// written; the amount is checked when it is decoded (money.Amount).
func checkValue(p *problems, amount money.Amount, currency, closeOn string) (string, string) {
	if _, err := money.ParseAmount(string(amount)); err != nil {
		p.add("%v", err)
	}
	c, err := money.ParseCurrency(currency)
	if err != nil {
		p.add("%v", err)
	}
	d, err := money.ParseDate(closeOn)
	if err != nil {
		p.add("expected close %v", err)
	}
	return c, d
}

// SetValue sets a deal's amount, currency or expected close date, open or closed (a won
// deal's final amount may come late). It is no event for the workflow: the cadence does not
// depend on a deal's value. The change is recorded with the actor.
func (s *Service) SetValue(ctx context.Context, r ValueRequest) (ValueResponse, error) {
	var p problems
	if r.Source == "" {
		r.Source = "api"
	}
	checkToken(&p, "source", r.Source)
	r.Currency, r.ExpectedCloseOn = checkValue(&p, r.Amount, r.Currency, r.ExpectedCloseOn)
	if r.Amount == "" && r.Currency == "" && r.ExpectedCloseOn == "" {
		p.add("nothing to set: give amount, currency or expected_close_on")
	}
	if err := p.err(); err != nil {
		return ValueResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return ValueResponse{}, err
	}
	r.Deal = d.ID
	v, err := s.Store.SetDealValue(ctx, r.Deal, store.ValueChange{
		DealValue: store.DealValue{Amount: r.Amount, Currency: r.Currency, ExpectedCloseOn: r.ExpectedCloseOn}, Source: r.Source,
	})
	if errors.Is(err, store.ErrAmountWithoutCurrency) {
		return ValueResponse{}, &ValidationError{Problems: []string{"amount " + string(r.Amount) + ": needs a currency (an ISO 4217 code such as EUR)"}}
	}
	if err != nil {
		return ValueResponse{}, err
	}
	return ValueResponse{DealID: r.Deal, DealValue: v}, nil
}
