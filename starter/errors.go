package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// isInputError says whether err is the caller's mistake (exit 2) rather than a fault.
func isInputError(err error) bool {
	var v *deals.ValidationError
	return errors.As(err, &v) || errors.Is(err, deals.ErrNotFound) || errors.Is(err, deals.ErrDealClosed) ||
		errors.Is(err, deals.ErrNotClosed) || errors.Is(err, deals.ErrUnknownStage) || errors.Is(err, deals.ErrTaskNotOpen) ||
		errors.Is(err, deals.ErrEventIDTaken) || errors.Is(err, store.ErrUserExists) || errors.Is(err, deals.ErrCannotHoldDeals) || errors.Is(err, deals.ErrNoDigest)
}

// describe turns domain errors into a sentence for people.
func describe(err error) string {
	var v *deals.ValidationError
	switch {
	case errors.As(err, &v):
		return v.Error()
	case errors.Is(err, deals.ErrDealClosed):
		return err.Error() + " (use: starter deal reopen DEAL)"
	default:
		return err.Error()
	}
}

// quietLogger keeps the Temporal client's info lines out of CLI output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
