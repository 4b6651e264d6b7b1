package pages_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/browsertest"
	"github.com/followup-engine/followup/internal/store"
)

// readStepRows reads, in the page, the first table's rows: step → sent, replied, marked best.
const readStepRows = `Object.fromEntries(Array.from(document.querySelectorAll("section.cadence-version:first-of-type tr[data-step]"),
	r => [r.dataset.step, [r.querySelector("td.sent").textContent.trim(), r.querySelector("td.replied").textContent.trim(),
		r.classList.contains("best") ? "best" : ""].join(" ")]))`

// TestOpsReadsTheCadencePageInChromium opens the cadence page from the nav as ops in a real
// Chromium (its CSP enforced), checks each step's numbers against the store's report, and
// saves screenshots at a desktop's and a phone's width.
func TestOpsReadsTheCadencePageInChromium(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ops@vendor.example", store.RoleOps, password)
	s.user("ana@vendor.example", store.RoleRep, password)
	start := time.Now().Add(-20 * 24 * time.Hour).UTC().Truncate(time.Second)
	for i := range 6 {
		d := s.deal("ana@vendor.example", fmt.Sprintf("p%d@prospect.example", i), "P"+strconv.Itoa(i))
		if i%2 == 0 { // every other deal's prospect answers the follow-up
			s.seedStepStats(d, start.Add(time.Duration(i)*time.Hour))
		} else {
			s.seedSentIntro(d, start.Add(time.Duration(i)*time.Hour))
		}
	}

	b := browsertest.Start(t, browserTimeout)
	b.Load(t, chromedp.Navigate(s.srv.URL+"/login"))
	b.Run(t,
		chromedp.SendKeys(`input[name=email]`, "ops@vendor.example", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
	)
	b.Load(t, chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery))
	resp := b.Load(t, chromedp.Click(`header nav a[href="/cadences"]`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	resp = b.Load(t, chromedp.Click(`a[href="/cadences/b2b-default"]`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)

	var shown map[string]string
	var bars int
	b.Run(t,
		chromedp.Evaluate(readStepRows, &shown),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("td.rate svg rect:last-child")).filter(r => r.getBBox().width > 0).length`, &bars),
	)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	report, err := s.store.StepStats(context.Background(), store.StepStatsQuery{Pipeline: "b2b-default",
		From: today.AddDate(0, 0, -90), To: today.AddDate(0, 0, 1)})
	require.NoError(t, err)
	want := map[string]string{}
	for _, st := range report.Versions[0].Steps {
		best := ""
		if st.Best {
			best = "best"
		}
		want[st.Stage+"/"+st.StepID] = fmt.Sprintf("%d %d %s", st.Sent, st.Replied, best)
	}
	require.Equal(t, want, shown)
	require.Equal(t, "6 0 ", shown["prospecting/intro"], "six intros, none answered")
	require.Equal(t, "3 3 best", shown["prospecting/value-followup"], "the follow-up earns the replies")
	require.Equal(t, 2, bars, "a reply-rate bar for the follow-up, in this version's table and across versions")
	var desktopWidth, viewport int
	b.Run(t, chromedp.Evaluate(`document.documentElement.scrollWidth`, &desktopWidth), chromedp.Evaluate(`window.innerWidth`, &viewport))
	require.LessOrEqual(t, desktopWidth, viewport, "the wide tables scroll in place; the page does not")
	screenshot(t, b, "cadence-1-desktop")

	b.Run(t, chromedp.EmulateViewport(390, 844))
	var pageWidth int
	b.Run(t, chromedp.Evaluate(`document.documentElement.scrollWidth`, &pageWidth))
	require.LessOrEqual(t, pageWidth, 390, "no sideways scroll on a phone")
	screenshot(t, b, "cadence-2-phone")
	require.Empty(t, b.CSPViolations())
	require.Empty(t, b.Dialogs())
}
