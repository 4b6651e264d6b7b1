package deals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// The sweeper keeps the front door's promise that a recorded event reaches its deal: a
// request records its event (received), then signals the deal and marks it signalled. When
// the signal fails and the caller never retries, or the process stops in between, the row
// stays in received; the sweeper re-runs the request's own signalling for it.

// Sweep defaults: rows received more than DefaultSweepAge ago (a request still in flight is
// left alone), at most DefaultSweepLimit per sweep. `starter serve` sweeps every
// SWEEP_INTERVAL.
const (
	DefaultSweepAge   = time.Minute
	DefaultSweepLimit = 200
)

// sweepRowTimeout bounds one row's re-signalling; after sweepFailureRun rows in a row fail
// without a decision, a sweep checks that Temporal still answers before it goes on.
const (
	sweepRowTimeout = 30 * time.Second
	sweepFailureRun = 3
)

// What a sweep did with one row (SweptEvent.Result).
const (
	SweepSignalled = "signalled" // signalled again; the workflow decides what it means
	SweepSettled   = "settled"   // decided without a signal: refused or ignored, with a reason
	SweepSkipped   = "skipped"   // another sweeper holds it, or it left received meanwhile
	SweepFailed    = "failed"    // still received (Temporal down, say); the next sweep retries it
)

// SweepResult says what one sweep did with the events stuck in received.
type SweepResult struct {
	Found     int          `json:"found"` // rows in received older than the cut-off (at most the limit)
	Signalled int          `json:"signalled"`
	Settled   int          `json:"settled"`
	Skipped   int          `json:"skipped"`
	Failed    int          `json:"failed"`
	Left      int          `json:"left,omitempty"`    // not tried: the sweep stopped early
	Stopped   string       `json:"stopped,omitempty"` // why it stopped early
	Events    []SweptEvent `json:"events,omitempty"`
}

// SweptEvent is one row a sweep handled.
type SweptEvent struct {
	ID            int64            `json:"id"`
	Kind          store.EventKind  `json:"kind"`
	Source        string           `json:"source"`
	SourceEventID string           `json:"source_event_id"`
	DealID        string           `json:"deal_id,omitempty"`
	Result        string           `json:"result"`           // SweepSignalled, SweepSettled, SweepSkipped or SweepFailed
	State         store.EventState `json:"state,omitempty"`  // the row's state afterwards
	Reason        string           `json:"reason,omitempty"` // its outcome reason (settled)
	Error         string           `json:"error,omitempty"`  // failed: why
}

// settle is a row's outcome decided by the sweeper itself: it cannot be rebuilt, or a later
// change made it moot.
type settle struct {
	state  store.EventState
	reason string
}

func (e *settle) Error() string { return string(e.state) + ": " + e.reason }

func ignore(format string, args ...any) error {
	return &settle{state: store.EventIgnored, reason: fmt.Sprintf(format, args...)}
}

const reasonClosed = store.ReasonClosed

// SweepReceived re-signals, oldest first, up to limit events that have stayed in received
// for longer than olderThan. Each row is re-sent by the code path of its kind, exactly as the
// same request sent again would be; one whose deal is closed ends refused; one that cannot be
// rebuilt, or that a later change superseded, ends with a reason; one whose signal fails again
// stays received for the next sweep. A row is handled under an advisory lock, and only while
// it is still received, so sweepers in several processes never signal it twice.
func (s *Service) SweepReceived(ctx context.Context, olderThan time.Duration, limit int) (SweepResult, error) {
	if limit <= 0 {
		limit = DefaultSweepLimit
	}
	rows, err := s.Store.ReceivedEvents(ctx, olderThan, limit)
	if err != nil {
		return SweepResult{}, err
	}
	res := SweepResult{Found: len(rows)}
	if len(rows) == 0 {
		return res, nil
	}
	if err := s.temporalHealthy(ctx); err != nil {
		res.Left, res.Stopped = len(rows), "Temporal does not answer"
		return res, fmt.Errorf("%d events wait in received; Temporal does not answer: %w", len(rows), err)
	}
	failures := 0
	for i, row := range rows {
		if ctx.Err() != nil {
			res.Left, res.Stopped = len(rows)-i, "stopped"
			return res, ctx.Err()
		}
		if failures >= sweepFailureRun {
			// Several rows in a row failed: if Temporal went away, leave the rest to the next
			// sweep; if it answers, the failures are the rows' own, and the next rows go on.
			if err := s.temporalHealthy(ctx); err != nil {
				res.Left = len(rows) - i
				res.Stopped = fmt.Sprintf("%d events in a row failed and Temporal does not answer; the rest waits for the next sweep", failures)
				break
			}
			failures = 0
		}
		ev := s.sweepOne(ctx, row)
		res.Events = append(res.Events, ev)
		switch ev.Result {
		case SweepSignalled:
			res.Signalled++
		case SweepSettled:
			res.Settled++
		case SweepSkipped:
			res.Skipped++
		default:
			res.Failed++
		}
		if ev.Result == SweepFailed {
			failures++
		} else {
			failures = 0
		}
	}
	return res, nil
}

func (s *Service) temporalHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

func (s *Service) sweepOne(ctx context.Context, row store.ReceivedEvent) SweptEvent {
	out := SweptEvent{ID: row.ID, Kind: row.Kind, Source: row.Source, SourceEventID: row.SourceEventID, DealID: row.DealID}
	fail := func(err error) SweptEvent {
		out.Result, out.State, out.Error = SweepFailed, store.EventReceived, err.Error()
		return out
	}
	unlock, ok, err := s.Store.LockEvent(ctx, row.ID)
	if err != nil {
		return fail(err)
	}
	if !ok {
		out.Result = SweepSkipped
		return out
	}
	defer unlock()
	// Read under the lock: a sweeper that held it before marked the row before letting go.
	if out.State, out.Reason, err = s.Store.InboundEventState(ctx, row.ID); err != nil {
		return fail(err)
	}
	if out.State != store.EventReceived {
		out.Result = SweepSkipped
		return out
	}
	if err := s.Store.NoteSweepAttempt(ctx, row.ID); err != nil {
		return fail(err)
	}
	rctx, cancel := context.WithTimeout(ctx, sweepRowTimeout)
	state, sendErr := s.resend(rctx, row)
	cancel()
	if sendErr == nil && state == store.EventSignalled {
		out.Result, out.State, out.Reason = SweepSignalled, store.EventSignalled, ""
		return out
	}
	// Whatever the path recorded (refused for a closed deal, say) stands.
	if out.State, out.Reason, err = s.Store.InboundEventState(ctx, row.ID); err != nil {
		return fail(errors.Join(sendErr, err))
	}
	if out.State != store.EventReceived {
		out.Result = SweepSettled
		return out
	}
	var st *settle
	switch {
	case sendErr == nil:
		// Defensive: the path neither signalled nor decided; never sweep it again and again.
		st = &settle{store.EventIgnored, fmt.Sprintf("sent again by the sweeper, but not signalled (%s)", state)}
	case errors.As(sendErr, &st):
	case errors.Is(sendErr, ErrDealClosed):
		st = &settle{store.EventRefused, reasonClosed}
	case isRefusal(sendErr):
		// Such as an engagement or a snooze recorded by an earlier version with both a date
		// and the instant it meant (return_on and return_at, until_on and until): "…refused:
		// invalid request: give return_at or return_on, not both".
		st = &settle{store.EventRefused, "sent again by the sweeper and refused: " + sendErr.Error()}
		if d, err := s.Store.DealByID(ctx, row.DealID); err == nil && d.Closed() {
			st.reason = reasonClosed
		}
	default:
		return fail(sendErr)
	}
	if err := s.Store.SetEventOutcome(ctx, row.ID, st.state, st.reason); err != nil {
		return fail(err)
	}
	out.Result, out.State, out.Reason = SweepSettled, st.state, st.reason
	return out
}

// isRefusal says whether a request sent again was refused for what it asks (it would be
// refused however often it is sent), rather than failed.
func isRefusal(err error) bool {
	var v *ValidationError
	return errors.As(err, &v) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnknownStage) ||
		errors.Is(err, ErrTaskNotOpen) || errors.Is(err, ErrNotClosed) || errors.Is(err, ErrEventIDTaken)
}

// resend runs a received row's request again through the code path of its kind and says
// what that path reports of the row (signalled, or another state it decided).
func (s *Service) resend(ctx context.Context, row store.ReceivedEvent) (store.EventState, error) {
	if row.DealID == "" {
		return "", ignore("the event names no deal")
	}
	switch row.Kind {
	case workflows.EventPaused, workflows.EventResumed:
		var scope scopePayload
		if row.Source == SourceOps && json.Unmarshal(row.Payload, &scope) == nil && scope.PauseID > 0 {
			return s.resendScope(ctx, row, row.Kind, scope)
		}
		// A deal's own pause or resume swept after a later one of either was recorded would
		// undo it (a pause re-sent after its resume holds the deal for good). Owner and
		// pipeline pauses (source ops) are other scopes.
		later, found, err := s.Store.LaterEvent(ctx, row.DealID, row.ID,
			[]store.EventKind{workflows.EventPaused, workflows.EventResumed}, SourceOps)
		if err != nil {
			return "", err
		}
		if found {
			return "", ignore("superseded: a later pause or resume of the deal (event %d) was recorded after it", later)
		}
	case store.KindMigrate:
		return s.resendMigration(ctx, row)
	case store.KindReopen:
		// A reopen left in received did not start its run (its process stopped before
		// Store.FinishReopen). Starting a closed deal again is a decision for a person, not
		// for a sweeper; refusing it also ends its claim.
		return "", &settle{store.EventRefused, "the reopen did not start a run; send the reopen again (with a new event id) if the deal should continue"}
	}
	newRequest, ok := intakeKinds[row.Kind]
	if !ok {
		return "", ignore("cannot be sent again: unknown event kind %q", row.Kind)
	}
	r := newRequest()
	if err := json.Unmarshal(row.Payload, r); err != nil {
		return "", ignore("cannot be sent again: its recorded payload is not a %s request (%v)", row.Kind, err)
	}
	// The request must name this very row: sent again, it then finds it instead of recording another.
	if source, eventID := r.key(); source != row.Source || eventID != row.SourceEventID {
		return "", ignore("cannot be sent again: its recorded payload names another event (%s/%s)", source, eventID)
	}
	r.forDeal(row.DealID)
	return r.send(ctx, s)
}

// resendScope tells one deal of an owner or pipeline pause (or its lift) again, as fanOut
// does, unless a later change to that pause made the event moot.
func (s *Service) resendScope(ctx context.Context, row store.ReceivedEvent, kind workflows.EventKind, p scopePayload) (store.EventState, error) {
	if p.Scope != store.PauseScopeOwner && p.Scope != store.PauseScopePipeline {
		return "", ignore("cannot be sent again: pause scope %q", p.Scope)
	}
	// Checked and signalled under the scope's lock, which starting, changing and lifting
	// its pauses take too: a lift waits for this signal, or this sees the lift.
	var state store.EventState
	err := s.Store.WithPauseScopeLock(ctx, p.Scope, p.Key, func(ctx context.Context) error {
		var err error
		state, err = s.resendScopeLocked(ctx, row, kind, p)
		return err
	})
	return state, err
}

func (s *Service) resendScopeLocked(ctx context.Context, row store.ReceivedEvent, kind workflows.EventKind, p scopePayload) (store.EventState, error) {
	pause, err := s.Store.PauseByID(ctx, p.PauseID)
	if errors.Is(err, store.ErrNotFound) {
		return "", ignore("cannot be sent again: %s pause %d is not recorded", p.Scope, p.PauseID)
	}
	if err != nil {
		return "", err
	}
	switch kind {
	case workflows.EventPaused:
		switch {
		case pause.LiftedAt != nil, pause.Until != nil && !pause.Until.After(s.now()):
			return "", ignore("superseded: the %s pause was lifted before this reached the deal", p.Scope)
		case pause.Revision != p.Revision:
			return "", ignore("superseded: the %s pause got another end before this reached the deal", p.Scope)
		}
	case workflows.EventResumed:
		active, held, err := s.Store.ActivePause(ctx, p.Scope, p.Key)
		if err != nil {
			return "", err
		}
		if held {
			return "", ignore("superseded: the %s is paused again (pause %d) since this resume", p.Scope, active.ID)
		}
	}
	d, err := s.Store.DealByID(ctx, row.DealID)
	if err != nil {
		return "", err
	}
	ev := p.event(kind)
	ev.SourceEventID, ev.SourceTime = row.SourceEventID, s.now()
	resp, err := s.deliver(ctx, d, row.Payload, ev)
	return resp.State, err
}

// resendMigration signals a deal's migration again while the deal is still on the version
// it migrates from.
func (s *Service) resendMigration(ctx context.Context, row store.ReceivedEvent) (store.EventState, error) {
	var m struct {
		From int64 `json:"from"`
		To   int64 `json:"to"`
	}
	if err := json.Unmarshal(row.Payload, &m); err != nil || m.From == 0 || m.To == 0 {
		return "", ignore("cannot be sent again: its recorded payload names no versions (want {\"from\":…,\"to\":…})")
	}
	d, err := s.Store.DealByID(ctx, row.DealID)
	if err != nil {
		return "", err
	}
	if d.Closed() {
		return "", fmt.Errorf("deal %s: %w", d.ID, ErrDealClosed)
	}
	if d.CadenceVersion != m.From {
		return "", ignore("superseded: the deal is on cadence version %d now, not %d", d.CadenceVersion, m.From)
	}
	to, err := s.Store.Cadence(ctx, m.To)
	if errors.Is(err, store.ErrNotFound) {
		return "", ignore("cannot be sent again: cadence version %d is not published", m.To)
	}
	if err != nil {
		return "", err
	}
	state, err := s.sendMigration(ctx, d, to, row.SourceEventID, row.SourceTime, nil)
	return store.EventState(state), err
}

// SweepEvery sweeps every interval until ctx ends, logging what each sweep that found
// something did (counts and event ids, never payloads).
func (s *Service) SweepEvery(ctx context.Context, interval, olderThan time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := s.SweepReceived(ctx, olderThan, DefaultSweepLimit)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			logger.Warn("Sweep of received events failed", "Found", res.Found, "Error", err)
			continue
		}
		if res.Found == 0 {
			continue
		}
		attrs := []any{"Found", res.Found, "Signalled", res.Signalled, "Settled", res.Settled,
			"Skipped", res.Skipped, "Failed", res.Failed}
		if res.Left > 0 {
			attrs = append(attrs, "Left", res.Left, "Stopped", res.Stopped)
		}
		if res.Failed == 0 && res.Left == 0 {
			logger.Info("Swept received events", attrs...)
			continue
		}
		var failed []int64
		first := ""
		for _, ev := range res.Events {
			if ev.Result == SweepFailed {
				failed = append(failed, ev.ID)
				if first == "" {
					first = ev.Error
				}
			}
		}
		logger.Warn("Swept received events; some are still received", append(attrs, "FailedEvents", failed, "FirstError", first)...)
	}
}
