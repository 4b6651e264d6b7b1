package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// serveMetrics answers GET /metrics: the Prometheus metrics (internal/opsmetrics) of this
// process. The route is public, as /healthz is, since it holds no personal data (its labels
// are outcomes, sources, causes, route patterns, mailbox positions), unless MetricsToken is
// set: then it wants that token as a bearer token. It never takes API tokens: a scraper's
// credential should open nothing else.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		writeProblem(w, http.StatusNotFound, "metrics are off on this server (API_METRICS=off)", nil)
		return
	}
	if s.MetricsToken != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.MetricsToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeProblem(w, http.StatusUnauthorized, "GET /metrics wants METRICS_TOKEN as a bearer token", nil)
			return
		}
	}
	s.Metrics.ServeHTTP(w, r)
}
