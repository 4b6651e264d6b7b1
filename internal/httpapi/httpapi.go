// Package httpapi is the engine's JSON HTTP API over the front door: create (or upsert by
// external id), stage changes, engagements, task completion and snooze, pauses of a deal,
// an owner or a pipeline, the global send switch, reopen and show. Domain errors
// map to statuses in one place. It also serves the public one-click unsubscribe pages of
// nurture emails (unsubscribe.go), the only routes without the bearer token.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/unsubscribe"
	"github.com/followup-engine/followup/workflows"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Server serves the API.
type Server struct {
	Deals  *deals.Service
	Token  string                          // bearer token every /api request must carry
	Ready  func(ctx context.Context) error // readiness: PostgreSQL and Temporal answer
	Logger *slog.Logger
	// Unsubscribe verifies the tokens of the public unsubscribe pages (/u/{token}); with
	// none, those pages answer 404.
	Unsubscribe *unsubscribe.Signer
}

// Handler routes requests with stdlib ServeMux patterns.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("POST /api/deals", s.auth(s.createDeal))
	mux.Handle("POST /api/deals/{id}/stage", s.auth(s.changeStage))
	mux.Handle("POST /api/deals/{id}/reopen", s.auth(s.reopen))
	mux.Handle("POST /api/deals/{id}/engagements", s.auth(s.engage))
	mux.Handle("POST /api/deals/{id}/tasks/{task}/done", s.auth(s.closeTask(workflows.TaskDone)))
	mux.Handle("POST /api/deals/{id}/tasks/{task}/skip", s.auth(s.closeTask(workflows.TaskSkipped)))
	mux.Handle("GET /api/deals/{id}", s.auth(s.showDeal))
	mux.Handle("POST /api/cadences/preview", s.auth(s.previewCadence))
	s.pauseRoutes(mux) // pauses, snoozes and the send switch (pauses.go)
	// Public, without the bearer token: the signed token is the capability (unsubscribe.go).
	mux.HandleFunc("GET /u/{token}", s.unsubscribeForm)
	mux.HandleFunc("POST /u/{token}", s.unsubscribePost)
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "not ready: a dependency does not answer", nil)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// auth requires the bearer token, compared in constant time.
func (s *Server) auth(next func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="followup"`)
			writeProblem(w, http.StatusUnauthorized, "missing or wrong bearer token", nil)
			return
		}
		if err := next(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// errBadRequest marks a request the API could not read; its text is safe to show.
type errBadRequest struct {
	status int
	msg    string
}

func (e *errBadRequest) Error() string { return e.msg }

// decode reads one JSON object of at most MaxBodyBytes, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, false)
}

// decodeOptional is decode for routes whose body may be empty (every field optional).
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, true)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &errBadRequest{http.StatusUnsupportedMediaType, "send the body as application/json"}
		}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		var timeErr *time.ParseError
		switch {
		case errors.As(err, &timeErr):
			return &errBadRequest{http.StatusBadRequest, fmt.Sprintf("time %q is not RFC 3339, like 2026-11-23T10:00:00Z", timeErr.Value)}
		case errors.As(err, &tooBig):
			return &errBadRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes)}
		case errors.Is(err, io.EOF) && optional:
			return nil
		case errors.Is(err, io.EOF):
			return &errBadRequest{http.StatusBadRequest, "body is empty: send a JSON object"}
		case errors.As(err, &syntax):
			return &errBadRequest{http.StatusBadRequest, fmt.Sprintf("body is not valid JSON (at byte %d)", syntax.Offset)}
		case errors.As(err, &typeErr):
			return &errBadRequest{http.StatusBadRequest, fmt.Sprintf("field %q: want %s", typeErr.Field, typeErr.Type)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &errBadRequest{http.StatusBadRequest, "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
		default:
			return &errBadRequest{http.StatusBadRequest, "body is not a valid request: " + err.Error()}
		}
	}
	if dec.More() {
		return &errBadRequest{http.StatusBadRequest, "body holds more than one JSON value"}
	}
	return nil
}

// RetryAfter is the Retry-After, in seconds, of a 503: a dependency does not answer.
const RetryAfter = "5"

// answerError is a handler's error with the answer its call returned, for writeError: a
// request whose event is recorded answers with it (see answered).
type answerError struct {
	answer any
	err    error
}

func (e *answerError) Error() string { return e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }

// answered is what a handler returns when its call failed: err, with the call's answer
// attached. A recorded event whose delivery is pending (deals.ErrDeliveryPending) answers
// 202 with it: the ids and the state received.
func answered(answer any, err error) error {
	if err == nil {
		return nil
	}
	return &answerError{answer: answer, err: err}
}

// writeError maps domain errors to answers in one place; internal errors are logged, never
// echoed.
//
// Once a request's event is recorded, a Temporal that does not answer changes nothing for
// the caller: 202 with the answer, state received, and the sweeper delivers it. A request
// that failed before its event was recorded because PostgreSQL or Temporal does not answer
// gets 503 with Retry-After; any other fault 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		bad    *errBadRequest
		valid  *deals.ValidationError
		answer *answerError
	)
	switch {
	case errors.Is(err, deals.ErrDeliveryPending):
		s.Logger.Warn("event recorded; delivery pending until Temporal answers", "method", r.Method, "path", r.URL.Path, "err", err)
		var body any = map[string]string{"state": "received", "message": deals.PendingMessage}
		if errors.As(err, &answer) {
			body = answer.answer
		}
		writeJSON(w, http.StatusAccepted, body)
	case errors.As(err, &bad):
		writeProblem(w, bad.status, bad.msg, nil)
	case errors.As(err, &valid):
		writeProblem(w, http.StatusBadRequest, "invalid request", valid.Problems)
	case errors.Is(err, deals.ErrNotFound):
		writeProblem(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, deals.ErrDealClosed):
		writeProblem(w, http.StatusConflict, err.Error()+"; reopen it with POST /api/deals/{id}/reopen", nil)
	case errors.Is(err, deals.ErrNotClosed), errors.Is(err, deals.ErrTaskNotOpen), errors.Is(err, deals.ErrEventIDTaken):
		writeProblem(w, http.StatusConflict, err.Error(), nil)
	case errors.Is(err, deals.ErrUnknownStage), errors.Is(err, deals.ErrCadenceCannotRun):
		writeProblem(w, http.StatusUnprocessableEntity, err.Error(), nil)
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to answer.
	case deals.Unavailable(err) != "":
		dep := deals.Unavailable(err)
		s.Logger.Warn("request failed: a dependency does not answer", "dependency", dep, "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", RetryAfter)
		writeProblem(w, http.StatusServiceUnavailable, dep+" does not answer now; retry the request in a few seconds (the same event id is recognised)", nil)
	default:
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error; the request may not have been applied, retry it", nil)
	}
}

type problem struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, msg string, problems []string) {
	writeJSON(w, status, problem{Error: msg, Problems: problems})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
