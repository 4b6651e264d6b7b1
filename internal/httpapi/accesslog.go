package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/store"
)

// The access log: one line per request, after its answer, with the method, the route's
// pattern (GET /api/deals/{deal}, never the raw path with its ids, never the query string),
// the status, the bytes written, the duration and the caller's role. Never a token, an
// address, a body. Health checks and metrics scrapes are counted, not logged: they come
// every few seconds.

// noteRole tells the access log the role a request authenticated as (the pages note theirs
// through opsmetrics.NoteRole too).
func noteRole(ctx context.Context, role store.Role) { opsmetrics.NoteRole(ctx, string(role)) }

// quietRoutes are counted in the metrics but not logged.
var quietRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// knownMethods bound the method label of the metrics; any other counts as OTHER.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true,
}

// accessLog logs and counts every request next answers. The mux sets r.Pattern on the
// request it routes, which is this one: read after next returns, it is the route taken.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, noted := opsmetrics.WithRoleNote(r.Context())
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		opsmetrics.CountHTTP(method, route, status, took)
		if quietRoutes[route] {
			return
		}
		role := noted()
		if role == "" {
			role = "none"
		}
		s.Logger.LogAttrs(r.Context(), levelOf(status), "http request",
			slog.String("method", method), slog.String("route", route), slog.Int("status", status),
			slog.Int("bytes", rec.bytes), slog.Float64("duration_ms", float64(took.Microseconds())/1000), slog.String("role", role))
	})
}

// statusRecorder keeps the status and the size of an answer. Unwrap lets
// http.ResponseController reach the connection (deadlines, flushes).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on (htmx and streaming answers).
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func levelOf(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
