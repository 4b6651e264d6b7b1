// Package httpapi is the engine's JSON HTTP API over the front door: create (or upsert by
// external id), stage changes, engagements, task completion and snooze, pauses of a deal,
// an owner or a pipeline, the global send switch, reopen and show, the reps' lists, the
// mailbox intake's routes. Domain errors map to statuses in one place; who may call what is
// in access.go. Without a token it serves the index (GET /), health, the OpenAPI document and
// the one-click unsubscribe pages of nurture emails (unsubscribe.go).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/unsubscribe"
	"github.com/followup-engine/followup/workflows"
)

// Server serves the API.
type Server struct {
	Deals  *deals.Service
	Token  string                          // API_TOKEN: the bootstrap ops token (users' tokens are in PostgreSQL)
	Ready  func(ctx context.Context) error // readiness: PostgreSQL and Temporal answer
	Logger *slog.Logger
	// Unsubscribe verifies the tokens of the public unsubscribe pages (/u/{token}); with
	// none, those pages answer 404.
	Unsubscribe *unsubscribe.Signer
	// MIMEMaxBytes bounds a message posted to /api/inbound/mime; DefaultMIMEMaxBytes when 0.
	MIMEMaxBytes int
	// MailFrom and MailboxDailyCap are the worker's MAIL_FROM and MAILBOX_DAILY_CAP, for
	// the send forecast.
	MailFrom        string
	MailboxDailyCap int
	// Pages are the reps' pages (internal/pages), served beside the API: they take the
	// requests no API route takes, and GET / from a browser (one that asks for text/html);
	// any other client (curl, scripts), or any when Pages is nil, gets the JSON index.
	Pages *http.ServeMux
	// Metrics serves GET /metrics (internal/opsmetrics); nil answers 404 (API_METRICS=off).
	// MetricsToken, when set, is the bearer token it wants (metrics.go).
	Metrics      http.Handler
	MetricsToken string
}

// route is one route of the API. The mux and the index GET / answers are both built from
// Server.routes, so the index lists exactly what is served.
type route struct {
	pattern string // a ServeMux pattern, "METHOD /path"
	public  bool   // served without the bearer token
	purpose string // one line, for the index
	handle  func(http.ResponseWriter, *http.Request) error
}

// routes are the API's routes, in the order the index lists them.
func (s *Server) routes() []route {
	rs := []route{
		{"GET /healthz", true, "liveness: the process answers", plain(healthz)},
		{"GET /readyz", true, "readiness: PostgreSQL and Temporal answer (503 when one does not)", plain(s.readyz)},
		{"GET /api/openapi.json", true, "the OpenAPI 3 document of every route", plain(serveOpenAPI)},
		{"GET /metrics", true, "Prometheus metrics of this process: public, or behind METRICS_TOKEN; API_METRICS=off turns them off", plain(s.serveMetrics)},
		{"POST /api/deals", false, "create a deal, or converge on the one its source and external_id name", s.createDeal},
		{"GET /api/deals/{deal}", false, "a deal's timeline from PostgreSQL: stage, deadline, next actions and why, tasks, emails, history", s.showDeal},
		{"POST /api/deals/{deal}/stage", false, "move a deal to a stage", s.changeStage},
		{"POST /api/deals/{deal}/reopen", false, "reopen a closed deal in a new run", s.reopen},
		{"POST /api/deals/{deal}/engagements", false, "report what the prospect did: reply, meeting_booked, click, bounce, unsubscribe, out_of_office", s.engage},
		{"POST /api/deals/{deal}/tasks/{task}/done", false, "the owner completed a task", s.closeTask(workflows.TaskDone)},
		{"POST /api/deals/{deal}/tasks/{task}/skip", false, "the owner skipped a task", s.closeTask(workflows.TaskSkipped)},
		{"POST /api/cadences/preview", false, "the timeline a sample deal would get on a published cadence", s.previewCadence},
	}
	rs = append(rs, s.stepStatsRoutes()...) // per-step cadence statistics (stepstats.go)

	rs = append(rs, s.pauseRoutes()...)   // pauses, snoozes and the send switch (pauses.go)
	rs = append(rs, s.inboundRoutes()...) // the mailbox intake (inbound.go)
	rs = append(rs, s.listRoutes()...)    // an owner's open tasks and the deals, paged (lists.go)
	rs = append(rs, s.valueRoutes()...)   // a deal's value, the send forecast (value.go)

	rs = append(rs, s.pipelineMetricsRoutes()...) // a pipeline's measures (pipelinemetrics.go)
	// Public, without the bearer token: the signed token is the capability (unsubscribe.go).
	return append(rs,
		route{"GET /u/{token}", true, "a nurture email's unsubscribe link: a confirmation page that changes nothing", plain(s.unsubscribeForm)},
		route{"POST /u/{token}", true, "unsubscribe (RFC 8058 one-click, or the page's button)", plain(s.unsubscribePost)},
	)
}

// Handler routes requests with stdlib ServeMux patterns. GET / answers the index of the
// routes; a request no route takes gets a JSON problem (404, or 405 with Allow).
func (s *Server) Handler() http.Handler {
	// The index is public, as /healthz is: it tells what the README tells (methods, paths,
	// purposes) and nothing of the data behind them.
	rs := append([]route{{"GET /{$}", true, "this index of the API's routes", nil}}, s.routes()...)
	index := indexOf(rs)
	rs[0].handle = func(w http.ResponseWriter, r *http.Request) error {
		if s.Pages != nil && strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.Pages.ServeHTTP(w, r)
			return nil
		}
		writeJSON(w, http.StatusOK, index)
		return nil
	}
	mux := http.NewServeMux()
	for _, rt := range rs {
		h := s.serve(rt.handle)
		if !rt.public {
			h = s.auth(rt.pattern, h)
		}
		mux.Handle(rt.pattern, h)
	}
	// Every request, API or page, is logged and counted once (accesslog.go).
	return s.accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			if s.Pages != nil {
				if _, p := s.Pages.Handler(r); p != "" {
					s.Pages.ServeHTTP(w, r)
					return
				}
			}
			// No route takes it: the mux answers 404, or 405 with its Allow header, as plain
			// text; noRouteWriter turns that answer into a JSON problem.
			mux.ServeHTTP(&noRouteWriter{ResponseWriter: w, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// index is the answer of GET /.
type index struct {
	Service string       `json:"service"`
	Auth    string       `json:"auth"`
	Routes  []indexEntry `json:"routes"`
}

type indexEntry struct {
	Method  string   `json:"method"`
	Path    string   `json:"path"`
	Auth    string   `json:"auth"`            // bearer or none
	Roles   []string `json:"roles,omitempty"` // who may: ops, rep (own), integration
	Purpose string   `json:"purpose"`
}

func indexOf(rs []route) index {
	ix := index{Service: "followup", Auth: "routes with \"auth\": \"bearer\" need Authorization: Bearer <token>: API_TOKEN, or a user's token (starter token create), whose role must be among the route's \"roles\""}
	for _, rt := range rs {
		method, path, _ := strings.Cut(rt.pattern, " ")
		e := indexEntry{Method: method, Path: strings.TrimSuffix(path, "{$}"), Auth: "bearer", Roles: rolesOf(rt.pattern, rt.public), Purpose: rt.purpose}
		if rt.public {
			e.Auth = "none"
		}
		ix.Routes = append(ix.Routes, e)
	}
	return ix
}

// noRouteWriter answers, as a JSON problem, what the mux writes for a request no route
// takes; the mux's own text is dropped.
type noRouteWriter struct {
	http.ResponseWriter
	r *http.Request
}

func (n *noRouteWriter) WriteHeader(status int) {
	msg := fmt.Sprintf("no route %s %s; GET / lists the routes", n.r.Method, n.r.URL.Path)
	if status == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("%s %s: method not allowed (allowed: %s); GET / lists the routes", n.r.Method, n.r.URL.Path, n.Header().Get("Allow"))
	}
	writeProblem(n.ResponseWriter, status, msg, nil)
}

func (n *noRouteWriter) Write(p []byte) (int, error) { return len(p), nil }

// plain adapts a handler that answers every request itself.
func plain(h http.HandlerFunc) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		h(w, r)
		return nil
	}
}

func healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
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

// serve runs a handler, answering its error through writeError.
func (s *Server) serve(next func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := principalOf(r.Context()); ok {
			noteRole(r.Context(), p.Role) // for the access log
		}
		if err := next(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
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
		bad       *errBadRequest
		valid     *deals.ValidationError
		answer    *answerError
		forbidden *errForbidden
	)
	switch {
	case errors.As(err, &forbidden):
		s.Logger.Warn("refused: role may not", "method", r.Method, "path", r.URL.Path, "why", forbidden.msg)
		writeProblem(w, http.StatusForbidden, forbidden.msg, nil)
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
	case errors.Is(err, pipelinemetrics.ErrBadQuery):
		writeProblem(w, http.StatusBadRequest, err.Error(), nil)
	case errors.Is(err, deals.ErrNotFound):
		writeProblem(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, deals.ErrDealClosed):
		writeProblem(w, http.StatusConflict, err.Error()+"; reopen it with POST /api/deals/{deal}/reopen", nil)
	case errors.Is(err, deals.ErrNotClosed), errors.Is(err, deals.ErrTaskNotOpen), errors.Is(err, deals.ErrEventIDTaken),
		errors.Is(err, deals.ErrCannotHoldDeals):
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
