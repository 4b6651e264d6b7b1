package deals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// An owner handover moves a departing rep's open deals (all, or one pipeline's) to another
// owner, with their open tasks. The store moves them and records, per deal, one
// owner_changed event (source ops) in the same transaction; the deal's workflow then reloads
// its calendars and re-plans its open tasks in the new owner's. Later emails go out under
// the new owner's sender identity: the send activity reads the deal's owner at send time,
// and a threaded step stays in the deal's thread, which is the deal's, not the owner's.
//
// The new owner is created from the email if no owner has it, as a create naming only the
// owner's email would (the pipeline's calendar, the default sender); the answer says so
// (to_created), so a mistyped address shows. When the email is a user's, that user must be
// enabled and a rep or ops (ErrCannotHoldDeals): an integration, or someone disabled, would
// hold deals no one works. Neither owner may be paused: the moved deals
// would keep the old owner's pause (which its resume would no longer reach) or miss the new
// owner's; resume the owner first.

// HandoverRequest moves the open deals of From (an owner's email or id) to To (an email).
type HandoverRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Pipeline string `json:"pipeline,omitempty"` // only this pipeline's deals
	Source   string `json:"source"`             // who asks: cli, api, …
}

// HandoverResponse says what a handover did, deal by deal (as an owner pause does).
type HandoverResponse struct {
	From      string `json:"from"` // emails
	To        string `json:"to"`
	FromID    string `json:"from_id"`
	ToID      string `json:"to_id"`
	ToCreated bool   `json:"to_created,omitempty"` // no owner had the email: created
	Pipeline  string `json:"pipeline,omitempty"`
	// Moved: the open deals this call moved. Deals: every deal of this handover the new
	// owner holds (moved now or by an earlier call), and what became of its owner_changed
	// event: signalled now; already told by an earlier call; closed meanwhile; pending
	// (recorded, Temporal did not answer: the sweeper delivers it, and so does the same
	// call again); failed (the same call again completes them).
	Moved int `json:"moved"`
	FanOut
}

// OwnerChangedRequest is what each deal's owner_changed event records: the intake's request
// for the kind, which the sweeper sends again.
type OwnerChangedRequest struct {
	Deal        string `json:"deal"`
	From        string `json:"from"` // owner ids
	To          string `json:"to"`
	FromEmail   string `json:"from_email,omitempty"`
	ToEmail     string `json:"to_email,omitempty"`
	Pipeline    string `json:"pipeline,omitempty"`
	Source      string `json:"source"` // SourceOps
	EventID     string `json:"event_id"`
	RequestedBy string `json:"requested_by,omitempty"` // the handover's source
}

func (r OwnerChangedRequest) event(s *Service) workflows.Event {
	return workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventOwnerChanged, Source: r.Source,
		SourceEventID: r.EventID, SourceTime: s.now(), Reason: fmt.Sprintf("handed over from %s to %s", r.FromEmail, r.ToEmail),
		OwnerID: r.To}
}

// ChangeOwner tells one deal of a handover again (the sweeper's path), unless the deal has
// been handed to someone else since.
func (s *Service) ChangeOwner(ctx context.Context, r OwnerChangedRequest) (EventResponse, error) {
	d, err := s.Store.DealByID(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	if d.OwnerID != r.To {
		return EventResponse{DealID: d.ID}, ignore("superseded: the deal was handed to another owner since")
	}
	payload, _ := json.Marshal(r)
	return s.deliver(ctx, d, payload, r.event(s))
}

// Handover moves From's open deals to To and tells each deal. Repeating it moves nothing
// more and tells only the deals an earlier call could not (ErrPartial).
func (s *Service) Handover(ctx context.Context, r HandoverRequest) (HandoverResponse, error) {
	var p problems
	switch {
	case r.From == "":
		p.add("the owner handing over is required")
	case !uuidPattern.MatchString(r.From):
		checkEmail(&p, "owner", r.From)
	}
	if r.To == "" {
		p.add("to (the new owner's email) is required")
	} else {
		checkEmail(&p, "to", r.To)
	}
	if r.Pipeline != "" {
		checkToken(&p, "pipeline", r.Pipeline)
	}
	checkToken(&p, "source", r.Source)
	if err := p.err(); err != nil {
		return HandoverResponse{}, err
	}
	var from store.Owner
	var err error
	if uuidPattern.MatchString(r.From) {
		from, err = s.Store.OwnerByID(ctx, strings.ToLower(r.From))
	} else {
		from, err = s.Store.OwnerByEmail(ctx, r.From)
	}
	if err != nil {
		return HandoverResponse{}, err
	}
	if strings.EqualFold(from.Email, r.To) {
		return HandoverResponse{}, &ValidationError{Problems: []string{"to: hand over to another owner than " + from.Email}}
	}
	if r.Pipeline != "" {
		if _, err := s.Store.LatestCadenceOf(ctx, r.Pipeline); err != nil {
			return HandoverResponse{}, err
		}
	}
	if err := s.checkNotPaused(ctx, from); err != nil {
		return HandoverResponse{}, err
	}
	if err := s.checkCanHold(ctx, r.To); err != nil {
		return HandoverResponse{}, err
	}
	if to, err := s.Store.OwnerByEmail(ctx, r.To); err == nil {
		if err := s.checkNotPaused(ctx, to); err != nil {
			return HandoverResponse{}, err
		}
	}
	to, created, err := s.Store.EnsureOwner(ctx, r.To)
	if err != nil {
		return HandoverResponse{}, err
	}
	resp := HandoverResponse{From: from.Email, To: to.Email, FromID: from.ID, ToID: to.ID, ToCreated: created, Pipeline: r.Pipeline}
	base := OwnerChangedRequest{From: from.ID, To: to.ID, FromEmail: from.Email, ToEmail: to.Email,
		Pipeline: r.Pipeline, Source: SourceOps, RequestedBy: r.Source}
	ds, err := s.Store.HandOver(ctx, store.Handover{From: from.ID, To: to.ID, Pipeline: r.Pipeline, Source: SourceOps, At: s.now()},
		func(dealID, eventID string) []byte {
			req := base
			req.Deal, req.EventID = dealID, eventID
			b, _ := json.Marshal(req)
			return b
		})
	if err != nil {
		return resp, err
	}
	return s.tellHandover(ctx, resp, ds, base)
}

// checkCanHold refuses a handover to a user who may not hold deals: a disabled one, or an
// integration (ErrCannotHoldDeals). An email that is no user's (an owner without a login, or
// a new one) may hold deals, as before users existed.
func (s *Service) checkCanHold(ctx context.Context, email string) error {
	u, err := s.Store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case u.DisabledAt != nil:
		return fmt.Errorf("to: user %s is disabled (starter user enable %s, or hand over to another owner): %w", u.Email, u.Email, ErrCannotHoldDeals)
	case u.Role != store.RoleRep && u.Role != store.RoleOps:
		return fmt.Errorf("to: user %s has role %s; only a rep or ops user holds deals: %w", u.Email, u.Role, ErrCannotHoldDeals)
	}
	return nil
}

func (s *Service) checkNotPaused(ctx context.Context, o store.Owner) error {
	pause, held, err := s.Store.ActivePause(ctx, store.PauseScopeOwner, o.ID)
	if err != nil || !held {
		return err
	}
	return &ValidationError{Problems: []string{fmt.Sprintf(
		"owner %s is paused (pause %d): resume the owner before a handover, so no moved deal keeps or misses an owner's pause", o.Email, pause.ID)}}
}

// tellHandover delivers each deal's owner_changed event still in received, as fanOut does.
func (s *Service) tellHandover(ctx context.Context, resp HandoverResponse, ds []store.HandedDeal, base OwnerChangedRequest) (HandoverResponse, error) {
	states := make([]string, len(ds))
	errs := make([]error, len(ds))
	var down outage
	sem := make(chan struct{}, fanOutConcurrency)
	var wg sync.WaitGroup
	for i, hd := range ds {
		if hd.Moved {
			resp.Moved++
		}
		switch {
		case !hd.Open || hd.State == store.EventRefused:
			states[i] = "closed"
			continue
		case hd.State != store.EventReceived:
			states[i] = "already_done"
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req := base
			req.Deal, req.EventID = hd.DealID, hd.SourceEventID
			payload, _ := json.Marshal(req)
			d, err := s.Store.DealByID(ctx, hd.DealID)
			if err != nil {
				states[i], errs[i] = "failed", err
				return
			}
			r, told, err := s.intake(ctx, d, payload, req.event(s), &down, nil)
			switch {
			case errors.Is(err, ErrDealClosed), r.State == store.EventRefused:
				states[i] = "closed"
			case errors.Is(err, ErrDeliveryPending):
				states[i] = "pending"
			case err != nil:
				states[i], errs[i] = "failed", err
			case told:
				states[i] = "signalled"
			default:
				states[i] = "already_done"
			}
		}()
	}
	wg.Wait()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.DealID
	}
	failures := resp.tally(ids, states, errs)
	if resp.Failed > 0 {
		return resp, fmt.Errorf("handover %s to %s: %d of %d deals could not be signalled (run the same request again; it completes the rest): %w",
			resp.From, resp.To, resp.Failed, resp.Deals, errors.Join(append([]error{ErrPartial}, failures...)...))
	}
	return resp, nil
}
