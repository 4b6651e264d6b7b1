package mailsink_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdptarget "github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/browsertest"
)

// TestOneClickUnsubscribeInChromium opens the make-run mail page of a nurture message in a
// real headless Chromium (internal/browsertest) and clicks its "Unsubscribe (one-click)"
// button: the target URL gets exactly RFC 8058's POST, and the page shows the answer
// without running the answer's script.
func TestOneClickUnsubscribeInChromium(t *testing.T) {
	t.Parallel()
	o := newOneClickSetup(t)
	target, link := o.target, o.link
	id := o.deliverSigned(t, "chromium@followup.local", "nurture")
	page := o.web.URL + "/messages/" + id

	b := browsertest.Start(t, 90*time.Second)
	start := time.Now()
	resp := b.Load(t, chromedp.Navigate(page))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var offered string
	var answers int
	b.Run(t,
		chromedp.Text(`#unsubscribe + p code`, &offered, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll(".unsubscribe-result").length`, &answers),
	)
	require.Equal(t, link, offered, "the page names the URL it will post to")
	require.Zero(t, answers, "no answer before the click")
	calls, _ := target.snapshot()
	require.Empty(t, calls, "opening the page posts nothing")
	t.Logf("message page shown in %s", time.Since(start).Round(time.Millisecond))

	// The click: the browser posts the page's form to the sink (same-origin, which the sink
	// requires), the sink posts to the target as a mailbox provider does, and redirects the
	// browser back to the message's unsubscribe section.
	start = time.Now()
	resp = b.Load(t, chromedp.Click(`//button[normalize-space()="Unsubscribe (one-click)"]`, chromedp.BySearch))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var at string
	b.Run(t, chromedp.Location(&at))
	require.Equal(t, page+"#unsubscribe", at)
	t.Logf("click to answer shown in %s", time.Since(start).Round(time.Millisecond))
	require.Empty(t, b.CSPViolations(), "the page's CSP lets its form post")

	// Exactly what RFC 8058 §3.2 has a mailbox provider send, once.
	calls, bodies := target.snapshot()
	require.Len(t, calls, 1)
	requireOneClickPost(t, calls[0], bodies[0])
	require.Empty(t, calls[0].Header.Get("Sec-Fetch-Site"), "the sink posts, not the browser")

	// The page shows the answer: its status, and its HTML in a sandboxed frame whose script
	// does not run.
	var status, posted string
	var frames []*cdp.Node
	b.Run(t,
		chromedp.Text(`.unsubscribe-result .badge`, &status, chromedp.ByQuery),
		chromedp.Text(`.unsubscribe-result dd`, &posted, chromedp.ByQuery),
		chromedp.Nodes(`iframe[title="unsubscribe answer"]`, &frames, chromedp.ByQuery),
	)
	require.Equal(t, "200 OK", status)
	require.Contains(t, posted, link)
	require.Len(t, frames, 1)
	// Chromium renders the sandboxed frame as a frame target of its own (an opaque origin,
	// out of the page's process): read it through that target.
	frameCtx, cancelFrame := chromedp.NewContext(b.Ctx(), chromedp.WithTargetID(cdptarget.ID(frames[0].FrameID)))
	defer cancelFrame()
	var answer, ran string
	var scripts int
	require.NoError(t, chromedp.Run(frameCtx,
		chromedp.Text("h1", &answer, chromedp.ByQuery),
		chromedp.Evaluate(`document.scripts.length`, &scripts),
		chromedp.Evaluate(`document.body.dataset.ran ?? ""`, &ran),
	))
	require.Equal(t, "You are unsubscribed", answer)
	require.Equal(t, 1, scripts, "the answer's script is there, shown but not run")
	// The script would mark the body; the frame's sandbox has no allow-modals, so its alert
	// alone would be suppressed even if it ran.
	require.Empty(t, ran, "the answer's script did not run")
	require.Empty(t, b.Dialogs(), "the answer's script did not run")
	require.Empty(t, b.CSPViolations())
}
