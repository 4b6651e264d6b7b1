package pages_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/demohistory"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/store"
)

// seedPipeline publishes the demo pipeline and gives it a history of n deals over 8 weeks,
// in two currencies, for two owners, some of them still open (with deadlines).
func (s *site) seedPipeline(n int) store.CadenceVersion {
	s.t.Helper()
	ctx := context.Background()
	p, err := cadencefile.Load("../../cadences/demo.yaml")
	require.NoError(s.t, err)
	cv, err := s.store.PublishNext(ctx, p)
	require.NoError(s.t, err)
	res, err := demohistory.Seed(ctx, s.store, demohistory.Options{Cadence: cv, Source: "history", Deals: n, Now: s.clock.Now(),
		Weeks: 8, Seed: 7, Open: true, Owners: []store.OwnerInput{
			{Email: "ana@vendor.example", Name: "Ana Rep"}, {Email: "ben@vendor.example", Name: "Ben Rep"}}})
	require.NoError(s.t, err)
	require.Equal(s.t, n, res.Created)
	require.Positive(s.t, res.Won)
	require.Positive(s.t, res.Lost)
	require.Positive(s.t, res.Open)
	month := s.clock.Now().UTC()
	_, err = s.store.SetTarget(ctx, "demo", month, "EUR", "50000")
	require.NoError(s.t, err)
	_, err = s.store.SetTarget(ctx, "demo", month.AddDate(0, 1, 0), "USD", "20000.50")
	require.NoError(s.t, err)
	return cv
}

// dashboardReports computes, as the dashboard must, the period's report and the 12 weekly
// velocity reports up to the period's end.
func dashboardReports(t *testing.T, s *site, q pipelinemetrics.Query) (pipelinemetrics.Report, []pipelinemetrics.Report) {
	t.Helper()
	ctx := context.Background()
	rep, err := pipelinemetrics.Compute(ctx, s.store, q)
	require.NoError(t, err)
	end := q.To
	if tomorrow := q.Now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1); tomorrow.Before(end) {
		end = tomorrow
	}
	weeks := make([]pipelinemetrics.Report, 12)
	for i := 11; i >= 0; i-- {
		wq := q
		wq.From, wq.To = end.AddDate(0, 0, -7), end
		weeks[i], err = pipelinemetrics.Compute(ctx, s.store, wq)
		require.NoError(t, err)
		end = wq.From
	}
	return rep, weeks
}

func pct(r *float64) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", *r*100)
}

func days(d *float64) string {
	if d == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f d", *d)
}

func raw(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// expectedMetrics is every number the dashboard must show for a report and its weeks, by
// the data-metric name the page gives it: the text shown, or for charts and durations the
// data-value (what the API says).
func expectedMetrics(rep pipelinemetrics.Report, weeks []pipelinemetrics.Report) map[string]string {
	m := map[string]string{}
	c := rep.Closed
	m["closed.won"], m["closed.lost"], m["closed.win_rate"] = strconv.Itoa(c.Won), strconv.Itoa(c.Lost), pct(c.WinRate)
	m["closed.average_cycle_days"] = days(c.AverageCycleDays)
	if c.WonWithoutAmount > 0 {
		m["closed.won_without_amount"] = strconv.Itoa(c.WonWithoutAmount)
	}
	for _, a := range c.AverageWon {
		m["closed.average_won."+a.Currency] = a.Amount
	}
	for _, a := range c.WonTotal {
		m["closed.won_total."+a.Currency] = a.Amount
	}
	o := rep.Open
	m["open.deals"], m["open.stale"], m["open.near_limit"] = strconv.Itoa(o.Deals), strconv.Itoa(o.Stale), strconv.Itoa(o.NearLimit)
	m["open.age_mean_days"], m["open.age_median_days"], m["open.age_p90_days"] = days(o.AgeMeanDays), days(o.AgeMedianDays), days(o.AgeP90Days)
	for _, a := range o.Pipeline {
		m["open.pipeline."+a.Currency] = a.Amount
	}
	for _, a := range o.Weighted {
		m["open.weighted."+a.Currency] = a.Amount
	}
	for _, st := range rep.Stages {
		k := "stage." + st.Stage + "."
		for name, v := range map[string]int{"entered": st.Entered, "advanced": st.Advanced, "skipped": st.Skipped, "lost": st.Lost,
			"engine_moved": st.EngineMoved, "back": st.Back, "still_open": st.StillOpen, "open_now": st.OpenNow,
			"stale_now": st.StaleNow, "near_limit_now": st.NearLimitNow} {
			m[k+name] = strconv.Itoa(v)
		}
		m[k+"conversion_rate"] = pct(st.ConversionRate)
		m[k+"median_seconds"], m[k+"p90_seconds"] = raw(st.MedianSeconds), raw(st.P90Seconds)
		m["chart.time."+st.Stage+".median"], m["chart.time."+st.Stage+".p90"] = raw(st.MedianSeconds), raw(st.P90Seconds)
		if !st.Holding {
			m["chart.funnel."+st.Stage+".entered"], m["chart.funnel."+st.Stage+".advanced"] = strconv.Itoa(st.Entered), strconv.Itoa(st.Advanced)
		}
	}
	for _, v := range rep.Velocity {
		m["period_velocity."+v.Currency+".open_deals"] = strconv.Itoa(v.OpenDeals)
		m["period_velocity."+v.Currency+".per_day"] = "—"
		if v.PerDay != nil {
			m["period_velocity."+v.Currency+".per_day"] = *v.PerDay
		}
	}
	currencies := map[string]bool{}
	for _, w := range weeks {
		for _, v := range w.Velocity {
			currencies[v.Currency] = true
		}
	}
	for i, w := range weeks {
		for cur := range currencies {
			m[fmt.Sprintf("velocity.%d.%s", i, cur)] = "—"
		}
		for _, v := range w.Velocity {
			if v.PerDay != nil {
				m[fmt.Sprintf("velocity.%d.%s", i, v.Currency)] = *v.PerDay
				m[fmt.Sprintf("chart.velocity.%d.%s", i, v.Currency)] = *v.PerDay
			}
		}
	}
	for _, f := range rep.Forecast {
		k := "forecast." + f.Month + "." + f.Currency + "."
		m[k+"deals"], m[k+"amount"], m[k+"weighted"] = strconv.Itoa(f.Deals), f.Amount, f.Weighted
		m["chart.forecast."+f.Month+"."+f.Currency+".amount"] = f.Amount
		m["chart.forecast."+f.Month+"."+f.Currency+".weighted"] = f.Weighted
	}
	for _, cv := range rep.Coverage {
		k := "coverage." + cv.Month + "." + cv.Currency + "."
		m[k+"target"], m[k+"pipeline"], m[k+"weighted"] = cv.Target, cv.Pipeline, cv.Weighted
		m[k+"ratio"] = "—"
		if cv.Ratio != nil {
			m[k+"ratio"] = fmt.Sprintf("%.2f×", *cv.Ratio)
		}
	}
	for _, ow := range rep.Owners {
		k := "owner." + ow.Owner + "."
		m[k+"open"], m[k+"won"], m[k+"lost"], m[k+"stale"] = strconv.Itoa(ow.Open), strconv.Itoa(ow.Won), strconv.Itoa(ow.Lost), strconv.Itoa(ow.Stale)
		m[k+"win_rate"] = pct(ow.WinRate)
		for _, a := range ow.Pipeline {
			m[k+"pipeline."+a.Currency] = a.Amount
		}
		for _, a := range ow.Weighted {
			m[k+"weighted."+a.Currency] = a.Amount
		}
	}
	return m
}

// metricElement is an element with a data-metric, its data-value if any, and its text up
// to the next tag.
var metricElement = regexp.MustCompile(`data-metric="([^"]*)"(?: data-value="([^"]*)")?>([^<]*)`)

// pageMetrics reads the numbers a dashboard page shows, as expectedMetrics names them.
func pageMetrics(t *testing.T, body string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, g := range metricElement.FindAllStringSubmatch(body, -1) {
		name := html.UnescapeString(g[1])
		_, dup := m[name]
		require.False(t, dup, "data-metric %s twice", name)
		if strings.Contains(g[0], `data-value="`) {
			m[name] = html.UnescapeString(g[2])
		} else {
			m[name] = strings.TrimSpace(html.UnescapeString(g[3]))
		}
	}
	return m
}

// The dashboard is ops' alone: a rep is refused it and not shown its link. Ops reads on it
// the numbers pipelinemetrics computes for the same query, for all owners or one.
func TestDashboardShowsOpsTheNumbersAndRefusesReps(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ops@vendor.example", store.RoleOps, password)
	s.user("ana@vendor.example", store.RoleRep, password)
	s.seedPipeline(60)

	rep := s.browser()
	rep.loggedIn("ana@vendor.example")
	require.NotContains(t, rep.do("GET", "/tasks", nil).body, `href="/pipelines"`)
	for _, path := range []string{"/pipelines", "/pipelines/demo"} {
		r := rep.do("GET", path, nil)
		require.Equal(t, http.StatusForbidden, r.status, path)
		require.NotContains(t, r.body, "data-metric", path)
	}
	require.Contains(t, s.logs.String(), "refused an ops page")

	ops := s.browser()
	ops.loggedIn("ops@vendor.example")
	require.Contains(t, ops.do("GET", "/tasks", nil).body, `href="/pipelines"`)
	list := ops.do("GET", "/pipelines", nil)
	require.Equal(t, http.StatusOK, list.status, list.body)
	require.Contains(t, list.body, `href="/pipelines/demo"`)

	now := s.clock.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -41), today.AddDate(0, 0, 1) // to is excluded, as in the API
	for _, owner := range []string{"", "ben@vendor.example"} {
		v := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
		if owner != "" {
			v.Set("owner", owner)
		}
		r := ops.do("GET", "/pipelines/demo?"+v.Encode(), nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		report, weeks := dashboardReports(t, s, pipelinemetrics.Query{Pipeline: "demo", From: from, To: to, Owner: owner, Now: now})
		require.Positive(t, report.Closed.Won+report.Closed.Lost, "the period has closings")
		require.NotEmpty(t, report.Forecast)
		require.Len(t, report.Coverage, 2, "the targets' coverage")
		require.Equal(t, expectedMetrics(report, weeks), pageMetrics(t, r.body), "owner %q", owner)
		for _, id := range []string{"chart-funnel", "chart-time", "chart-velocity"} {
			require.Regexp(t, `id="`+id+`">\s*<svg viewBox="0 0 360\.0 [0-9.]+"`, r.body, "the %s chart is drawn", id)
		}
		for _, d := range report.Open.StaleDeals {
			require.Contains(t, r.body, `<a href="/deals/`+d.ID+`">`, "a stale deal links to its page")
		}
		require.Contains(t, r.body, `<a href="/cadences/demo">`, "the dashboard links to what each step earns")
		if owner != "" {
			require.NotContains(t, r.body, "owner.ana@vendor.example.", "only Ben's deals")
		}
	}

	// Bad input is a clear 400; an unknown pipeline is not found.
	for q, want := range map[string]string{
		"from=yesterday":                  "from &#34;yesterday&#34;: want a date YYYY-MM-DD (UTC)",
		"from=2026-03-01&to=2026-02-01":   "from (2026-03-01) must be before to (2026-02-01)",
		"from=2020-01-01&to=2026-01-01":   "the period is at most 2 years",
		"owner=" + url.QueryEscape("<x>"): "owner &#34;&lt;x&gt;&#34;: want an email address",
	} {
		r := ops.do("GET", "/pipelines/demo?"+q, nil)
		require.Equal(t, http.StatusBadRequest, r.status, q)
		require.Contains(t, r.body, want, q)
	}
	require.Equal(t, http.StatusNotFound, ops.do("GET", "/pipelines/nosuch", nil).status)
}
