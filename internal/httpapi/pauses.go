package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/followup-engine/followup/internal/deals"
)

// pauseRoutes are the routes of pauses (a deal's, an owner's, a pipeline's), task snoozes
// and the global send switch, behind the same bearer token as every /api route.
func (s *Server) pauseRoutes() []route {
	return []route{
		{"POST /api/deals/{deal}/pause", false, "hold a deal's cadence, until resumed or until a time", s.pauseDeal},
		{"POST /api/deals/{deal}/resume", false, "lift a deal's own pause; each step gets the time it had left", s.resumeDeal},
		{"POST /api/deals/{deal}/tasks/{task}/snooze", false, "move an open task's due date (into the owner's business hours)", s.snoozeTask},
		{"POST /api/owners/{owner}/pause", false, "pause every open deal of an owner (a holiday); new ones start paused", s.pauseScope(s.Deals.PauseOwner, "owner")},
		{"POST /api/owners/{owner}/resume", false, "lift an owner's pause", s.resumeScope(s.Deals.ResumeOwner, "owner")},
		{"POST /api/owners/{owner}/handover", false, "move an owner's open deals and open tasks to another owner", s.handover},
		{"POST /api/pipelines/{id}/pause", false, "pause every open deal of a pipeline; new ones start paused", s.pauseScope(s.Deals.PausePipeline, "id")},
		{"POST /api/pipelines/{id}/resume", false, "lift a pipeline's pause", s.resumeScope(s.Deals.ResumePipeline, "id")},
		{"GET /api/sends", false, "the global send switch: held or not, why, since when, by whom", s.sendStatus},
		{"POST /api/sends/hold", false, "hold every email, whatever the deal", s.holdSends},
		{"POST /api/sends/release", false, "let emails go again", s.releaseSends},
	}
}

// pauseBody is the body of a deal pause; the deal comes from the path.
type pauseBody struct {
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Source  string    `json:"source"`
	EventID string    `json:"event_id"`
	Reason  string    `json:"reason,omitempty"`
}

// pauseDeal records a pause of the deal and signals it: 202 once signalled, 200 for a
// repeated event id.
func (s *Server) pauseDeal(w http.ResponseWriter, r *http.Request) error {
	var body pauseBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	if err := requireEventID(body.EventID, "the id of this pause"); err != nil {
		return err
	}
	resp, err := s.Deals.PauseDeal(r.Context(), deals.PauseRequest{Deal: r.PathValue("deal"), Until: body.Until, UntilOn: body.UntilOn,
		Source: body.Source, EventID: body.EventID, Reason: body.Reason})
	if err != nil {
		return answered(resp, err)
	}
	writeJSON(w, eventStatus(resp), resp)
	return nil
}

type resumeBody struct {
	Source  string `json:"source"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason,omitempty"`
}

// resumeDeal lifts the deal's own pause: 202 once signalled, 200 for a repeated event id.
func (s *Server) resumeDeal(w http.ResponseWriter, r *http.Request) error {
	var body resumeBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	if err := requireEventID(body.EventID, "the id of this resume"); err != nil {
		return err
	}
	resp, err := s.Deals.ResumeDeal(r.Context(), deals.ResumeRequest{Deal: r.PathValue("deal"), Source: body.Source,
		EventID: body.EventID, Reason: body.Reason})
	if err != nil {
		return answered(resp, err)
	}
	writeJSON(w, eventStatus(resp), resp)
	return nil
}

type snoozeBody struct {
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Source  string    `json:"source"`
	EventID string    `json:"event_id"` // default task-<id>-snooze-<until>
}

// snoozeTask asks the deal to move an open task's due date: 202 once signalled (the workflow
// writes the task row a moment later), 200 for a repeat.
func (s *Server) snoozeTask(w http.ResponseWriter, r *http.Request) error {
	var body snoozeBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	id, err := taskIDOf(r)
	if err != nil {
		return err
	}
	resp, err := s.Deals.SnoozeTask(r.Context(), deals.SnoozeRequest{Deal: r.PathValue("deal"), TaskID: id, Until: body.Until,
		UntilOn: body.UntilOn, Source: body.Source, EventID: body.EventID})
	if err != nil {
		return answered(resp, err)
	}
	writeJSON(w, eventStatus(resp), resp)
	return nil
}

// scopePauseBody is the (optional) body of an owner or pipeline pause.
type scopePauseBody struct {
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Source  string    `json:"source"`
}

type scopeResumeBody struct {
	Source string `json:"source"`
}

// partialBody answers a pause recorded whose deals were not all told.
type partialBody struct {
	Error string `json:"error"`
	deals.ScopeResponse
}

// writeScope answers an owner or pipeline pause or resume: 202 when it signalled deals, or
// recorded events for them that the sweeper delivers (Temporal did not answer: pending), 200
// when nothing was left to tell them (a retry, no open deals, not paused), and 503 with the
// counts when some deals could not be signalled for another reason: the pause (or its lift)
// is recorded, and the same request again tells the rest.
func (s *Server) writeScope(w http.ResponseWriter, r *http.Request, what string, resp deals.ScopeResponse, err error) error {
	if errors.Is(err, deals.ErrPartial) {
		s.Logger.Error("pause fan-out incomplete", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, partialBody{ScopeResponse: resp, Error: fmt.Sprintf(
			"%d of %d open deals could not be signalled; the %s is recorded: send the same request again to tell the rest",
			resp.Failed, resp.Deals, what)})
		return nil
	}
	if err != nil {
		return err
	}
	if resp.Pending > 0 {
		s.Logger.Warn("pause recorded; delivery pending until Temporal answers", "method", r.Method, "path", r.URL.Path,
			"pending", resp.Pending, "deals", resp.Deals)
	}
	status := http.StatusOK
	if resp.Signalled > 0 || resp.Pending > 0 {
		status = http.StatusAccepted
	}
	writeJSON(w, status, resp)
	return nil
}

func (s *Server) pauseScope(pause func(context.Context, deals.ScopePauseRequest) (deals.ScopeResponse, error),
	param string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body scopePauseBody
		if err := decodeOptional(w, r, &body); err != nil {
			return err
		}
		body.Source = apiSource(body.Source)
		resp, err := pause(r.Context(), deals.ScopePauseRequest{Target: r.PathValue(param), Until: body.Until, UntilOn: body.UntilOn,
			Reason: body.Reason, Source: body.Source})
		return s.writeScope(w, r, "pause", resp, err)
	}
}

func (s *Server) resumeScope(resume func(context.Context, deals.ScopeResumeRequest) (deals.ScopeResponse, error),
	param string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body scopeResumeBody
		if err := decodeOptional(w, r, &body); err != nil {
			return err
		}
		body.Source = apiSource(body.Source)
		resp, err := resume(r.Context(), deals.ScopeResumeRequest{Target: r.PathValue(param), Source: body.Source})
		return s.writeScope(w, r, "resume", resp, err)
	}
}

// sendStatus answers the global send switch.
func (s *Server) sendStatus(w http.ResponseWriter, r *http.Request) error {
	sw, err := s.Deals.SendStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sw)
	return nil
}

type sendsBody struct {
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"` // who flips the switch; default the authenticated actor
}

// holdSends holds every email: 200 with the switch, "changed" false when already held.
func (s *Server) holdSends(w http.ResponseWriter, r *http.Request) error {
	var body sendsBody
	if err := decodeOptional(w, r, &body); err != nil {
		return err
	}
	if body.By == "" {
		body.By = actorOr(r.Context(), "api")
	}
	resp, err := s.Deals.HoldSends(r.Context(), body.Reason, body.By)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// releaseSends lets emails go again: 200, "changed" false when they were not held.
func (s *Server) releaseSends(w http.ResponseWriter, r *http.Request) error {
	var body sendsBody
	if err := decodeOptional(w, r, &body); err != nil {
		return err
	}
	if body.Reason != "" {
		return &deals.ValidationError{Problems: []string{"reason applies to hold only"}}
	}
	if body.By == "" {
		body.By = actorOr(r.Context(), "api")
	}
	resp, err := s.Deals.ReleaseSends(r.Context(), body.By)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
