package deals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// EventResponse says what became of an inbound event for a deal.
type EventResponse struct {
	DealID  string `json:"deal_id"`
	EventID int64  `json:"event_id"`
	// State: signalled; received when Temporal did not answer (with a *PendingError: the
	// sweeper delivers it); or the recorded state of a duplicate or of an event settled here.
	State     store.EventState `json:"state"`
	Reason    string           `json:"reason,omitempty"`
	Duplicate bool             `json:"duplicate"`
	Message   string           `json:"message,omitempty"` // PendingMessage, in state received
	// Suppressed: a bounce or unsubscribe whose suppression is committed (by this request or
	// an earlier one); sends to the contact or address stop from now on.
	Suppressed bool  `json:"suppressed,omitempty"`
	TaskID     int64 `json:"task_id,omitempty"`
	// Until: a pause's end, or a snoozed task's new due date as asked (the deal moves it into
	// the owner's business hours).
	Until time.Time `json:"until,omitzero"`
}

// EngageRequest reports something the prospect did.
type EngageRequest struct {
	Deal       string             `json:"deal"` // internal id, or source:external-id
	Kind       cadence.Engagement `json:"kind"`
	Source     string             `json:"source"`
	EventID    string             `json:"event_id"`             // the source's id of this engagement; a repeat is a duplicate
	SourceTime time.Time          `json:"source_time,omitzero"` // when it happened at the source; default now
	// ReturnAt (out_of_office only): when the prospect is back, if known.
	ReturnAt time.Time `json:"return_at,omitzero"`
	// ReturnOn (out_of_office only) is the same as a date, YYYY-MM-DD: the start of that day in
	// the contact's zone (else the pipeline calendar's, else UTC). Give one of the two.
	ReturnOn string `json:"return_on,omitempty"`
	// Address (bounce, unsubscribe): the address concerned. A bounce suppresses it (default:
	// the contact's email); an unsubscribe suppresses the contact and, when given, it too.
	Address string `json:"address,omitempty"`
	// Detail (the bounce message, say) stays in PostgreSQL: it is never sent to the workflow,
	// whose history must hold no personal data.
	Detail string `json:"detail,omitempty"`
	// Complaint (unsubscribe only): the prospect reported an email as spam (an RFC 5965
	// abuse report); the suppression's reason is complaint.
	Complaint bool `json:"complaint,omitempty"`
	// Answers names the email of this deal the engagement answers or reports on (its ledger
	// key), when known: the mailbox intake sets it from In-Reply-To, so a reply is counted on
	// the step it answered.
	Answers *store.LedgerKey `json:"answers,omitempty"`
}

// EngagementKinds lists the engagement kinds, for messages: "reply, click, …".
func EngagementKinds() string {
	ks := cadence.Engagements()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// suppresses says which suppression an engagement records: a bounce blocks the address, an
// unsubscribe (or a complaint) the contact.
func suppresses(k cadence.Engagement, complaint bool) string {
	switch k {
	case cadence.EngagedBounce:
		return "bounce"
	case cadence.EngagedUnsubscribe:
		if complaint {
			return "complaint"
		}
		return "unsubscribe"
	}
	return ""
}

// Engage records an engagement and signals the deal, whose exit rules decide what it means.
// A bounce or an unsubscribe is suppressed in PostgreSQL, committed with the event before the
// workflow hears of it, and even for a closed deal: suppression always wins.
func (s *Service) Engage(ctx context.Context, r EngageRequest) (EventResponse, error) {
	var p problems
	if r.Deal == "" {
		p.add("deal is required")
	}
	valid := r.Kind.Valid()
	if !valid {
		p.add("kind %q: want one of %s", r.Kind, EngagementKinds())
	}
	checkToken(&p, "source", r.Source)
	if r.EventID == "" && valid {
		r.EventID = fmt.Sprintf("%s-%d", r.Kind, s.now().UnixNano())
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "detail", r.Detail, 1000)
	if r.SourceTime.IsZero() {
		r.SourceTime = s.now()
	}
	oof := r.Kind == cadence.EngagedOutOfOffice
	if r.ReturnOn != "" {
		switch {
		case valid && !oof:
			p.add("return_on applies only to out_of_office, not to %s", r.Kind)
		case !r.ReturnAt.IsZero():
			p.add("give return_at or return_on, not both")
		default:
			if _, err := time.Parse(time.DateOnly, r.ReturnOn); err != nil {
				p.add("return_on %q: want a date like 2026-12-01", r.ReturnOn)
			}
		}
	}
	if !r.ReturnAt.IsZero() {
		switch {
		case valid && !oof:
			p.add("return_at applies only to out_of_office, not to %s", r.Kind)
		case !r.ReturnAt.After(r.SourceTime):
			p.add("return_at %s is not after the source time %s", r.ReturnAt.Format(time.RFC3339), r.SourceTime.Format(time.RFC3339))
		}
	}
	if r.Address != "" {
		if valid && suppresses(r.Kind, false) == "" {
			p.add("address applies only to bounce and unsubscribe, not to %s", r.Kind)
		} else {
			checkEmail(&p, "address", r.Address)
		}
	}
	if r.Complaint && valid && r.Kind != cadence.EngagedUnsubscribe {
		p.add("complaint applies only to unsubscribe, not to %s", r.Kind)
	}
	if a := r.Answers; a != nil {
		checkToken(&p, "answers.step_id", a.StepID)
		if a.Visit < 1 || a.Occurrence < 1 {
			p.add("answers: want visit and occurrence from 1")
		}
	}
	if err := p.err(); err != nil {
		return EventResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	if r.Answers != nil && r.Answers.DealID != d.ID {
		return EventResponse{}, &ValidationError{Problems: []string{fmt.Sprintf("answers names an email of deal %s, not of %s", r.Answers.DealID, d.ID)}}
	}
	if r.ReturnOn != "" {
		loc, err := s.dealLocation(ctx, d, contactZone) // a date the prospect gives
		if err != nil {
			return EventResponse{}, err
		}
		at, _ := time.ParseInLocation(time.DateOnly, r.ReturnOn, loc)
		if !at.After(r.SourceTime) {
			return EventResponse{}, &ValidationError{Problems: []string{fmt.Sprintf("return_on %s (%s in %s) is not after the source time %s",
				r.ReturnOn, at.Format(time.RFC3339), loc, r.SourceTime.Format(time.RFC3339))}}
		}
		// Recorded resolved, as an instant alone: sent again (the sweeper), the request means
		// the same instant and gives one form, not both.
		r.ReturnAt, r.ReturnOn = at, ""
	}
	if _, _, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, store.KindEngaged, func(payload []byte) bool {
		var prev EngageRequest
		return json.Unmarshal(payload, &prev) == nil && prev.Kind == r.Kind && prev.Complaint == r.Complaint
	}); err != nil {
		return EventResponse{}, err
	}
	payload, _ := json.Marshal(r)
	// Recorded with its suppression, committed before the workflow hears of it.
	var rec store.RecordedEngagement
	resp, _, err := s.intake(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventEngaged, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: r.SourceTime, Engagement: r.Kind, ReturnAt: r.ReturnAt,
	}, nil, func(ctx context.Context) (store.InboundEvent, error) {
		var err error
		rec, err = s.Store.RecordEngagement(ctx, store.EngagementEvent{
			DealID: d.ID, Source: r.Source, EventID: r.EventID, SourceTime: r.SourceTime, Payload: payload,
			Suppress: suppresses(r.Kind, r.Complaint), Address: r.Address, Detail: r.Detail,
		})
		return rec.Event, err
	})
	resp.Suppressed = rec.Suppressed
	if err != nil && rec.Suppressed && errors.Is(err, ErrDealClosed) {
		// The workflow has completed meanwhile; the suppression, the part that matters for a
		// closed deal, is committed. (A closed deal's suppression is recorded applied, and
		// not signalled; only a run that completed since answers so.)
		resp.State, resp.Reason, resp.Message = store.EventRefused, "deal workflow is closed; "+store.ReasonClosedSuppressed, ""
		return resp, nil
	}
	return resp, err
}

// previousEvent looks up the event the source recorded under eventID. A retry of the same
// request (same deal, kind and payload, as same says) finds it (found); an event id already
// used for a different request is refused with a *store.EventIDTakenError naming the event
// that holds it (ErrEventIDTaken), rather than answered as that request's duplicate. Every
// kind follows this rule; the store refuses another deal or kind again when it records.
func (s *Service) previousEvent(ctx context.Context, dealID, source, eventID string, kind store.EventKind,
	same func(payload []byte) bool) (store.InboundEventRecord, bool, error) {
	prev, err := s.Store.InboundEventByKey(ctx, source, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return store.InboundEventRecord{}, false, nil
	}
	if err != nil {
		return store.InboundEventRecord{}, false, err
	}
	if prev.DealID != dealID || prev.Kind != kind || !same(prev.Payload) {
		return prev, true, &store.EventIDTakenError{Source: source, EventID: eventID, Holder: prev}
	}
	return prev, true, nil
}

// TaskRequest closes a task of a deal: the owner did it, or skipped it.
type TaskRequest struct {
	Deal    string `json:"deal"` // internal id, or source:external-id
	TaskID  int64  `json:"task_id"`
	Outcome string `json:"outcome"` // workflows.TaskDone or workflows.TaskSkipped
	Source  string `json:"source"`
	// EventID defaults to task-<id>-<outcome>: closing the same task the same way twice is
	// one event.
	EventID string `json:"event_id"`
	Note    string `json:"note,omitempty"` // becomes the task's close reason
}

// CloseTask checks that the task is an open task of the deal, records the event and signals
// the deal. The workflow, the single writer of task state, marks the task a moment later and
// unblocks what waits on it; the answer says the request was accepted.
func (s *Service) CloseTask(ctx context.Context, r TaskRequest) (EventResponse, error) {
	var p problems
	if r.Deal == "" {
		p.add("deal is required")
	}
	if r.TaskID <= 0 {
		p.add("task id %d: want a positive task id (deal show lists them)", r.TaskID)
	}
	outcomeOK := r.Outcome == workflows.TaskDone || r.Outcome == workflows.TaskSkipped
	if !outcomeOK {
		p.add("outcome %q: want %s or %s", r.Outcome, workflows.TaskDone, workflows.TaskSkipped)
	}
	checkToken(&p, "source", r.Source)
	if r.EventID == "" && r.TaskID > 0 && outcomeOK {
		r.EventID = fmt.Sprintf("task-%d-%s", r.TaskID, r.Outcome)
	}
	checkToken(&p, "event id", r.EventID)
	checkText(&p, "note", r.Note, 500)
	if err := p.err(); err != nil {
		return EventResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	_, retry, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, store.KindTaskClosed, func(payload []byte) bool {
		var prev TaskRequest
		return json.Unmarshal(payload, &prev) == nil && prev.TaskID == r.TaskID && prev.Outcome == r.Outcome
	})
	if err != nil {
		return EventResponse{}, err
	}
	if !retry {
		// A retry skips this: the task it closed may be closed by now, and the retry
		// converges on the recorded event instead.
		t, err := s.taskOf(ctx, d, r.TaskID)
		if err == nil {
			err = checkOpen(d, t)
		}
		if err != nil {
			return EventResponse{}, err
		}
	}
	payload, _ := json.Marshal(r)
	resp, err := s.deliver(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventTaskClosed, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: s.now(), TaskID: r.TaskID, TaskOutcome: r.Outcome, Reason: r.Note,
	})
	resp.TaskID = r.TaskID
	return resp, err
}

// taskOf reads a task of the deal: ErrNotFound when there is none or it is another deal's
// (task ids are global).
func (s *Service) taskOf(ctx context.Context, d store.Deal, taskID int64) (store.Task, error) {
	t, err := s.Store.TaskByID(ctx, taskID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.DealID != d.ID) {
		return store.Task{}, fmt.Errorf("task %d of deal %s: %w", taskID, d.ID, ErrNotFound)
	}
	return t, err
}

// checkOpen refuses a task that is done, skipped or cancelled already (ErrTaskNotOpen).
func checkOpen(d store.Deal, t store.Task) error {
	if t.State != "open" {
		return fmt.Errorf("task %d of deal %s is %s already: %w", t.ID, d.ID, t.State, ErrTaskNotOpen)
	}
	return nil
}

// pending is resp as a call that failed with err answers: in state received, with
// PendingMessage, when err is a *PendingError.
func (r EventResponse) pending(err error) EventResponse {
	if errors.Is(err, ErrDeliveryPending) {
		r.State, r.Reason, r.Message = store.EventReceived, "", PendingMessage
	}
	return r
}
