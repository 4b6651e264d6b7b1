package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/preview"
	"github.com/followup-engine/followup/internal/store"
)

// createDeal creates a deal, or converges on the one its external id names: 201 when
// created, 200 when it already existed, 202 (state received) when it is recorded but Temporal
// does not answer.
func (s *Server) createDeal(w http.ResponseWriter, r *http.Request) error {
	var req deals.CreateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Source == "" {
		req.Source = "api"
	}
	resp, err := s.Deals.Create(r.Context(), req)
	if errors.Is(err, deals.ErrDeliveryPending) {
		// Recorded: the deal can be read while its workflow waits for Temporal.
		w.Header().Set("Location", "/api/deals/"+resp.DealID)
	}
	if err != nil {
		return answered(resp, err)
	}
	status := http.StatusOK
	if resp.Created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/api/deals/"+resp.DealID)
	writeJSON(w, status, resp)
	return nil
}

// stageBody is the body of a stage change; the deal comes from the path.
type stageBody struct {
	Stage      string    `json:"stage"`
	Source     string    `json:"source"`
	EventID    string    `json:"event_id"`
	SourceTime time.Time `json:"source_time,omitzero"`
	Reason     string    `json:"reason,omitempty"`
}

// changeStage records the event and signals the deal: 202, since the workflow applies it
// (or records why not) asynchronously; a repeated event id answers 200 with its state, or
// 202 again while it waits in received for Temporal.
func (s *Server) changeStage(w http.ResponseWriter, r *http.Request) error {
	var body stageBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	if err := requireEventID(body.EventID, "the source's id of this change"); err != nil {
		return err
	}
	resp, err := s.Deals.ChangeStage(r.Context(), deals.StageRequest{
		Deal: r.PathValue("deal"), Stage: body.Stage, Source: body.Source, EventID: body.EventID,
		SourceTime: body.SourceTime, Reason: body.Reason,
	})
	if err != nil {
		return answered(resp, err)
	}
	status := http.StatusAccepted
	if resp.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
	return nil
}

// engageBody is the body of an engagement; the deal comes from the path.
type engageBody struct {
	Kind       cadence.Engagement `json:"kind"`
	Source     string             `json:"source"`
	EventID    string             `json:"event_id"`
	SourceTime time.Time          `json:"source_time,omitzero"`
	ReturnAt   time.Time          `json:"return_at,omitzero"`
	ReturnOn   string             `json:"return_on,omitempty"`
	Address    string             `json:"address,omitempty"`
	Detail     string             `json:"detail,omitempty"`
	Complaint  bool               `json:"complaint,omitempty"`
}

// engage records what the prospect did and signals the deal: 202 once signalled; 200 for a
// repeated event id (with its state) and for a bounce or unsubscribe of a closed deal, which
// is settled by its suppression alone.
func (s *Server) engage(w http.ResponseWriter, r *http.Request) error {
	var body engageBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	if err := requireEventID(body.EventID, "the source's id of this engagement"); err != nil {
		return err
	}
	resp, err := s.Deals.Engage(r.Context(), deals.EngageRequest{
		Deal: r.PathValue("deal"), Kind: body.Kind, Source: body.Source, EventID: body.EventID, SourceTime: body.SourceTime,
		ReturnAt: body.ReturnAt, ReturnOn: body.ReturnOn, Address: body.Address, Detail: body.Detail, Complaint: body.Complaint,
	})
	if err != nil {
		return answered(resp, err)
	}
	writeJSON(w, eventStatus(resp), resp)
	return nil
}

// taskBody is the (optional) body of a task completion.
type taskBody struct {
	Source  string `json:"source"`
	EventID string `json:"event_id"` // default task-<id>-<outcome>
	Note    string `json:"note,omitempty"`
}

// closeTask asks the deal to mark a task done or skipped: 202 once signalled (the workflow
// records the new state a moment later), 200 for a repeat.
func (s *Server) closeTask(outcome string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body taskBody
		if err := decodeOptional(w, r, &body); err != nil {
			return err
		}
		body.Source = apiSource(body.Source)
		id, err := taskIDOf(r)
		if err != nil {
			return err
		}
		resp, err := s.Deals.CloseTask(r.Context(), deals.TaskRequest{
			Deal: r.PathValue("deal"), TaskID: id, Outcome: outcome, Source: body.Source, EventID: body.EventID, Note: body.Note,
		})
		if err != nil {
			return answered(resp, err)
		}
		writeJSON(w, eventStatus(resp), resp)
		return nil
	}
}

// eventStatus is 202 for an event this request handed to the workflow, 200 otherwise.
func eventStatus(resp deals.EventResponse) int {
	if resp.State == "signalled" && !resp.Duplicate {
		return http.StatusAccepted
	}
	return http.StatusOK
}

type reopenBody struct {
	Stage   string `json:"stage,omitempty"`
	Source  string `json:"source"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) reopen(w http.ResponseWriter, r *http.Request) error {
	var body reopenBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	resp, err := s.Deals.Reopen(r.Context(), deals.ReopenRequest{Deal: r.PathValue("deal"), Stage: body.Stage,
		Source: body.Source, EventID: body.EventID, Reason: body.Reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// showDeal answers from PostgreSQL's projection, so it works when no worker runs.
func (s *Server) showDeal(w http.ResponseWriter, r *http.Request) error {
	det, err := s.Deals.Show(r.Context(), r.PathValue("deal"), 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, det.Timeline)
	return nil
}

// previewBody names a published cadence (a version, or a pipeline's latest) and the sample deal.
type previewBody struct {
	Version  *int64 `json:"version,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
	preview.Request
}

// previewCadence answers the exact timeline a deal would get, computed by the planner the
// workflow uses.
func (s *Server) previewCadence(w http.ResponseWriter, r *http.Request) error {
	var body previewBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	var (
		cv  store.CadenceVersion
		err error
	)
	switch {
	case body.Version != nil:
		cv, err = s.Deals.Store.Cadence(r.Context(), *body.Version)
	case body.Pipeline != "":
		cv, err = s.Deals.Store.LatestCadenceOf(r.Context(), body.Pipeline)
	default:
		return &deals.ValidationError{Problems: []string{"name a cadence: \"version\" or \"pipeline\""}}
	}
	if err != nil {
		return err
	}
	if body.Start.IsZero() {
		return &deals.ValidationError{Problems: []string{"start is required (RFC 3339)"}}
	}
	touches, err := preview.Timeline(cv.Pipeline, body.Request)
	if err != nil {
		return &deals.ValidationError{Problems: []string{err.Error()}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": cv.Version, "pipeline": cv.Pipeline.ID, "touches": touches})
	return nil
}

// apiSource is the source of a request that names none.
func apiSource(source string) string {
	if source == "" {
		return "api"
	}
	return source
}

// requireEventID insists on the caller's id of the event, so a retried request is recognised.
func requireEventID(id, what string) error {
	if id == "" {
		return &deals.ValidationError{Problems: []string{"event_id is required: " + what + ", so a retry is recognised"}}
	}
	return nil
}

// taskIDOf reads the {task} path value.
func taskIDOf(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &deals.ValidationError{Problems: []string{fmt.Sprintf("task %q: want a task id, a positive number", r.PathValue("task"))}}
	}
	return id, nil
}
