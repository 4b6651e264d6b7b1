package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/browsertest"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/unsubscribe"
	"github.com/followup-engine/followup/workflows"
)

// The unsubscribe page as the prospect sees it: opened and clicked in a real headless
// Chromium (internal/browsertest), which enforces the page's Content-Security-Policy.

// browserTimeout bounds everything one test does in its browser.
const browserTimeout = 90 * time.Second

// documentRequests records the top-level document requests the tab sends.
type documentRequests struct {
	mu   sync.Mutex
	reqs []sentRequest
}

type sentRequest struct {
	Method, URL, ContentType, Body string
}

func (d *documentRequests) listen(ev any) {
	e, ok := ev.(*network.EventRequestWillBeSent)
	if !ok || e.Type != network.ResourceTypeDocument || e.Request == nil {
		return
	}
	r := sentRequest{Method: e.Request.Method, URL: e.Request.URL + e.Request.URLFragment}
	if ct, ok := e.Request.Headers["Content-Type"].(string); ok {
		r.ContentType = ct
	}
	for _, p := range e.Request.PostDataEntries {
		b, err := base64.StdEncoding.DecodeString(p.Bytes)
		if err != nil {
			b = []byte(p.Bytes)
		}
		r.Body += string(b)
	}
	d.mu.Lock()
	d.reqs = append(d.reqs, r)
	d.mu.Unlock()
}

func (d *documentRequests) list() []sentRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sentRequest(nil), d.reqs...)
}

// shown reads what the tab shows: the h1, the first paragraph, the buttons' labels and the
// address bar.
type shown struct {
	H1, P, URL string
	Buttons    []string
	Forms      int
}

func read(t *testing.T, b *browsertest.Browser) shown {
	t.Helper()
	var s shown
	b.Run(t,
		chromedp.WaitReady("body", chromedp.ByQuery),
		chromedp.Location(&s.URL),
		chromedp.Text("h1", &s.H1, chromedp.ByQuery),
		chromedp.Text("body > p", &s.P, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("button"), b => b.innerText.trim())`, &s.Buttons),
		chromedp.Evaluate(`document.forms.length`, &s.Forms),
	)
	return s
}

// TestUnsubscribePageInChromium follows a sent email's List-Unsubscribe link in Chromium:
// the confirmation page changes nothing, a click on its button posts the form (which the
// page's CSP allows), the browser lands on the success page, and the next planned email
// is skipped.
func TestUnsubscribePageInChromium(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	// Links on the test server's loopback URL, as make run issues them: the header pair and
	// the footer point at a page the browser can open.
	local, err := unsubscribe.NewLinks(u.srv.URL, u.signer)
	require.NoError(t, err)
	u.acts.Mail.Unsubscribe = local
	d := u.newDeal(1)

	res, err := u.send(d, "intro", "intro")
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	msg := u.smtp.WaitForMessages(t, 1, 5*time.Second)[0]
	require.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	link := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
	require.True(t, strings.HasPrefix(link, u.srv.URL+unsubscribe.PathPrefix), link)
	sigs := len(signals(t, d.ID))

	b := browsertest.Start(t, browserTimeout)
	docs := &documentRequests{}
	chromedp.ListenTarget(b.Ctx(), docs.listen)

	// Opening the link shows the confirmation page, with its own style applied (the CSP
	// allows the inline style by hash), and changes nothing.
	start := time.Now()
	resp := b.Load(t, chromedp.Navigate(link))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	page := read(t, b)
	require.Equal(t, "Unsubscribe b***@prospect.test from emails by Vendor <Sales> & Co?", page.H1)
	require.Equal(t, []string{"Unsubscribe"}, page.Buttons)
	require.Equal(t, 1, page.Forms)
	var background string
	b.Run(t, chromedp.Evaluate(`getComputedStyle(document.querySelector("form button")).backgroundColor`, &background))
	require.Equal(t, "rgb(179, 38, 30)", background, "the page's inline style is applied")
	require.Empty(t, u.suppressions(), "opening the page unsubscribes no one")
	require.Len(t, signals(t, d.ID), sigs)
	t.Logf("confirmation page shown in %s", time.Since(start).Round(time.Millisecond))

	// The prospect clicks the button: the browser posts the form to the same URL and shows
	// the answer.
	start = time.Now()
	resp = b.Load(t, chromedp.Click(`//button[normalize-space()="Unsubscribe"]`, chromedp.BySearch, chromedp.NodeVisible))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	page = read(t, b)
	require.Equal(t, "You are unsubscribed", page.H1)
	require.Equal(t, "b***@prospect.test will receive no more emails from Vendor <Sales> & Co.", page.P)
	require.Empty(t, page.Buttons)
	require.Equal(t, link, page.URL, "the form posts to the page's own URL")
	t.Logf("click to success page in %s", time.Since(start).Round(time.Millisecond))
	require.Empty(t, b.CSPViolations())
	require.Equal(t, []sentRequest{
		{Method: "GET", URL: link},
		{Method: "POST", URL: link, ContentType: formType, Body: oneClick},
	}, docs.list(), "the browser loaded the page, then posted the form's one field")

	// Exactly one suppression, recorded as the RFC 8058 body the form sends; the deal's
	// workflow hears of it.
	require.Equal(t, []string{"unsubscribe contact|- unsubscribe-link"}, u.suppressions())
	var detail string
	require.NoError(t, u.pool.QueryRow(context.Background(), `SELECT detail FROM suppressions`).Scan(&detail))
	require.Contains(t, detail, "one-click POST (RFC 8058)")
	require.Len(t, signals(t, d.ID), sigs+1)
	ev := lastSignal(t, d.ID)
	require.Equal(t, workflows.EventEngaged, ev.Kind)
	require.Equal(t, cadence.EngagedUnsubscribe, ev.Engagement)

	// The next email the cadence planned is skipped, with no SMTP transaction.
	next, err := u.send(d, "value-followup", "value-followup")
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, next.Outcome)
	require.Equal(t, store.EmailSuppressed, u.ledgerState(d, "value-followup"))
	require.Equal(t, 1, u.smtp.Attempts(), "no SMTP transaction after the opt-out")

	// Opening the link again says so and offers no button.
	resp = b.Load(t, chromedp.Navigate(link))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	page = read(t, b)
	require.Equal(t, "You are unsubscribed", page.H1)
	require.Zero(t, page.Forms)
	require.Len(t, u.suppressions(), 1)
	require.Empty(t, b.CSPViolations())
	require.Empty(t, b.Dialogs())
}

// TestTamperedUnsubscribeLinkInChromium opens a link whose token was altered: the browser
// shows the generic page, with nothing to click, and nothing is written.
func TestTamperedUnsubscribeLinkInChromium(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)
	path := u.path(d)
	token := strings.TrimPrefix(path, unsubscribe.PathPrefix)
	mid := len(token) / 2
	swap := byte('A')
	if token[mid] == 'A' {
		swap = 'B'
	}
	tampered := u.srv.URL + unsubscribe.PathPrefix + token[:mid] + string(swap) + token[mid+1:]
	before := u.counts()
	sigs := len(signals(t, d.ID))

	b := browsertest.Start(t, browserTimeout)
	resp := b.Load(t, chromedp.Navigate(tampered))
	require.Equal(t, int64(http.StatusNotFound), resp.Status)
	page := read(t, b)
	require.Equal(t, "This link is not valid", page.H1)
	require.Equal(t, "To stop receiving emails, use the unsubscribe link of a recent email, or reply to it.", page.P)
	require.Zero(t, page.Forms, "nothing to click")
	require.Empty(t, page.Buttons)
	var body string
	b.Run(t, chromedp.Text("body", &body, chromedp.ByQuery))
	require.NotContains(t, body, "bob1")
	require.NotContains(t, body, "prospect.test")
	require.Empty(t, b.CSPViolations())

	// The untampered link still works: the refusal was the token's, not the page's.
	resp = b.Load(t, chromedp.Navigate(u.srv.URL+path))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	require.Equal(t, []string{"Unsubscribe"}, read(t, b).Buttons)

	require.Empty(t, u.suppressions(), "nothing written")
	require.Equal(t, before, u.counts())
	require.Len(t, signals(t, d.ID), sigs)
}
