package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/money"
)

// valueFlags registers a deal's value flags: --amount, --currency, --close-on.
func valueFlags(fs *flag.FlagSet, amount, currency, closeOn *string) {
	fs.StringVar(amount, "amount", "", "the deal's amount, decimal digits such as 12000.50 (needs --currency)")
	fs.StringVar(currency, "currency", "", "the amount's ISO 4217 currency, such as EUR or USD")
	fs.StringVar(closeOn, "close-on", "", "the expected close date, YYYY-MM-DD")
}

// dealValue handles `starter deal value DEAL [--amount A] [--currency C] [--close-on D]`.
func dealValue(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal value", stderr)
	var r deals.ValueRequest
	var amount string
	valueFlags(fs, &amount, &r.Currency, &r.ExpectedCloseOn)
	fs.StringVar(&r.Source, "source", "cli", "who tells us the value (cli, hubspot, …)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter deal value DEAL [--amount A] [--currency C] [--close-on YYYY-MM-DD]")
	if err != nil {
		return err
	}
	r.Deal = rest[0]
	a, err := money.ParseAmount(amount)
	if err != nil {
		return usageError("deal value: --amount " + err.Error())
	}
	r.Amount = a
	return callService(ctx, env, false, out,
		func(svc *deals.Service) (deals.ValueResponse, error) { return svc.SetValue(ctx, r) },
		func(w io.Writer, resp deals.ValueResponse) {
			fmt.Fprintf(w, "deal %s: %s\n", resp.DealID, valueLine(resp.Amount, resp.Currency, resp.ExpectedCloseOn))
		})
}

// valueLine is "12000.50 EUR, expected to close 2027-03-31", or what of it is set.
func valueLine(amount money.Amount, currency, closeOn string) string {
	s := "no amount"
	if amount != "" {
		s = string(amount) + " " + currency
	}
	if closeOn != "" {
		s += ", expected to close " + closeOn
	}
	return s
}
