package deals

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"

	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// Every request that tells a deal something records its inbound event in PostgreSQL first
// (received), then delivers it to the deal's workflow. When Temporal does not answer, the
// event is recorded all the same: the request has succeeded as far as its caller is
// concerned, and the sweeper (sweep.go) delivers the event once Temporal answers. Such a call
// returns its answer, with the ids and the state received, and a *PendingError.

// SignalTimeout bounds each call that hands a recorded event to its deal's workflow (Signal,
// Signal-With-Start). While Temporal is down the client retries its Unavailable answers by
// itself until the call's context ends, 10 s by default, so an unbounded call kept its caller
// waiting 10 s for an error. A delivery takes milliseconds when Temporal answers; one that
// has no answer within SignalTimeout is left to the sweeper, and its caller hears so then.
const SignalTimeout = 3 * time.Second

// ErrDeliveryPending is what a *PendingError is: recorded, not yet delivered.
var ErrDeliveryPending = errors.New("recorded; delivery pending")

// PendingMessage says to people what an answer in state received means.
const PendingMessage = "recorded; delivery pending: Temporal does not answer now, so the deal's workflow has not heard of " +
	"this event yet; it waits in state received and the sweeper delivers it once Temporal answers " +
	"(sending the same request again is safe: the same event id is recognised)"

// PendingError says that a request's event is durably recorded (state received) but its
// deal's workflow could not be told now: Temporal is unreachable, or did not answer within
// SignalTimeout. The sweeper delivers it; the same request sent again delivers it, or finds
// it delivered. Err, why Temporal was not told, is for logs.
type PendingError struct {
	DealID  string
	EventID int64
	Err     error
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("deal %s: event %d recorded; delivery pending: %v", e.DealID, e.EventID, e.Err)
}

func (e *PendingError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDeliveryPending) true for a *PendingError.
func (e *PendingError) Is(target error) bool { return target == ErrDeliveryPending }

// errSkipped is why a delivery was not even tried: an earlier one of the same call found
// Temporal down (outage).
var errSkipped = errors.New("not tried: Temporal did not answer an earlier delivery of this call")

// temporalDown says whether err, from a Temporal call, means Temporal did not answer
// (unreachable, overloaded, or not in time) rather than refused the call.
func temporalDown(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
	)
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.Is(err, context.DeadlineExceeded)
}

// Unavailable names the dependency that err says does not answer — "PostgreSQL" or
// "Temporal" — or is "" for any other error. A request that failed so, before its event was
// recorded, may succeed when sent again a little later.
func Unavailable(err error) string {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		connect     *pgconn.ConnectError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &unavailable), errors.As(err, &deadline), errors.As(err, &exhausted):
		return "Temporal"
	case errors.As(err, &connect), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		// Could not connect, timed out, or failed before the statement was sent.
		return "PostgreSQL"
	}
	return ""
}

// outage remembers, across the deals one call tells (an owner's or a pipeline's pause, a
// migration), that Temporal did not answer: the deals after that have their events recorded
// and left to the sweeper, so the call does not wait SignalTimeout once per deal. A nil
// *outage remembers nothing.
type outage struct{ down atomic.Bool }

// signalUnlessDown is signalWithStart, unless o says Temporal is down already; a delivery
// Temporal does not answer marks o down.
func (s *Service) signalUnlessDown(ctx context.Context, d store.Deal, ev workflows.Event, o *outage) error {
	if o != nil && o.down.Load() {
		return &PendingError{DealID: d.ID, EventID: ev.InboundEventID, Err: errSkipped}
	}
	err := s.signalWithStart(ctx, d, ev)
	if o != nil && errors.Is(err, ErrDeliveryPending) {
		o.down.Store(true)
	}
	return err
}
