// Package deals is the front door's logic, shared by the CLI and the HTTP API: it validates
// input, records inbound events in PostgreSQL, then starts or signals deal workflows.
package deals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// Domain errors; the CLI and the HTTP API map them to answers in one place each.
var (
	ErrNotFound     = store.ErrNotFound
	ErrDealClosed   = store.ErrDealClosed
	ErrNotClosed    = store.ErrDealNotClosed
	ErrUnknownStage = errors.New("unknown stage")
	// ErrCadenceCannotRun: the version a deal would start on cannot be loaded by a worker
	// (published before the size bounds, or undecodable); nothing is recorded.
	ErrCadenceCannotRun = errors.New("cadence version cannot run a deal")
	ErrTaskNotOpen      = errors.New("task is not open") // done, skipped or cancelled already
	// ErrEventIDTaken: the request's (source, event id) already names another request (another
	// deal, kind or payload); the error (*store.EventIDTakenError) names the event holding it.
	ErrEventIDTaken = store.ErrEventIDTaken
	// ErrCannotHoldDeals: a handover's target is a user who may not hold deals (disabled, or
	// of a role other than rep or ops); nothing was written.
	ErrCannotHoldDeals = errors.New("the user may not hold deals")
)

// ValidationError lists what is wrong with a request; nothing was written.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid request: " + strings.Join(e.Problems, "; ")
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Service is the front door.
type Service struct {
	Store    *store.Store
	Temporal client.Client
	Now      func() time.Time
	// OwnAddresses are addresses of ours beyond the owners and the mailboxes the engine sent
	// from (MAIL_FROM, the configured mailboxes): mail from them is never a prospect's reply.
	OwnAddresses []string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CreateRequest creates a deal, or converges on the one its external id already names.
type CreateRequest struct {
	Source         string             `json:"source"`      // who tells us: api, cli, hubspot, …
	ExternalID     string             `json:"external_id"` // the deal's id at that source
	Title          string             `json:"title"`
	Owner          store.OwnerInput   `json:"owner"`
	Contact        store.ContactInput `json:"contact"`
	Pipeline       string             `json:"pipeline,omitempty"`        // pipeline id; default the built-in b2b-default
	CadenceVersion *int64             `json:"cadence_version,omitempty"` // default: the pipeline's latest published version
	EventID        string             `json:"event_id,omitempty"`        // default: "create:<external id>"
	SourceTime     time.Time          `json:"source_time,omitzero"`      // default: now
	// Import enters the start stage as an existing deal moved over from another system: the
	// stage's clock starts now and its first email counts as already sent, so it is not sent.
	Import bool `json:"import,omitempty"`
	// The deal's value: an amount of decimal digits (a JSON string, or a number written the
	// same way), its ISO 4217 currency, and the expected close date YYYY-MM-DD. A create
	// that converges on an existing deal updates the value it names.
	Amount          money.Amount `json:"amount,omitempty"`
	Currency        string       `json:"currency,omitempty"`
	ExpectedCloseOn string       `json:"expected_close_on,omitempty"`
}

// CreateResponse says what happened.
type CreateResponse struct {
	DealID     string `json:"deal_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"` // empty while the event waits in received
	Created    bool   `json:"created"`
	Stage      string `json:"stage"`
	EventID    int64  `json:"event_id"` // the create's inbound event
	// State is the create event's: signalled by this call, received when Temporal did not
	// answer (with a *PendingError; the sweeper delivers it), or the state a retry found.
	State   store.EventState `json:"state"`
	Message string           `json:"message,omitempty"` // PendingMessage, in state received
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$`)

func checkToken(p *problems, field, v string) {
	if !tokenPattern.MatchString(v) {
		p.add("%s %q: want 1-200 letters, digits or . _ : / @ + -", field, v)
	}
}

func checkEmail(p *problems, field, v string) {
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" {
		p.add("%s %q is not a plain email address", field, v)
	}
}

func checkZone(p *problems, field, v string) {
	if v == "" {
		return
	}
	if _, err := time.LoadLocation(v); err != nil || v == "Local" {
		p.add("%s %q is not an IANA time zone (like Europe/Berlin)", field, v)
	}
}

func checkCountry(p *problems, field, v string) {
	if v == "" {
		return
	}
	if !calendar.Known(strings.ToLower(v)) {
		p.add("%s %q: no public-holiday table for it (known: ISO codes such as de, us, gb, or regions such as de-by)", field, v)
	}
}

func checkText(p *problems, field, v string, max int) {
	if len(v) > max {
		p.add("%s is longer than %d characters", field, max)
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		p.add("%s must be a single line", field)
	}
	if !utf8.ValidString(v) {
		p.add("%s is not valid UTF-8", field)
	}
}

func (r *CreateRequest) validate() error {
	var p problems
	checkToken(&p, "source", r.Source)
	checkToken(&p, "external id", r.ExternalID)
	if r.EventID != "" {
		checkToken(&p, "event id", r.EventID)
	}
	checkText(&p, "title", r.Title, 200)
	checkEmail(&p, "owner email", r.Owner.Email)
	checkText(&p, "owner name", r.Owner.Name, 200)
	checkText(&p, "owner company", r.Owner.Company, 200)
	checkZone(&p, "owner zone", r.Owner.Zone)
	checkCountry(&p, "owner country", r.Owner.Country)
	for _, a := range []struct{ field, value string }{{"owner sender", r.Owner.SenderFrom}, {"owner reply-to", r.Owner.SenderReplyTo}} {
		if a.value == "" {
			continue
		}
		if err := cadence.CheckAddress(a.value); err != nil {
			p.add("%s: %v", a.field, err)
		}
	}
	checkEmail(&p, "contact email", r.Contact.Email)
	checkText(&p, "contact first name", r.Contact.FirstName, 100)
	checkText(&p, "contact last name", r.Contact.LastName, 100)
	checkText(&p, "contact company", r.Contact.Company, 200)
	checkZone(&p, "contact zone", r.Contact.Zone)
	checkCountry(&p, "contact country", r.Contact.Country)
	r.Currency, r.ExpectedCloseOn = checkValue(&p, r.Amount, r.Currency, r.ExpectedCloseOn)
	if r.Amount != "" && r.Currency == "" {
		p.add("amount %s: needs a currency (an ISO 4217 code such as EUR)", r.Amount)
	}
	return p.err()
}

// Create records the deal and its create event, then Signal-With-Starts its workflow: a
// second create for the same external id signals the running deal, which converges.
func (s *Service) Create(ctx context.Context, r CreateRequest) (CreateResponse, error) {
	if err := r.validate(); err != nil {
		return CreateResponse{}, err
	}
	if r.EventID == "" {
		r.EventID = "create:" + r.ExternalID
	}
	if r.SourceTime.IsZero() {
		r.SourceTime = s.now()
	}
	var cv store.CadenceVersion
	var err error
	switch {
	case r.CadenceVersion != nil:
		cv, err = s.Store.Cadence(ctx, *r.CadenceVersion)
	case r.Pipeline != "":
		cv, err = s.Store.LatestCadenceOf(ctx, r.Pipeline)
	default:
		cv, err = s.Store.LatestCadenceOf(ctx, cadence.Default().ID)
	}
	if errors.Is(err, store.ErrUndecodable) {
		return CreateResponse{}, fmt.Errorf("%w: %w", ErrCadenceCannotRun, err)
	}
	if err != nil {
		return CreateResponse{}, err
	}
	if err := loadable(cv); err != nil {
		return CreateResponse{}, err
	}
	dealID := "" // a new deal: any event recorded under the id is another deal's
	if d, err := s.Store.DealByExternalID(ctx, r.Source, r.ExternalID); err == nil {
		dealID = d.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return CreateResponse{}, err
	}
	if _, _, err := s.previousEvent(ctx, dealID, r.Source, r.EventID, store.KindCreated, func(payload []byte) bool {
		var prev CreateRequest
		return json.Unmarshal(payload, &prev) == nil && prev.Source == r.Source && prev.ExternalID == r.ExternalID
	}); err != nil {
		return CreateResponse{}, err
	}
	payload, _ := json.Marshal(r)
	created, err := s.Store.CreateDeal(ctx, store.NewDeal{
		Source: r.Source, ExternalID: r.ExternalID, Title: r.Title, Owner: r.Owner, Contact: r.Contact,
		CadenceVersion: cv.Version, EventID: r.EventID, SourceTime: r.SourceTime, Payload: payload,
		Value: store.DealValue{Amount: r.Amount, Currency: r.Currency, ExpectedCloseOn: r.ExpectedCloseOn},
	})
	if err != nil {
		return CreateResponse{}, err
	}
	d := created.Deal
	resp := CreateResponse{DealID: d.ID, WorkflowID: workflows.WorkflowID(d.ID), Created: created.Created, Stage: d.Stage,
		EventID: created.Event.ID, State: created.Event.State}
	if d.Closed() {
		if created.Event.State == store.EventReceived {
			// New, or a retry of one never signalled: refused, as other events of a closed deal are.
			_ = s.Store.SetEventOutcome(ctx, created.Event.ID, store.EventRefused, store.ReasonClosed)
		}
		return resp, fmt.Errorf("deal %s (%s:%s) is closed in %s: %w", d.ID, r.Source, r.ExternalID, d.Stage, ErrDealClosed)
	}
	ev := workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventCreated, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: r.SourceTime, InboundEventID: created.Event.ID, Stage: d.Stage, Reason: "deal created",
	}
	run, err := s.startRun(ctx, d, runStart{event: ev, importDeal: r.Import, delivered: created.Event.State != store.EventReceived})
	if errors.Is(err, ErrDeliveryPending) {
		resp.State, resp.Message = store.EventReceived, PendingMessage
	}
	if err != nil {
		return resp, err
	}
	resp.RunID = run.GetRunID()
	if err := s.Store.MarkEventSignalled(ctx, created.Event.ID); err != nil {
		return resp, fmt.Errorf("deal %s signalled but its event not marked: %w", d.ID, err)
	}
	if resp.State == store.EventReceived {
		resp.State = store.EventSignalled
	}
	return resp, nil
}

// loadable refuses a version the worker's LoadCadence would refuse (over
// cadence.MaxLoadBytes), so a create answers why instead of starting a deal that fails.
func loadable(cv store.CadenceVersion) error {
	b, err := cv.Pipeline.CanonicalJSON()
	if err != nil {
		return fmt.Errorf("cadence version %d: %w: %w", cv.Version, ErrCadenceCannotRun, err)
	}
	if len(b) > cadence.MaxLoadBytes {
		return fmt.Errorf("cadence %s version %d is %s in its canonical form, over the %s a deal can load; publish a smaller version: %w",
			cv.Pipeline.ID, cv.Version, cadence.FormatBytes(len(b)), cadence.FormatBytes(cadence.MaxLoadBytes), ErrCadenceCannotRun)
	}
	return nil
}

// signalWithStart delivers ev to the deal's workflow, starting it from the deal's row if no
// run is open. The reuse policy refuses to restart a closed deal silently.
//
// A run is almost always open, so it is signalled first: only when Temporal finds none is
// the start input, which costs queries (the last visit, the pauses holding the deal), built
// and the event delivered with Signal-With-Start, to a new run that re-enters the deal's
// recorded stage (recovery: a start that failed after the deal was recorded, or a run that
// failed).
func (s *Service) signalWithStart(ctx context.Context, d store.Deal, ev workflows.Event) error {
	if d.Closed() {
		return fmt.Errorf("deal %s is closed in %s: %w", d.ID, d.Stage, ErrDealClosed)
	}
	sctx, cancel := context.WithTimeout(ctx, SignalTimeout)
	err := s.Temporal.SignalWorkflow(sctx, workflows.WorkflowID(d.ID), "", workflows.EventSignal, ev)
	cancel()
	var none *serviceerror.NotFound
	if !errors.As(err, &none) {
		if err != nil {
			return signalFailed(d, ev, err)
		}
		return nil
	}
	in, err := s.startInput(ctx, d, runStart{event: workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventCreated,
		Source: "recovery", SourceEventID: "recover:" + d.ID, SourceTime: d.CreatedAt, Stage: d.Stage, Reason: "run restarted"},
		prevStage: d.Stage})
	if err != nil {
		return err
	}
	opts := runOptions(d, d.Stage, false)
	sctx, cancel = context.WithTimeout(ctx, SignalTimeout)
	defer cancel()
	_, err = s.Temporal.SignalWithStartWorkflow(sctx, opts.ID, workflows.EventSignal, ev, opts, workflows.DealWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return s.closedRun(ctx, d, ev)
	}
	if err != nil {
		return signalFailed(d, ev, err)
	}
	return nil
}

// closedRun refuses ev: the deal's workflow has completed (the reuse policy restarts only a
// failed run), though PostgreSQL may not say the deal is closed yet.
func (s *Service) closedRun(ctx context.Context, d store.Deal, ev workflows.Event) error {
	if ev.InboundEventID != 0 {
		_ = s.Store.SetEventOutcome(ctx, ev.InboundEventID, store.EventRefused, "deal workflow is closed; reopen the deal to continue")
	}
	return fmt.Errorf("deal %s: its workflow has completed: %w", d.ID, ErrDealClosed)
}

// signalFailed is the error of a delivery of a recorded event that failed: a *PendingError
// when Temporal did not answer (the sweeper delivers the event), else a fault.
func signalFailed(d store.Deal, ev workflows.Event, err error) error {
	if temporalDown(err) {
		return &PendingError{DealID: d.ID, EventID: ev.InboundEventID, Err: err}
	}
	return fmt.Errorf("deal %s and the event are recorded but could not be signalled (retry the same request; it is deduplicated): %w", d.ID, err)
}

// runStart says how a new run of a deal begins.
type runStart struct {
	event      workflows.Event // the run's first event: the create, a reopen's move, or a recovery
	prevStage  string          // the stage the deal was in before (recovery, reopen); empty for a create
	prevVisit  *int            // the stage-visit counter, read under the reopen's lock; nil: read now
	importDeal bool            // DealInput.Import: the create of an imported deal
	reopen     bool            // a reopen: a new run after a completed one, on purpose
	delivered  bool            // the event was delivered before (a retry): an open run is not told again
}

// startInput is the one builder of a new run's input, for a create, a recovery and a
// reopen: the stage-visit counter continues from PostgreSQL, so ledger and task keys never
// collide, and the run starts held by the owner and pipeline pauses that hold the deal.
func (s *Service) startInput(ctx context.Context, d store.Deal, rs runStart) (workflows.DealInput, error) {
	var prevVisit int
	if rs.prevVisit != nil {
		prevVisit = *rs.prevVisit
	} else {
		v, err := s.Store.LastVisit(ctx, d.ID)
		if err != nil {
			return workflows.DealInput{}, err
		}
		prevVisit = v
	}
	// Read after the deal's row is committed: an owner or pipeline pause recorded later
	// lists this deal when it tells every open deal, so none starts unpaused by mistake.
	pauses, err := s.startPauses(ctx, d.ID)
	if err != nil {
		return workflows.DealInput{}, err
	}
	return workflows.DealInput{
		Version: workflows.InputVersion, DealID: d.ID, OwnerID: d.OwnerID,
		Cadence: workflows.CadenceRef{Version: d.CadenceVersion, Hash: d.CadenceHash},
		Start:   rs.event, PrevStage: rs.prevStage, PrevVisit: prevVisit, PrevRevision: d.Revision,
		Pauses: pauses, Import: rs.importDeal,
	}, nil
}

// runOptions are the start options of a deal's run in stage. A completed run (a closed
// deal) is restarted only by a reopen; a failed one may be by any start.
func runOptions(d store.Deal, stage string, reopen bool) client.StartWorkflowOptions {
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	if reopen {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	return client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(d.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    reuse,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.DealStageKey.ValueSet(stage),
			workflows.DealOwnerKey.ValueSet(d.OwnerID),
			workflows.CadenceVersionKey.ValueSet(d.CadenceVersion),
		),
	}
}

// startRun is the one way the front door starts a run with its first event in the input
// (a create, a reopen): nothing is signalled beside it. When a run is open already (a
// second create for the deal, or a retry of one whose start Temporal did accept), the event
// is delivered to that run as a signal instead, and the run decides (a create converges).
// A reopen waits for the closing run to finish, then starts the new one.
func (s *Service) startRun(ctx context.Context, d store.Deal, rs runStart) (client.WorkflowRun, error) {
	in, err := s.startInput(ctx, d, rs)
	if err != nil {
		return nil, err
	}
	opts := runOptions(d, rs.event.Stage, rs.reopen)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	// Without this the SDK hands back the open run as if it were new.
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	start := func() (client.WorkflowRun, error) {
		if rs.reopen {
			// Nothing waits for a sweeper here: a reopen answers once its run started, or
			// fails (503 while Temporal does not answer) and is sent again.
			return s.Temporal.ExecuteWorkflow(ctx, opts, workflows.DealWorkflow, in)
		}
		sctx, cancel := context.WithTimeout(ctx, SignalTimeout)
		defer cancel()
		return s.Temporal.ExecuteWorkflow(sctx, opts, workflows.DealWorkflow, in)
	}
	run, err := start()
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) && rs.reopen {
		// PostgreSQL marks a deal closed just before its run completes; wait for that run
		// to finish, then start the new one.
		if werr := s.waitForRunToEnd(ctx, opts.ID); werr != nil {
			return nil, fmt.Errorf("reopen deal %s: its closing run has not finished: %w", d.ID, werr)
		}
		run, err = start()
	} else if errors.As(err, &started) {
		if !rs.delivered {
			if err := s.signalWithStart(ctx, d, rs.event); err != nil {
				return nil, err
			}
		}
		return s.Temporal.GetWorkflow(ctx, opts.ID, started.RunId), nil
	}
	if err != nil && !rs.reopen {
		return nil, signalFailed(d, rs.event, err)
	}
	return run, err
}

// StageRequest moves a deal to a stage.
type StageRequest struct {
	Deal       string    `json:"deal"` // internal id, or source:external-id
	Stage      string    `json:"stage"`
	Source     string    `json:"source"`
	EventID    string    `json:"event_id"`             // the source's id of this change; a repeat is a duplicate
	SourceTime time.Time `json:"source_time,omitzero"` // when it happened at the source; default now
	Reason     string    `json:"reason,omitempty"`
}

// StageResponse says what happened to the event.
type StageResponse struct {
	DealID  string `json:"deal_id"`
	EventID int64  `json:"event_id"`
	// State: signalled; received when Temporal did not answer (with a *PendingError: the
	// sweeper delivers it); or the recorded state of a duplicate.
	State     store.EventState `json:"state"`
	Duplicate bool             `json:"duplicate"`
	Message   string           `json:"message,omitempty"` // PendingMessage, in state received
}

// ChangeStage records a stage event and signals the deal. The ordering rules (duplicates,
// older events, earlier stages) are applied by the workflow, which records each outcome.
func (s *Service) ChangeStage(ctx context.Context, r StageRequest) (StageResponse, error) {
	var p problems
	checkToken(&p, "source", r.Source)
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("%s-%d", r.Stage, s.now().UnixNano())
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "reason", r.Reason, 500)
	if r.Stage == "" {
		p.add("stage is required")
	}
	if r.Deal == "" {
		p.add("deal is required")
	}
	if err := p.err(); err != nil {
		return StageResponse{}, err
	}
	if r.SourceTime.IsZero() {
		r.SourceTime = s.now()
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return StageResponse{}, err
	}
	cv, err := s.Store.Cadence(ctx, d.CadenceVersion)
	if err != nil {
		return StageResponse{}, err
	}
	if _, ok := cv.Pipeline.Stage(r.Stage); !ok {
		return StageResponse{}, fmt.Errorf("stage %q is not in pipeline %s (stages: %s): %w",
			r.Stage, cv.Pipeline.ID, strings.Join(cv.Pipeline.StageIDs(), ", "), ErrUnknownStage)
	}
	if _, _, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, store.KindStageChanged, func(payload []byte) bool {
		var prev StageRequest
		return json.Unmarshal(payload, &prev) == nil && prev.Stage == r.Stage
	}); err != nil {
		return StageResponse{}, err
	}
	payload, _ := json.Marshal(r)
	resp, err := s.deliver(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventStageChanged, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: r.SourceTime, Stage: r.Stage, Reason: r.Reason,
	})
	return StageResponse{DealID: resp.DealID, EventID: resp.EventID, State: resp.State, Duplicate: resp.Duplicate, Message: resp.Message}, err
}

// ReopenRequest reopens a closed deal into a stage.
type ReopenRequest struct {
	Deal    string `json:"deal"`
	Stage   string `json:"stage"` // default: the pipeline's initial stage
	Source  string `json:"source"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason,omitempty"`
}

// ReopenResponse says which run now carries the deal.
type ReopenResponse struct {
	DealID string `json:"deal_id"`
	RunID  string `json:"run_id"`
	Stage  string `json:"stage"`
	Visit  int    `json:"visit"`
}

// Reopen starts a new run for a closed deal on purpose: the one call that allows a
// duplicate workflow id. The visit counter comes from PostgreSQL so ledger keys never collide.
func (s *Service) Reopen(ctx context.Context, r ReopenRequest) (ReopenResponse, error) {
	var p problems
	checkToken(&p, "source", r.Source)
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("reopen-%d", s.now().UnixNano())
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "reason", r.Reason, 500)
	if err := p.err(); err != nil {
		return ReopenResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return ReopenResponse{}, err
	}
	cv, err := s.Store.Cadence(ctx, d.CadenceVersion)
	if err != nil {
		return ReopenResponse{}, err
	}
	if r.Stage == "" {
		r.Stage = cv.Pipeline.Initial
	}
	stage, ok := cv.Pipeline.Stage(r.Stage)
	if !ok {
		return ReopenResponse{}, fmt.Errorf("stage %q is not in pipeline %s: %w", r.Stage, cv.Pipeline.ID, ErrUnknownStage)
	}
	if stage.Terminal {
		return ReopenResponse{}, &ValidationError{Problems: []string{fmt.Sprintf("cannot reopen into %s: it is a closing stage", r.Stage)}}
	}
	if r.Reason == "" {
		r.Reason = "deal reopened"
	}
	now := s.now()
	payload, _ := json.Marshal(r)
	claim, err := s.Store.BeginReopen(ctx, d.ID, r.Source, r.EventID, now, payload)
	if err != nil {
		return ReopenResponse{}, err
	}
	// Started outside any transaction: the claim (the deal still closed, the reopen event
	// received) keeps a second reopen out meanwhile; if the process stops before the run
	// starts, the same request again continues it (the sweeper refuses it after a while).
	d = claim.Deal
	run, err := s.startRun(ctx, d, runStart{event: workflows.Event{Version: workflows.EventVersion, Kind: workflows.EventStageChanged,
		Source: r.Source, SourceEventID: r.EventID, SourceTime: now, InboundEventID: claim.EventID, Stage: r.Stage, Reason: r.Reason},
		prevStage: d.Stage, prevVisit: &claim.PrevVisit, reopen: true})
	if err != nil {
		// A reopen whose run did not start writes nothing: its claim goes, the deal stays
		// closed, and the same request may be sent again.
		if derr := s.Store.DropReopen(ctx, claim.EventID); derr != nil {
			err = errors.Join(err, derr)
		}
		return ReopenResponse{}, fmt.Errorf("start reopened deal %s: %w", d.ID, err)
	}
	if err := s.Store.FinishReopen(ctx, d.ID, claim.EventID); err != nil {
		return ReopenResponse{}, err
	}
	return ReopenResponse{DealID: d.ID, Stage: r.Stage, RunID: run.GetRunID(), Visit: claim.PrevVisit + 1}, nil
}

// closingRunWait bounds how long a reopen waits for the closed deal's last run to complete.
const closingRunWait = 15 * time.Second

func (s *Service) waitForRunToEnd(ctx context.Context, workflowID string) error {
	ctx, cancel := context.WithTimeout(ctx, closingRunWait)
	defer cancel()
	err := s.Temporal.GetWorkflow(ctx, workflowID, "").Get(ctx, nil)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // the old run's own outcome does not matter, only that it ended
	return nil
}

// Resolve finds a deal by internal id or by "source:external-id".
func (s *Service) Resolve(ctx context.Context, ref string) (store.Deal, error) {
	if uuidPattern.MatchString(ref) {
		return s.Store.DealByID(ctx, strings.ToLower(ref))
	}
	source, ext, ok := strings.Cut(ref, ":")
	if !ok || source == "" || ext == "" {
		return store.Deal{}, &ValidationError{Problems: []string{fmt.Sprintf("deal %q: want a deal id or source:external-id", ref)}}
	}
	return s.Store.DealByExternalID(ctx, source, ext)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Details is a deal as `deal show` presents it: PostgreSQL's timeline, plus the workflow's
// live answer when a worker responds.
type Details struct {
	Timeline store.Timeline  `json:"timeline"`
	Live     *workflows.View `json:"live,omitempty"`
	LiveErr  string          `json:"live_error,omitempty"`
}

// Show reads a deal's timeline and, for open deals and a positive queryTimeout, queries its
// workflow for the live view.
func (s *Service) Show(ctx context.Context, ref string, queryTimeout time.Duration) (Details, error) {
	d, err := s.Resolve(ctx, ref)
	if err != nil {
		return Details{}, err
	}
	tl, err := s.Store.DealTimeline(ctx, d.ID)
	if err != nil {
		return Details{}, err
	}
	out := Details{Timeline: tl}
	if d.Closed() || s.Temporal == nil || queryTimeout <= 0 {
		return out, nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	val, err := s.Temporal.QueryWorkflow(qctx, workflows.WorkflowID(d.ID), "", workflows.StateQuery)
	if err != nil {
		out.LiveErr = "no live answer from the deal workflow (is a worker running?): " + err.Error()
		return out, nil
	}
	var v workflows.View
	if err := val.Get(&v); err != nil {
		out.LiveErr = err.Error()
		return out, nil
	}
	out.Live = &v
	return out, nil
}
