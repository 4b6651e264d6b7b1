package pages

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
)

// The ops dashboard: a pipeline's measures (internal/pipelinemetrics computes them, as the
// API and the CLI do) as charts and tables, for ops only.

// Dashboard bounds.
const (
	velocityWeeks = 12
	// dashboardTimeout bounds the report and the weekly velocity reports together.
	dashboardTimeout = 20 * time.Second
)

type pipelinesPage struct {
	Pipelines []store.PipelineSummary
}

// pipelineList lists the pipelines, each linking to its dashboard.
func (s *Server) pipelineList(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	list, err := s.Deals.Store.Pipelines(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "pipelines", view{Title: "Pipelines", User: &ss.User, CSRF: ss.CSRFToken, Page: pipelinesPage{Pipelines: list}})
}

// dashboardForm is the dashboard's GET form, read as the API and the CLI read their query
// (pipelinemetrics.ParseQuery): dates in UTC, to excluded, the last 90 days by default.
type dashboardForm struct {
	From, To string // YYYY-MM-DD
	Owner    string
}

// query reads the form into a metrics query; bad input wraps pipelinemetrics.ErrBadQuery.
func (f *dashboardForm) query(pipeline string, now time.Time) (pipelinemetrics.Query, error) {
	if f.Owner != "" {
		if a, err := mail.ParseAddress(f.Owner); err != nil || a.Address != f.Owner || len(f.Owner) > 254 {
			return pipelinemetrics.Query{}, fmt.Errorf("%w: owner %q: want an email address", pipelinemetrics.ErrBadQuery, render.Echo(f.Owner))
		}
	}
	q, err := pipelinemetrics.ParseQuery(pipeline, f.From, f.To, f.Owner, now)
	if err != nil {
		return pipelinemetrics.Query{}, err
	}
	f.From, f.To = q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)
	return q, nil
}

// velocityWeek is one week's velocity report (its closings, today's open deals).
type velocityWeek struct {
	Start    time.Time
	Label    string
	Velocity []pipelinemetrics.Velocity
}

type dashboardPage struct {
	Pipeline  string
	Form      dashboardForm
	Report    pipelinemetrics.Report
	Loc       *time.Location
	Funnel    barChart
	Durations barChart
	Velocity  lineChart
	Forecasts []barChart // one per currency
	Weeks     []velocityWeek
	// WeekCurrencies are the currencies of the velocity table's columns.
	WeekCurrencies []string
	OwnerLink      map[string]string // the dashboard filtered to each owner
}

// pipelineDashboard shows one pipeline's measures for the form's period and owner.
func (s *Server) pipelineDashboard(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	pipeline := r.PathValue("id")
	if len(pipeline) > 200 {
		s.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	q := r.URL.Query()
	f := dashboardForm{From: q.Get("from"), To: q.Get("to"), Owner: strings.TrimSpace(q.Get("owner"))}
	query, err := f.query(pipeline, s.Now())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dashboardTimeout)
	defer cancel()
	rep, err := pipelinemetrics.Compute(ctx, s.Deals.Store, query)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	weeks, err := s.velocityWeeks(ctx, query)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	p := dashboardPage{Pipeline: pipeline, Form: f, Report: rep, Loc: s.zoneOf(r.Context(), ss.User.Email), Weeks: weeks,
		OwnerLink: map[string]string{}}
	for _, o := range rep.Owners {
		v := url.Values{"from": {f.From}, "to": {f.To}, "owner": {o.Owner}}
		p.OwnerLink[o.Owner] = "/pipelines/" + url.PathEscape(pipeline) + "?" + v.Encode()
	}
	p.Funnel = funnelChart(rep)
	p.Durations = durationChart(rep)
	p.Velocity, p.WeekCurrencies = velocityChart(weeks)
	p.Forecasts = forecastCharts(rep)
	s.render(w, http.StatusOK, "pipeline", view{Title: "Pipeline " + pipeline, User: &ss.User, CSRF: ss.CSRFToken, Page: p})
}

// velocityWeeks computes the velocity of each of the last velocityWeeks weeks up to the
// query's end (or now): one report per week window, with the same owner.
func (s *Server) velocityWeeks(ctx context.Context, q pipelinemetrics.Query) ([]velocityWeek, error) {
	end := q.To
	if now := q.Now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1); now.Before(end) {
		end = now
	}
	windows := make([]pipelinemetrics.Window, velocityWeeks)
	for i := velocityWeeks - 1; i >= 0; i-- {
		windows[i] = pipelinemetrics.Window{From: end.AddDate(0, 0, -7), To: end}
		end = windows[i].From
	}
	velocities, err := pipelinemetrics.Velocities(ctx, s.Deals.Store, q, windows)
	if err != nil {
		return nil, fmt.Errorf("weekly velocity: %w", err)
	}
	weeks := make([]velocityWeek, velocityWeeks)
	for i, w := range windows {
		weeks[i] = velocityWeek{Start: w.From, Label: w.From.Format("2 Jan"), Velocity: velocities[i]}
	}
	return weeks, nil
}

// The charts' series classes (style.css colours them).
const (
	classA = "s0"
	classB = "s1"
)

func funnelChart(rep pipelinemetrics.Report) barChart {
	var groups []barGroup
	for _, st := range rep.Stages {
		if st.Holding {
			continue
		}
		conv := "no visit ended"
		if st.ConversionRate != nil {
			conv = formatPercent(st.ConversionRate) + " converted"
		}
		groups = append(groups, barGroup{Label: st.Stage, Bars: []bar{
			measured(bar{Series: "entered", Class: classA, Value: strconv.Itoa(st.Entered), Text: strconv.Itoa(st.Entered),
				Metric:  "chart.funnel." + st.Stage + ".entered",
				Tooltip: fmt.Sprintf("%s: %d entered in the period; %d still there", st.Stage, st.Entered, st.StillOpen)}, float64(st.Entered)),
			measured(bar{Series: "advanced", Class: classB, Value: strconv.Itoa(st.Advanced),
				Text:   fmt.Sprintf("%d · %s", st.Advanced, formatPercent(st.ConversionRate)),
				Metric: "chart.funnel." + st.Stage + ".advanced",
				Tooltip: fmt.Sprintf("%s: %d advanced (%d to the next stage, %d skipped ahead); %s", st.Stage, st.Advanced,
					st.Direct, st.Skipped, conv)}, float64(st.Advanced)),
		}})
	}
	return newBarChart("chart-funnel", "Funnel: deals entered and advanced per stage", "deals (visits that began in the period)",
		[]barSeries{{"entered", classA}, {"advanced · conversion rate", classB}}, groups, func(v float64) string {
			return strconv.FormatFloat(v, 'f', -1, 64)
		})
}

func durationChart(rep pipelinemetrics.Report) barChart {
	largest := 0.0
	for _, st := range rep.Stages {
		if st.P90Seconds != nil && *st.P90Seconds > largest {
			largest = *st.P90Seconds
		}
		if st.MedianSeconds != nil && *st.MedianSeconds > largest {
			largest = *st.MedianSeconds
		}
	}
	unit, per := durationUnit(largest)
	var groups []barGroup
	for _, st := range rep.Stages {
		g := barGroup{Label: st.Stage}
		for _, m := range []struct {
			name  string
			class string
			v     *float64
		}{{"median", classA, st.MedianSeconds}, {"p90", classB, st.P90Seconds}} {
			b := bar{Series: m.name, Class: m.class, Metric: "chart.time." + st.Stage + "." + m.name, Text: "—",
				Tooltip: st.Stage + ": no visit that began in the period has ended"}
			if m.v != nil {
				b.Value = strconv.FormatFloat(*m.v, 'f', -1, 64)
				b.Text = formatDuration(m.v)
				b.Tooltip = fmt.Sprintf("%s: %s time in stage %s", st.Stage, m.name, formatDuration(m.v))
				b = measured(b, *m.v/per)
			}
			g.Bars = append(g.Bars, b)
		}
		groups = append(groups, g)
	}
	return newBarChart("chart-time", "Time in stage: median and 90th percentile", "time in stage ("+unit+")",
		[]barSeries{{"median", classA}, {"p90", classB}}, groups, func(v float64) string {
			return strconv.FormatFloat(v, 'f', -1, 64)
		})
}

// velocityChart draws each currency's velocity over the weeks; it returns the currencies.
func velocityChart(weeks []velocityWeek) (lineChart, []string) {
	var currencies []string
	seen := map[string]bool{}
	for _, w := range weeks {
		for _, v := range w.Velocity {
			if !seen[v.Currency] {
				seen[v.Currency] = true
				currencies = append(currencies, v.Currency)
			}
		}
	}
	var labels []string
	for _, w := range weeks {
		labels = append(labels, w.Label)
	}
	var series []lineSeries
	for i, cur := range currencies {
		ls := lineSeries{Name: cur, Class: "s" + strconv.Itoa(i%4)}
		for wi, w := range weeks {
			p := linePoint{}
			for _, v := range w.Velocity {
				if v.Currency == cur && v.PerDay != nil {
					f, err := strconv.ParseFloat(*v.PerDay, 64) // the line's height only; the text is exact
					if err == nil {
						p = linePoint{OK: true, Measure: f, Value: *v.PerDay, Text: compactAmount(f),
							Metric:  fmt.Sprintf("chart.velocity.%d.%s", wi, cur),
							Tooltip: fmt.Sprintf("week from %s: %s %s per day (%d open deals, win rate %s, average won %s, cycle %s)", w.Start.Format(time.DateOnly), *v.PerDay, cur, v.OpenDeals, formatPercent(v.WinRate), v.AverageWon, formatDays(v.AverageCycleDays))}
					}
				}
			}
			ls.Points = append(ls.Points, p)
		}
		series = append(series, ls)
	}
	return newLineChart("chart-velocity", "Pipeline velocity per week", "per day", "week starting", labels, series, compactAmount), currencies
}

// forecastCharts draws, per currency, the open deals' amount and weighted amount by expected
// close month.
func forecastCharts(rep pipelinemetrics.Report) []barChart {
	byCurrency := map[string][]pipelinemetrics.ForecastMonth{}
	var currencies []string
	for _, f := range rep.Forecast {
		if _, ok := byCurrency[f.Currency]; !ok {
			currencies = append(currencies, f.Currency)
		}
		byCurrency[f.Currency] = append(byCurrency[f.Currency], f)
	}
	var out []barChart
	for _, cur := range currencies {
		var groups []barGroup
		for _, f := range byCurrency[cur] {
			g := barGroup{Label: monthLabel(f.Month)}
			for _, m := range []struct{ name, class, v string }{{"amount", classA, f.Amount}, {"weighted", classB, f.Weighted}} {
				b := bar{Series: m.name, Class: m.class, Value: m.v, Text: m.v, Metric: "chart.forecast." + f.Month + "." + cur + "." + m.name,
					Tooltip: fmt.Sprintf("%s: %d deals, %s %s %s", monthLabel(f.Month), f.Deals, m.name, m.v, cur)}
				if v, err := strconv.ParseFloat(m.v, 64); err == nil {
					b.Text = compactAmount(v)
					b = measured(b, v)
				}
				g.Bars = append(g.Bars, b)
			}
			groups = append(groups, g)
		}
		out = append(out, newBarChart("chart-forecast-"+cur, "Forecast in "+cur+" by expected close month", "open amount ("+cur+")",
			[]barSeries{{"amount", classA}, {"weighted", classB}}, groups, compactAmount))
	}
	return out
}

func monthLabel(m string) string {
	switch m {
	case "overdue":
		return "overdue"
	case "none":
		return "no date"
	case "later":
		return "later"
	}
	if t, err := time.Parse("2006-01", m); err == nil {
		return t.Format("Jan 2006")
	}
	return m
}

// durationUnit picks the unit a set of durations up to largest seconds reads best in.
func durationUnit(largest float64) (string, float64) {
	switch {
	case largest >= 2*86400:
		return "days", 86400
	case largest >= 2*3600:
		return "hours", 3600
	case largest >= 120:
		return "minutes", 60
	}
	return "seconds", 1
}

// formatDuration writes seconds in the unit that reads best: "45 s", "12.5 min", "3.2 h",
// "4.1 d".
func formatDuration(sec *float64) string {
	if sec == nil {
		return "—"
	}
	v := *sec
	switch {
	case v >= 86400:
		return strconv.FormatFloat(v/86400, 'f', 1, 64) + " d"
	case v >= 3600:
		return strconv.FormatFloat(v/3600, 'f', 1, 64) + " h"
	case v >= 60:
		return strconv.FormatFloat(v/60, 'f', 1, 64) + " min"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " s"
}

// formatPercent writes a ratio as a percentage with one decimal; "—" when there is none.
func formatPercent(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64) + "%"
}

func formatDays(d *float64) string {
	if d == nil {
		return "—"
	}
	return strconv.FormatFloat(*d, 'f', 1, 64) + " d"
}

// compactAmount writes an axis tick or a chart label: 950, 7.8k, 1.2M (the tables show the
// exact amounts).
func compactAmount(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e6, 'f', 1, 64), ".0") + "M"
	case v >= 1e3:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e3, 'f', 1, 64), ".0") + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// dashboardFuncs are the dashboard templates' formatters.
var dashboardFuncs = template.FuncMap{
	"f1":    coord,
	"pct":   formatPercent,
	"days":  formatDays,
	"dur":   formatDuration,
	"month": monthLabel,
	// seconds is a duration as the API writes it, for data-value; "" when none.
	"seconds": func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	},
	"ratio": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v, 'f', 2, 64) + "×"
	},
	// perDay is one currency's velocity in a week's list; "—" when it has none.
	"perDay": func(vs []pipelinemetrics.Velocity, currency string) string {
		for _, v := range vs {
			if v.Currency == currency && v.PerDay != nil {
				return *v.PerDay
			}
		}
		return "—"
	},
}
