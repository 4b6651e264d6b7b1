package httpapi

import (
	"net/http"
	"time"

	"github.com/followup-engine/followup/internal/pipelinemetrics"
)

// pipelineMetricsRoutes are the ops view's measures of a pipeline (internal/pipelinemetrics).
func (s *Server) pipelineMetricsRoutes() []route {
	return []route{
		{"GET /api/pipelines/{id}/metrics", false, "a pipeline's measures: funnel per stage, closings, open deals, velocity, forecast, coverage, owners: " +
			"?from=YYYY-MM-DD (default 90 days ago), ?to=YYYY-MM-DD (exclusive, default tomorrow), ?owner=EMAIL", s.pipelineMetrics},
	}
}

// pipelineMetrics answers the report: 400 for dates it cannot read or a period it refuses,
// 404 for a pipeline with no published cadence.
func (s *Server) pipelineMetrics(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	query, err := pipelinemetrics.ParseQuery(r.PathValue("id"), q.Get("from"), q.Get("to"), q.Get("owner"), time.Now())
	if err != nil {
		return err
	}
	report, err := pipelinemetrics.Compute(r.Context(), s.Deals.Store, query)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}
