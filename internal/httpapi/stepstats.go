package httpapi

import (
	"net/http"

	"github.com/followup-engine/followup/internal/deals"
)

// stepStatsRoutes are the per-step cadence statistics (ops only).
func (s *Server) stepStatsRoutes() []route {
	return []route{
		{"GET /api/cadences/{pipeline}/steps", false, "what each step of each published version earned: emails sent, suppressed, bounced, replied, unsubscribed, meetings, tasks, median time to reply; ?from=&to= (dates or RFC 3339, to excluded; default the last 90 days and today)", s.cadenceSteps},
	}
}

// cadenceSteps answers a pipeline's per-step statistics: 400 for a period it cannot read,
// 404 for a pipeline with no published version.
func (s *Server) cadenceSteps(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	report, err := s.Deals.StepStats(r.Context(), deals.StepStatsRequest{Pipeline: r.PathValue("pipeline"), From: q.Get("from"), To: q.Get("to")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}
