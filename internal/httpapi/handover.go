package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/followup-engine/followup/internal/deals"
)

// handoverBody is the body of an owner handover; the departing owner comes from the path.
type handoverBody struct {
	To       string `json:"to"`
	Pipeline string `json:"pipeline,omitempty"`
	Source   string `json:"source"`
}

// handoverPartial answers a handover whose deals were not all told.
type handoverPartial struct {
	Error string `json:"error"`
	deals.HandoverResponse
}

// handover moves the {owner}'s open deals (and their open tasks) to another owner, as
// writeScope answers an owner pause: 202 when it moved or signalled deals (or left events
// pending for the sweeper), 200 when nothing was left to do (a repeat, no open deals), 503
// with the counts when some deals could not be signalled: the moves are recorded, and the
// same request again tells the rest.
func (s *Server) handover(w http.ResponseWriter, r *http.Request) error {
	var body handoverBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Source = apiSource(body.Source)
	resp, err := s.Deals.Handover(r.Context(), deals.HandoverRequest{From: r.PathValue("owner"), To: body.To,
		Pipeline: body.Pipeline, Source: body.Source})
	if errors.Is(err, deals.ErrPartial) {
		s.Logger.Error("handover fan-out incomplete", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, handoverPartial{HandoverResponse: resp, Error: fmt.Sprintf(
			"%d of %d deals could not be signalled; the handover is recorded: send the same request again to tell the rest",
			resp.Failed, resp.Deals)})
		return nil
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if resp.Moved > 0 || resp.Signalled > 0 || resp.Pending > 0 {
		status = http.StatusAccepted
	}
	writeJSON(w, status, resp)
	return nil
}
