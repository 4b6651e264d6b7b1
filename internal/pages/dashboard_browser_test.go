package pages_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/browsertest"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/store"
)

// readMetrics reads, in the page, every element's number by its data-metric: the data-value
// of a chart's bar or point or of a duration, else the text shown.
const readMetrics = `Object.fromEntries(Array.from(document.querySelectorAll("[data-metric]"),
	e => [e.dataset.metric, e.hasAttribute("data-value") ? e.dataset.value : e.textContent.trim()]))`

// TestOpsReadsTheDashboardInChromium seeds a pipeline of 200 deals with eight weeks of
// history, opens its dashboard from the nav as ops in a real Chromium (its CSP enforced),
// and checks every number the page shows against what the API answers for the same query
// (GET /api/pipelines/demo/metrics, and once per week for the velocity); then filters by
// owner with the form, and looks at it at a phone's width.
func TestOpsReadsTheDashboardInChromium(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ops@vendor.example", store.RoleOps, password)
	s.seedPipeline(200)

	b := browsertest.Start(t, browserTimeout)
	b.Load(t, chromedp.Navigate(s.srv.URL+"/login"))
	b.Run(t,
		chromedp.SendKeys(`input[name=email]`, "ops@vendor.example", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
	)
	b.Load(t, chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery))
	resp := b.Load(t, chromedp.Click(`header nav a[href="/pipelines"]`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	// The page measures open deals at its clock's now, the API at the real one: bring the
	// site's clock to now, so that both measure at the same moment (within the second they take).
	s.clock.advance(time.Since(s.clock.Now()))
	resp = b.Load(t, chromedp.Click(`#pipelines a[href="/pipelines/demo"]`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)

	var shown map[string]string
	var h1, from, to string
	var tooltips, bars, points int
	b.Run(t,
		chromedp.Text("h1", &h1, chromedp.ByQuery),
		chromedp.Value(`input[name=from]`, &from, chromedp.ByQuery),
		chromedp.Value(`input[name=to]`, &to, chromedp.ByQuery),
		chromedp.Evaluate(readMetrics, &shown),
		chromedp.Evaluate(`document.querySelectorAll("svg g.bar > title, svg g.point > title").length`, &tooltips),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#chart-funnel g.bar rect")).filter(r => r.getBBox().width > 0).length`, &bars),
		chromedp.Evaluate(`document.querySelectorAll("#chart-velocity circle").length`, &points),
	)
	require.Equal(t, "Pipeline demo", h1)
	report, weeks := apiReports(t, s, from, to, "")
	require.Greater(t, report.Closed.Won, 10)
	require.Greater(t, report.Closed.Lost, 10)
	require.Len(t, report.Open.Pipeline, 2, "two currencies")
	require.Equal(t, expectedMetrics(report, weeks), shown)
	require.Positive(t, bars, "the funnel's bars are drawn")
	require.Positive(t, points, "the velocity line has points")
	require.Positive(t, tooltips)
	screenshot(t, b, "dashboard-1-desktop")

	// The owner filter, through the form.
	b.Run(t, chromedp.SendKeys(`input[name=owner]`, "ana@vendor.example", chromedp.ByQuery))
	resp = b.Load(t, chromedp.Click(`form.filters button`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	require.True(t, strings.Contains(resp.URL, "owner=ana%40vendor.example"), resp.URL)
	report, weeks = apiReports(t, s, from, to, "ana@vendor.example")
	shown = nil // a JSON object decodes into a map by adding to it
	var sub string
	b.Run(t, chromedp.Text("p.sub", &sub, chromedp.ByQuery), chromedp.Evaluate(readMetrics, &shown))
	require.Contains(t, sub, "owner ana@vendor.example")
	require.Equal(t, expectedMetrics(report, weeks), shown)
	screenshot(t, b, "dashboard-2-owner")

	// A phone: the charts scale down to the screen, the page does not scroll sideways.
	b.Run(t, chromedp.EmulateViewport(390, 844))
	var pageWidth, chartWidth int
	b.Run(t,
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &pageWidth),
		chromedp.Evaluate(`Math.round(document.querySelector("#chart-funnel svg").getBoundingClientRect().width)`, &chartWidth),
	)
	require.LessOrEqual(t, pageWidth, 390)
	require.LessOrEqual(t, chartWidth, 390)
	screenshot(t, b, "dashboard-3-phone")
	require.Empty(t, b.CSPViolations())
	require.Empty(t, b.Dialogs())
}

// apiReports asks the API (GET /api/pipelines/{id}/metrics) for the report of a period and
// for each of the 12 weeks up to its end (or tomorrow), as the dashboard shows them.
func apiReports(t *testing.T, s *site, from, to, owner string) (pipelinemetrics.Report, []pipelinemetrics.Report) {
	t.Helper()
	get := func(from, to string) pipelinemetrics.Report {
		v := url.Values{"from": {from}, "to": {to}}
		if owner != "" {
			v.Set("owner", owner)
		}
		req, err := http.NewRequest("GET", s.srv.URL+"/api/pipelines/demo/metrics?"+v.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		var r pipelinemetrics.Report
		require.NoError(t, json.NewDecoder(res.Body).Decode(&r))
		return r
	}
	report := get(from, to)
	end, err := time.Parse(time.DateOnly, to)
	require.NoError(t, err)
	if tomorrow := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1); tomorrow.Before(end) {
		end = tomorrow
	}
	weeks := make([]pipelinemetrics.Report, 12)
	for i := 11; i >= 0; i-- {
		start := end.AddDate(0, 0, -7)
		weeks[i] = get(start.Format(time.DateOnly), end.Format(time.DateOnly))
		end = start
	}
	return report, weeks
}
