package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// listRoutes are the reps' lists: an owner's open tasks and the deals, paged. The "next" of
// a page is the "before" of the page after it.
func (s *Server) listRoutes() []route {
	return []route{
		{"GET /api/tasks", false, "an owner's open tasks in due order, paged: ?owner=EMAIL (required; a rep's own by default), ?due=overdue|today|upcoming in the owner's zone, ?limit=, ?before=", s.listTasks},
		{"GET /api/deals", false, "deals by next action, paged, marked stale or near their stage's limit: ?stage=, ?owner=, ?pipeline=, ?state=open|closed, ?limit=, ?before=", s.listDeals},
	}
}

// listTasks answers a page of an owner's open tasks: 404 for an owner the engine does not
// know, 400 for a due, limit or before it cannot read.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := limitOf(q.Get("limit"))
	if err != nil {
		return err
	}
	if q.Get("owner") == "" {
		return badRequest("owner is required: ?owner=EMAIL, the owner whose open tasks to list")
	}
	list, err := s.Deals.OwnerTasks(r.Context(), deals.TaskListRequest{
		Owner: q.Get("owner"), Due: deals.Due(q.Get("due")), Limit: limit, Before: q.Get("before"),
	})
	if ownsNothingYet(r, err) {
		writeJSON(w, http.StatusOK, map[string]any{"owner": q.Get("owner"), "due": q.Get("due"), "tasks": []any{}})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// listDeals answers a page of deals: 404 for an owner the engine does not know.
func (s *Server) listDeals(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := limitOf(q.Get("limit"))
	if err != nil {
		return err
	}
	list, err := s.Deals.ListDeals(r.Context(), deals.DealListRequest{
		Stage: q.Get("stage"), Owner: q.Get("owner"), Pipeline: q.Get("pipeline"), State: q.Get("state"),
		Limit: limit, Before: q.Get("before"),
	})
	if ownsNothingYet(r, err) {
		writeJSON(w, http.StatusOK, map[string]any{"deals": []any{}})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// limitOf reads ?limit=; 0 when absent (the service's default).
func limitOf(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("limit %q: want a number from 1 to %d", v, store.MaxListLimit)
	}
	return n, nil
}

// ownsNothingYet says whether err is a rep's own list asked before the engine knows them as
// an owner (no deal yet): an empty list, not a 404.
func ownsNothingYet(r *http.Request, err error) bool {
	p, ok := principalOf(r.Context())
	return ok && p.Role == store.RoleRep && errors.Is(err, deals.ErrNotFound) &&
		strings.EqualFold(r.URL.Query().Get("owner"), p.Email)
}
