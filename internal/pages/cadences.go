package pages

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// The cadence pages, for ops: the pipelines with published versions, and per pipeline what
// each step of each version earned (store.StepStats: the same numbers as GET
// /api/cadences/{pipeline}/steps and starter cadence steps).

// cadencePageTimeout bounds the statistics' queries of one page.
const cadencePageTimeout = 20 * time.Second

// cadenceRoutes adds the cadence pages and their templates; Handler calls it after init.
func (s *Server) cadenceRoutes(mux *http.ServeMux) {
	for _, name := range []string{"cadences", "cadence"} {
		s.tmpl[name] = template.Must(template.New("layout.html").Funcs(funcs).Funcs(cadenceFuncs).
			ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	mux.Handle("GET /cadences", s.authed(s.opsOnly("The cadence statistics are for ops users.", s.cadenceList)))
	mux.Handle("GET /cadences/{pipeline}", s.authed(s.opsOnly("The cadence statistics are for ops users.", s.cadencePage)))
}

var cadenceFuncs = template.FuncMap{
	// barWidth is a reply rate as the width of a 100-unit bar.
	"barWidth": func(rate *float64) string {
		if rate == nil {
			return "0"
		}
		return fmt.Sprintf("%.1f", *rate*100)
	},
}

// cadenceList lists the pipelines with a published version, each linking to its page.
func (s *Server) cadenceList(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	list, err := s.Deals.Store.PublishedPipelines(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "cadences", view{Title: "Cadences", User: &ss.User, CSRF: ss.CSRFToken, Page: list})
}

type cadencePage struct {
	Pipeline string
	Report   store.StepStatsReport
	// FromShown and ToShown are the period's dates (To excluded).
	FromShown, ToShown string
}

// cadencePage shows a pipeline's published versions and what each step earned in a period
// (?from=&to=, dates, to excluded; default the last 90 days and today).
func (s *Server) cadencePage(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	ctx, cancel := context.WithTimeout(r.Context(), cadencePageTimeout)
	defer cancel()
	p := cadencePage{Pipeline: r.PathValue("pipeline")}
	report, err := s.Deals.StepStats(ctx, deals.StepStatsRequest{Pipeline: p.Pipeline, From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	p.Report = report
	p.FromShown = report.Query.From.UTC().Format(time.DateOnly)
	p.ToShown = report.Query.To.UTC().Format(time.DateOnly)
	s.render(w, http.StatusOK, "cadence", view{Title: "Cadence " + p.Pipeline, User: &ss.User, CSRF: ss.CSRFToken, Page: p})
}
