package mailsink_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/browsertest"
)

// TestProspectReplyInChromium opens the mail page of an engine message in a real headless
// Chromium (internal/browsertest), edits the reply's text and presses "Reply": the browser
// lands on the new reply's page, which says where it was delivered, and the list shows it
// threaded under the original.
func TestProspectReplyInChromium(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question about Q3")
	page := p.web.URL + "/messages/" + p.origID

	b := browsertest.Start(t, 90*time.Second)
	start := time.Now()
	resp := b.Load(t, chromedp.Navigate(page))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var buttons []string
	var backOn string
	b.Run(t,
		chromedp.Evaluate(`[...document.querySelectorAll("form.prospect button")].map(b => b.textContent)`, &buttons),
		chromedp.Value(`input[name="back"]`, &backOn, chromedp.ByQuery),
	)
	require.Equal(t, []string{"Reply", "Auto-reply", "Bounce"}, buttons)
	require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, backOn, "the date input has a default")
	t.Logf("message page shown in %s", time.Since(start).Round(time.Millisecond))

	// Type the reply, then press the button: the browser posts the form (same-origin, which
	// the sink requires) and follows the redirect to the new message.
	start = time.Now()
	b.Run(t,
		chromedp.SetValue(`textarea[name="body"]`, "Tuesday at 10 works for me.", chromedp.ByQuery),
	)
	resp = b.Load(t, chromedp.Click(`//button[normalize-space()="Reply"]`, chromedp.BySearch))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var at, title, made, text string
	b.Run(t,
		chromedp.Location(&at),
		chromedp.Text("h1", &title, chromedp.ByQuery),
		chromedp.Text("#made", &made, chromedp.ByQuery),
		chromedp.Text("pre.text", &text, chromedp.ByQuery),
	)
	t.Logf("click to reply page in %s", time.Since(start).Round(time.Millisecond))
	require.Regexp(t, `/messages/[^/]+\?made=reply#made$`, at)
	require.NotContains(t, at, p.origID, "a new message")
	require.Equal(t, "Re: Quick question about Q3", title)
	require.Contains(t, made, "Reply stored: delivered to ana@vendor.example")
	require.True(t, strings.HasPrefix(text, "Tuesday at 10 works for me."), text)
	require.Contains(t, text, "> Just following up.")
	require.Empty(t, b.CSPViolations(), "the page's CSP lets its forms post")

	// The list has the reply, threaded under the original.
	resp = b.Load(t, chromedp.Navigate(p.web.URL+"/"))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var subjects []string
	b.Run(t, chromedp.Evaluate(`[...document.querySelectorAll("tbody tr td:nth-child(4) > a")].map(a => a.textContent)`, &subjects))
	require.Equal(t, []string{"Re: Quick question about Q3", "Quick question about Q3"}, subjects)
	require.Empty(t, b.CSPViolations())
}
