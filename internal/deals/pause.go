package deals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// A pause holds a deal's whole agenda (steps, stale rungs, the stage deadline) and the
// workflow re-plans the time each item had left once nothing holds it. Three scopes may hold
// a deal: the deal itself (PauseDeal), its owner (PauseOwner: a holiday) and its pipeline
// (PausePipeline). The deal's own pause lives in its workflow; owner and pipeline pauses are
// rows of the pauses table, told to every open deal they hold, and handed to any run of a
// deal that starts while they hold (DealInput.Pauses).

// SourceOps is the source of the events an owner or pipeline pause sends to each deal. Their
// ids derive from the pause row, so retrying the same call converges.
const SourceOps = "ops"

// fanOutConcurrency bounds the deals an owner or pipeline pause signals at once.
const fanOutConcurrency = 8

// checkUntil checks an end given as an instant or as a date (YYYY-MM-DD), not both.
func checkUntil(p *problems, until time.Time, on string) {
	if on == "" {
		return
	}
	if !until.IsZero() {
		p.add("give until or until_on, not both")
		return
	}
	if _, err := time.Parse(time.DateOnly, on); err != nil {
		p.add("until_on %q: want a date like 2026-12-01", on)
	}
}

// resolveUntil turns a date into the start of that day in loc; an instant stays as given.
// describe says what the caller gave, for messages.
func resolveUntil(until time.Time, on string, loc *time.Location) (at time.Time, describe string) {
	if on == "" {
		if until.IsZero() {
			return time.Time{}, ""
		}
		return until, "until " + until.Format(time.RFC3339)
	}
	at, _ = time.ParseInLocation(time.DateOnly, on, loc)
	return at, fmt.Sprintf("until_on %s (%s in %s)", on, at.Format(time.RFC3339), loc)
}

// checkFuture refuses an end that is not after now, or (max > 0) further ahead than max.
func checkFuture(at time.Time, describe string, now time.Time, max time.Duration, tooFar string) error {
	if at.IsZero() {
		return nil
	}
	if !at.After(now) {
		return &ValidationError{Problems: []string{fmt.Sprintf("%s is not in the future (now %s)", describe, now.UTC().Format(time.RFC3339))}}
	}
	if max > 0 && at.Sub(now) > max {
		return &ValidationError{Problems: []string{fmt.Sprintf("%s is more than %d days ahead; %s", describe, int(max.Hours()/24), tooFar)}}
	}
	return nil
}

// location is the zone a date means for an owner: the owner's zone, else the calendar zone of
// the cadence version given (the pipeline's), else UTC.
func (s *Service) location(ctx context.Context, zone string, version *int64) (*time.Location, error) {
	if zone == "" && version != nil {
		cv, err := s.Store.Cadence(ctx, *version)
		if err != nil {
			return nil, err
		}
		zone = calendarZone(cv)
	}
	return loadZone(zone), nil
}

// calendarZone is the zone of a cadence version's pipeline calendar, if it has one.
func calendarZone(cv store.CadenceVersion) string {
	if cv.Pipeline.Calendar == nil {
		return ""
	}
	return cv.Pipeline.Calendar.Zone
}

// loadZone loads a zone; empty is UTC.
func loadZone(zone string) *time.Location {
	if zone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.UTC // zones are validated on input; an unloadable one falls back like the calendar does
	}
	return loc
}

// Which of a deal's parties a date is in: the owner's (a pause, a snooze), or the contact's
// (the prospect's return).
func ownerZone(p store.SendContext) string   { return p.Owner.Zone }
func contactZone(p store.SendContext) string { return p.Contact.Zone }

// dealLocation is the zone a date means for one of the deal's parties (ownerZone or
// contactZone): that party's zone, else the deal's pipeline calendar's, else UTC.
func (s *Service) dealLocation(ctx context.Context, d store.Deal, zoneOf func(store.SendContext) string) (*time.Location, error) {
	parties, err := s.Store.DealParties(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return s.location(ctx, zoneOf(parties), &d.CadenceVersion)
}

// dealUntil resolves the end a deal's pause or a task's snooze gives (resolveUntil): a date
// means the start of that day in the deal's owner's zone, which is looked up only then.
func (s *Service) dealUntil(ctx context.Context, d store.Deal, until time.Time, on string) (time.Time, string, error) {
	loc := time.UTC
	if on != "" {
		var err error
		if loc, err = s.dealLocation(ctx, d, ownerZone); err != nil {
			return time.Time{}, "", err
		}
	}
	at, describe := resolveUntil(until, on, loc)
	return at, describe, nil
}

// startPauses are the owner and pipeline pauses a new run of the deal starts with.
func (s *Service) startPauses(ctx context.Context, dealID string) ([]workflows.Pause, error) {
	ps, err := s.Store.ActivePausesOfDeal(ctx, dealID)
	if err != nil {
		return nil, err
	}
	var out []workflows.Pause
	for _, p := range ps {
		wp := workflows.Pause{Scope: p.Scope, Since: p.Since.UTC()}
		if p.Until != nil {
			wp.Until = p.Until.UTC()
		}
		out = append(out, wp)
	}
	return out, nil
}

// PauseRequest pauses one deal until resumed, or until Until.
type PauseRequest struct {
	Deal string `json:"deal"` // internal id, or source:external-id
	// Until, if given, lifts the pause by itself; UntilOn gives it as a date, YYYY-MM-DD: the
	// start of that day in the owner's zone (else the pipeline calendar's, else UTC).
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Source  string    `json:"source"`
	EventID string    `json:"event_id"` // the source's id of this pause; a repeat is a duplicate
	Reason  string    `json:"reason,omitempty"`
}

// ResumeRequest lifts a deal's own pause (not its owner's or pipeline's).
type ResumeRequest struct {
	Deal    string `json:"deal"`
	Source  string `json:"source"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason,omitempty"`
}

// PauseDeal records a pause of the deal and signals it; the workflow freezes the time each
// pending item has left. A closed deal refuses.
func (s *Service) PauseDeal(ctx context.Context, r PauseRequest) (EventResponse, error) {
	var p problems
	if r.Deal == "" {
		p.add("deal is required")
	}
	checkToken(&p, "source", r.Source)
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("pause-%d", s.now().UnixNano())
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "reason", r.Reason, 500)
	checkUntil(&p, r.Until, r.UntilOn)
	if err := p.err(); err != nil {
		return EventResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	until, describe, err := s.dealUntil(ctx, d, r.Until, r.UntilOn)
	if err != nil {
		return EventResponse{}, err
	}
	_, retry, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, workflows.EventPaused, func(payload []byte) bool {
		var prev PauseRequest
		return json.Unmarshal(payload, &prev) == nil && prev.Until.Equal(r.Until) && prev.UntilOn == r.UntilOn
	})
	if err != nil {
		return EventResponse{}, err
	}
	now := s.now()
	if !retry {
		// A retry converges on the recorded event even once its end has passed.
		if err := checkFuture(until, describe, now, 0, ""); err != nil {
			return EventResponse{}, err
		}
	}
	payload, _ := json.Marshal(r)
	resp, err := s.deliver(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventPaused, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: now, Scope: workflows.ScopeDeal, Until: until.UTC(), Reason: r.Reason,
	})
	if !until.IsZero() {
		resp.Until = until.UTC()
	}
	return resp, err
}

// ResumeDeal records the end of the deal's own pause and signals it; the deal runs again
// unless its owner or pipeline still holds it (the workflow records which).
func (s *Service) ResumeDeal(ctx context.Context, r ResumeRequest) (EventResponse, error) {
	var p problems
	if r.Deal == "" {
		p.add("deal is required")
	}
	checkToken(&p, "source", r.Source)
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("resume-%d", s.now().UnixNano())
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "reason", r.Reason, 500)
	if err := p.err(); err != nil {
		return EventResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	if _, _, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, workflows.EventResumed, func([]byte) bool { return true }); err != nil {
		return EventResponse{}, err
	}
	payload, _ := json.Marshal(r)
	return s.deliver(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventResumed, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: s.now(), Scope: workflows.ScopeDeal, Reason: r.Reason,
	})
}

// ScopePauseRequest pauses an owner (Target: the owner's email or id) or a pipeline
// (Target: its id), with every open deal it holds.
type ScopePauseRequest struct {
	Target string `json:"target"`
	// Until, if given, lifts the pause by itself; UntilOn gives it as a date, YYYY-MM-DD:
	// the start of that day in the owner's zone, or the pipeline calendar's (else UTC).
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Source  string    `json:"source"` // who asks: cli, api, …
}

// ScopeResumeRequest lifts the pause of an owner or a pipeline.
type ScopeResumeRequest struct {
	Target string `json:"target"`
	Source string `json:"source"`
}

// ScopeResponse says what an owner or pipeline pause (or resume) did, deal by deal.
type ScopeResponse struct {
	Scope   string     `json:"scope"`           // owner or pipeline
	Key     string     `json:"key"`             // the owner id, or the pipeline id
	Owner   string     `json:"owner,omitempty"` // the owner's email
	PauseID int64      `json:"pause_id,omitempty"`
	Since   time.Time  `json:"since,omitzero"`
	Until   *time.Time `json:"until,omitempty"`
	// State: paused, until_changed or already_paused (a pause); resumed, already_resumed
	// (a retry), ended (the pause ran out by itself) or not_paused (a resume).
	State string `json:"state"`
	// The open deals told, and what became of each: signalled now; already told by an
	// earlier call; closed meanwhile; pending (the deal's event is recorded, but Temporal did
	// not answer: the sweeper delivers it, and so does the same call again); failed (the same
	// call again completes them).
	FanOut
}

// FanOut says what became of the event each deal of an owner or pipeline was told (a scope's
// pause or resume, a handover); its fields are inlined in the answers that embed it.
type FanOut struct {
	Deals        int      `json:"deals"`
	Signalled    int      `json:"signalled"`
	AlreadyDone  int      `json:"already_done"`
	Closed       int      `json:"closed,omitempty"`
	Pending      int      `json:"pending"`
	PendingDeals []string `json:"pending_deals,omitempty"`
	Failed       int      `json:"failed"`
	FailedDeals  []string `json:"failed_deals,omitempty"`
	Message      string   `json:"message,omitempty"` // PendingMessage, when some are pending
}

// tally counts each deal's outcome (signalled, already_done, closed, pending, else failed
// with its error) and returns the failures, each naming its deal.
func (f *FanOut) tally(dealIDs, states []string, errs []error) []error {
	f.Deals = len(dealIDs)
	var failures []error
	for i, st := range states {
		switch st {
		case "signalled":
			f.Signalled++
		case "already_done":
			f.AlreadyDone++
		case "closed":
			f.Closed++
		case "pending":
			f.Pending++
			f.PendingDeals = append(f.PendingDeals, dealIDs[i])
		default:
			f.Failed++
			f.FailedDeals = append(f.FailedDeals, dealIDs[i])
			failures = append(failures, fmt.Errorf("deal %s: %w", dealIDs[i], errs[i]))
		}
	}
	sort.Strings(f.FailedDeals)
	sort.Strings(f.PendingDeals)
	if f.Pending > 0 {
		f.Message = PendingMessage
	}
	return failures
}

// ErrPartial: an owner or pipeline pause is recorded but some of its deals could not be
// signalled; the same call again completes the rest.
var ErrPartial = errors.New("some deals could not be signalled")

// PauseOwner pauses an owner (a holiday): it records the pause, then tells every open deal
// of the owner. A second pause while one holds moves its end. Deals created while the pause
// holds start paused.
func (s *Service) PauseOwner(ctx context.Context, r ScopePauseRequest) (ScopeResponse, error) {
	o, err := s.owner(ctx, r.Target, r.Source, r.Reason, r.Until, r.UntilOn)
	if err != nil {
		return ScopeResponse{}, err
	}
	loc, err := s.location(ctx, o.Zone, o.LatestCadenceVersion)
	if err != nil {
		return ScopeResponse{}, err
	}
	resp := ScopeResponse{Scope: store.PauseScopeOwner, Key: o.ID, Owner: o.Email}
	return s.pauseScope(ctx, resp, r, loc, func() ([]store.Deal, error) { return s.Store.OpenDealsOfOwner(ctx, o.ID) })
}

// ResumeOwner lifts an owner's pause and tells every open deal of the owner.
func (s *Service) ResumeOwner(ctx context.Context, r ScopeResumeRequest) (ScopeResponse, error) {
	o, err := s.owner(ctx, r.Target, r.Source, "", time.Time{}, "")
	if err != nil {
		return ScopeResponse{}, err
	}
	resp := ScopeResponse{Scope: store.PauseScopeOwner, Key: o.ID, Owner: o.Email}
	return s.resumeScope(ctx, resp, r.Source, func() ([]store.Deal, error) { return s.Store.OpenDealsOfOwner(ctx, o.ID) })
}

// PausePipeline pauses a pipeline: every open deal on any version of its cadence.
func (s *Service) PausePipeline(ctx context.Context, r ScopePauseRequest) (ScopeResponse, error) {
	if err := checkScopeRequest(r.Target, "pipeline", r.Source, r.Reason, r.Until, r.UntilOn); err != nil {
		return ScopeResponse{}, err
	}
	cv, err := s.Store.LatestCadenceOf(ctx, r.Target)
	if err != nil {
		return ScopeResponse{}, err
	}
	resp := ScopeResponse{Scope: store.PauseScopePipeline, Key: r.Target}
	return s.pauseScope(ctx, resp, r, loadZone(calendarZone(cv)), func() ([]store.Deal, error) { return s.Store.OpenDealsOfPipeline(ctx, r.Target) })
}

// ResumePipeline lifts a pipeline's pause and tells every open deal on it.
func (s *Service) ResumePipeline(ctx context.Context, r ScopeResumeRequest) (ScopeResponse, error) {
	if err := checkScopeRequest(r.Target, "pipeline", r.Source, "", time.Time{}, ""); err != nil {
		return ScopeResponse{}, err
	}
	// ErrNotFound, naming the pipeline, when it has no published cadence.
	if _, err := s.Store.LatestCadenceOf(ctx, r.Target); err != nil {
		return ScopeResponse{}, err
	}
	resp := ScopeResponse{Scope: store.PauseScopePipeline, Key: r.Target}
	return s.resumeScope(ctx, resp, r.Source, func() ([]store.Deal, error) { return s.Store.OpenDealsOfPipeline(ctx, r.Target) })
}

func checkScopeRequest(target, what, source, reason string, until time.Time, on string) error {
	var p problems
	switch {
	case target == "":
		p.add("%s is required", what)
	case what == "owner":
		if !uuidPattern.MatchString(target) {
			checkEmail(&p, "owner", target)
		}
	default:
		checkToken(&p, what, target)
	}
	checkToken(&p, "source", source)
	checkText(&p, "reason", reason, 500)
	checkUntil(&p, until, on)
	return p.err()
}

func (s *Service) owner(ctx context.Context, target, source, reason string, until time.Time, on string) (store.Owner, error) {
	if err := checkScopeRequest(target, "owner", source, reason, until, on); err != nil {
		return store.Owner{}, err
	}
	if uuidPattern.MatchString(target) {
		return s.Store.OwnerByID(ctx, strings.ToLower(target))
	}
	return s.Store.OwnerByEmail(ctx, target)
}

func (s *Service) pauseScope(ctx context.Context, resp ScopeResponse, r ScopePauseRequest, loc *time.Location,
	list func() ([]store.Deal, error)) (ScopeResponse, error) {
	until, describe := resolveUntil(r.Until, r.UntilOn, loc)
	if err := checkFuture(until, describe, s.now(), 0, ""); err != nil {
		return ScopeResponse{}, err
	}
	var end *time.Time
	if !until.IsZero() {
		u := until.UTC()
		end = &u
	}
	pause, change, err := s.Store.StartPause(ctx, resp.Scope, resp.Key, end, r.Reason, r.Source)
	if err != nil {
		return ScopeResponse{}, err
	}
	resp.PauseID, resp.Since, resp.Until, resp.State = pause.ID, pause.Since.UTC(), utcPtr(pause.Until), string(change)
	prefix := fmt.Sprintf("%s-pause-%d.", resp.Scope, pause.ID)
	current := fmt.Sprintf("%s%d/", prefix, pause.Revision)
	if pause.Revision > 1 {
		// Events of an earlier end that never reached their deal: this revision supersedes them.
		if _, err := s.Store.SupersedeReceived(ctx, SourceOps, prefix, current,
			fmt.Sprintf("superseded: the %s pause got another end before this reached the deal", resp.Scope)); err != nil {
			return resp, err
		}
	}
	ds, err := list()
	if err != nil {
		return resp, err
	}
	payload := scopePayload{Scope: resp.Scope, Key: resp.Key, PauseID: pause.ID, Revision: pause.Revision, Until: resp.Until, Reason: pause.Reason}
	return s.fanOut(ctx, resp, ds, payload.event(workflows.EventPaused), current, payload)
}

func (s *Service) resumeScope(ctx context.Context, resp ScopeResponse, source string, list func() ([]store.Deal, error)) (ScopeResponse, error) {
	pause, lifted, err := s.Store.LiftPause(ctx, resp.Scope, resp.Key, source)
	if errors.Is(err, store.ErrNotFound) {
		resp.State = "not_paused"
		return resp, nil
	}
	if err != nil {
		return ScopeResponse{}, err
	}
	resp.PauseID, resp.Since, resp.Until = pause.ID, pause.Since.UTC(), utcPtr(pause.Until)
	switch {
	case lifted:
		resp.State = "resumed"
	case pause.LiftedBy == "until":
		// The deals lifted it themselves when it ran out.
		resp.State = "ended"
		return resp, nil
	default:
		resp.State = "already_resumed" // a retry: finish telling the deals
	}
	if _, err := s.Store.SupersedeReceived(ctx, SourceOps, fmt.Sprintf("%s-pause-%d.", resp.Scope, pause.ID), "",
		fmt.Sprintf("superseded: the %s pause was lifted before this reached the deal", resp.Scope)); err != nil {
		return resp, err
	}
	ds, err := list()
	if err != nil {
		return resp, err
	}
	payload := scopePayload{Scope: resp.Scope, Key: resp.Key, PauseID: pause.ID}
	return s.fanOut(ctx, resp, ds, payload.event(workflows.EventResumed), fmt.Sprintf("%s-resume-%d/", resp.Scope, pause.ID), payload)
}

// scopePayload is what each deal's inbound event records of an owner or pipeline pause.
type scopePayload struct {
	Scope    string     `json:"scope"`
	Key      string     `json:"key"`
	PauseID  int64      `json:"pause_id"`
	Revision int        `json:"revision,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

// event is the deal event an owner or pipeline pause (kind paused) or its lift (resumed)
// sends each deal, but for the per-deal event id and source time: fanOut and the sweeper
// build it from the same payload the deal's row records.
func (p scopePayload) event(kind workflows.EventKind) workflows.Event {
	ev := workflows.Event{Version: workflows.EventVersion, Kind: kind, Source: SourceOps, Scope: p.Scope}
	switch kind {
	case workflows.EventPaused:
		ev.Reason = p.Reason
		if p.Until != nil {
			ev.Until = p.Until.UTC()
		}
	case workflows.EventResumed:
		ev.Reason = fmt.Sprintf("the %s pause is lifted", p.Scope)
	}
	return ev
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// fanOut tells each deal: it records the deal's event under idPrefix+deal id (source ops),
// so a retry finds the deals told already and signals only the rest.
func (s *Service) fanOut(ctx context.Context, resp ScopeResponse, ds []store.Deal, ev workflows.Event, idPrefix string,
	payload scopePayload) (ScopeResponse, error) {
	body, _ := json.Marshal(payload)
	now := s.now()
	type outcome struct {
		state string
		err   error
	}
	outs := make([]outcome, len(ds))
	var down outage
	sem := make(chan struct{}, fanOutConcurrency)
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e := ev
			e.SourceEventID, e.SourceTime = idPrefix+d.ID, now
			r, told, err := s.intake(ctx, d, body, e, &down, nil)
			switch {
			case errors.Is(err, ErrDealClosed), r.State == store.EventRefused:
				outs[i].state = "closed"
			case errors.Is(err, ErrDeliveryPending):
				outs[i] = outcome{"pending", err}
			case err != nil:
				outs[i] = outcome{"failed", err}
			case told:
				outs[i].state = "signalled"
			default:
				outs[i].state = "already_done" // told by an earlier call
			}
		}()
	}
	wg.Wait()
	ids, states, outErrs := make([]string, len(ds)), make([]string, len(ds)), make([]error, len(ds))
	for i, o := range outs {
		ids[i], states[i], outErrs[i] = ds[i].ID, o.state, o.err
	}
	errs := resp.tally(ids, states, outErrs)
	if resp.Failed > 0 {
		return resp, fmt.Errorf("%s %s: %d of %d open deals could not be signalled (run the same request again; it completes the rest): %w",
			resp.Scope, resp.Key, resp.Failed, resp.Deals, errors.Join(append([]error{ErrPartial}, errs...)...))
	}
	return resp, nil
}
