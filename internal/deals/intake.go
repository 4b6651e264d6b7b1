package deals

import (
	"context"

	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// The intake: every inbound event comes in one way, whether a verb (the CLI, the HTTP API)
// sends it or the sweeper sends a recorded row again. Per kind, the table below names the
// request its verb takes, which is also what its row records as payload; the request's send
// is the verb itself (validate, previous-event check, record, deliver, mark), so the sweeper
// runs exactly the request path, and a new source (the mailbox, a CRM) that records one of
// these kinds is swept with no further code. A new kind is one entry here and its verb.
//
// Kinds without an entry are not requests sent again as they are: a migration (resent from
// its versions, resendMigration), an owner's or pipeline's pause (resendScope, under the
// scope's lock) and a reopen (a person's decision: refused).

// intake is the one way an event for an existing deal comes in, after its verb validated it
// and made the previous-event check: it records the event (record; by default
// Store.RecordStageEvent, refused for a closed deal), then, unless an earlier copy was
// signalled or decided already, delivers ev to the deal's workflow (signalled, or started
// from the deal's row when no run is open) and marks it signalled. When Temporal does not
// answer, the event stays received and the answer is pending (*PendingError); o, if given,
// leaves it so without trying once an earlier delivery of the call found Temporal down.
// told says whether this call delivered the event.
func (s *Service) intake(ctx context.Context, d store.Deal, payload []byte, ev workflows.Event, o *outage,
	record func(context.Context) (store.InboundEvent, error)) (resp EventResponse, told bool, err error) {
	if record == nil {
		record = func(ctx context.Context) (store.InboundEvent, error) {
			return s.Store.RecordStageEvent(ctx, store.StageEvent{Kind: ev.Kind, DealID: d.ID, Source: ev.Source,
				EventID: ev.SourceEventID, SourceTime: ev.SourceTime, Payload: payload})
		}
	}
	rec, err := record(ctx)
	resp = EventResponse{DealID: d.ID, EventID: rec.ID, State: rec.State, Reason: rec.Reason, Duplicate: !rec.Inserted}
	if err != nil {
		return resp, false, err
	}
	if rec.State != store.EventReceived {
		return resp, false, nil // already signalled (or decided): a retry converges
	}
	// Receipt order breaks ties between events of one source with the same source time.
	ev.Sequence, ev.InboundEventID = rec.ID, rec.ID
	if err := s.signalUnlessDown(ctx, d, ev, o); err != nil {
		return resp.pending(err), false, err
	}
	if err := s.Store.MarkEventSignalled(ctx, rec.ID); err != nil {
		return resp, true, err
	}
	resp.State, resp.Reason = store.EventSignalled, ""
	return resp, true, nil
}

// deliver is intake for a verb's own event, recorded by Store.RecordStageEvent.
func (s *Service) deliver(ctx context.Context, d store.Deal, payload []byte, ev workflows.Event) (EventResponse, error) {
	resp, _, err := s.intake(ctx, d, payload, ev, nil, nil)
	return resp, err
}

// request is an inbound event's request as its verb takes it and its row records it.
type request interface {
	// key is the (source, event id) the request records its event under.
	key() (source, eventID string)
	// forDeal names the deal the request is for (the row's deal, when swept).
	forDeal(dealID string)
	// send runs the request through its verb and says the state its event is in.
	send(ctx context.Context, s *Service) (store.EventState, error)
}

// intakeKinds is the per-kind table: the request a kind's payload decodes into.
var intakeKinds = map[store.EventKind]func() request{
	store.KindCreated:      func() request { return &CreateRequest{} },
	store.KindStageChanged: func() request { return &StageRequest{} },
	store.KindEngaged:      func() request { return &EngageRequest{} },
	store.KindTaskClosed:   func() request { return &TaskRequest{} },
	store.KindTaskSnoozed:  func() request { return &SnoozeRequest{} },
	store.KindPaused:       func() request { return &PauseRequest{} },
	store.KindResumed:      func() request { return &ResumeRequest{} },
	store.KindOwnerChanged: func() request { return &OwnerChangedRequest{} },
}

func (r *CreateRequest) key() (string, string) { return r.Source, r.EventID }
func (r *CreateRequest) forDeal(string)        {} // a create names its deal by external id
func (r *CreateRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.Create(ctx, *r)
	return resp.State, err
}

func (r *StageRequest) key() (string, string) { return r.Source, r.EventID }
func (r *StageRequest) forDeal(id string)     { r.Deal = id }
func (r *StageRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.ChangeStage(ctx, *r)
	return resp.State, err
}

func (r *EngageRequest) key() (string, string) { return r.Source, r.EventID }
func (r *EngageRequest) forDeal(id string)     { r.Deal = id }
func (r *EngageRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.Engage(ctx, *r)
	return resp.State, err
}

func (r *TaskRequest) key() (string, string) { return r.Source, r.EventID }
func (r *TaskRequest) forDeal(id string)     { r.Deal = id }
func (r *TaskRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.CloseTask(ctx, *r)
	return resp.State, err
}

func (r *SnoozeRequest) key() (string, string) { return r.Source, r.EventID }
func (r *SnoozeRequest) forDeal(id string)     { r.Deal = id }
func (r *SnoozeRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.SnoozeTask(ctx, *r)
	return resp.State, err
}

func (r *PauseRequest) key() (string, string) { return r.Source, r.EventID }
func (r *PauseRequest) forDeal(id string)     { r.Deal = id }
func (r *PauseRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.PauseDeal(ctx, *r)
	return resp.State, err
}

func (r *ResumeRequest) key() (string, string) { return r.Source, r.EventID }
func (r *ResumeRequest) forDeal(id string)     { r.Deal = id }
func (r *ResumeRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.ResumeDeal(ctx, *r)
	return resp.State, err
}

func (r *OwnerChangedRequest) key() (string, string) { return r.Source, r.EventID }
func (r *OwnerChangedRequest) forDeal(id string)     { r.Deal = id }
func (r *OwnerChangedRequest) send(ctx context.Context, s *Service) (store.EventState, error) {
	resp, err := s.ChangeOwner(ctx, *r)
	return resp.State, err
}
