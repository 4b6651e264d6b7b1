package httpapi

import (
	"net/http"
	"strconv"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/render"
)

// valueRoutes are a deal's value and the send forecast.
func (s *Server) valueRoutes() []route {
	return []route{
		{"POST /api/deals/{deal}/value", false, "set a deal's amount (exact decimal), currency and expected close date", s.setValue},
		{"GET /api/sends/forecast", false, "planned emails per sending mailbox and day against the daily cap (?days=14)", s.sendForecast},
	}
}

func (s *Server) setValue(w http.ResponseWriter, r *http.Request) error {
	var body deals.ValueRequest
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.Deal = r.PathValue("deal")
	body.Source = apiSource(body.Source)
	resp, err := s.Deals.SetValue(r.Context(), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) sendForecast(w http.ResponseWriter, r *http.Request) error {
	req := deals.ForecastRequest{DailyCap: s.MailboxDailyCap, DefaultFrom: s.MailFrom}
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest("days %q: want a number of days, 1 to 90", render.Echo(v))
		}
		req.Days = n
	}
	f, err := s.Deals.SendForecast(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}
