package pages_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/browsertest"
	"github.com/followup-engine/followup/internal/store"
)

// The reps' pages as a rep uses them, in a real headless Chromium (internal/browsertest),
// which enforces the pages' Content-Security-Policy and runs the vendored htmx.

// browserTimeout bounds everything one test does in its browser.
const browserTimeout = 90 * time.Second

// artifacts is where the screenshots go: .local/artifacts/pages at the module's root
// (ignored by git), so that they outlive the test.
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", ".local", "artifacts", "pages"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func screenshot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	var png []byte
	b.Run(t, chromedp.FullScreenshot(&png, 100)) // quality 100: PNG (below it, JPEG)
	path := filepath.Join(artifacts(t), name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// TestRepWorksTasksInChromium logs in as a rep, sees My tasks, completes a task in place
// (htmx swaps the row; the page is not reloaded), opens the deal page, and logs out.
func TestRepWorksTasksInChromium(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	overdue := s.task(d, "call-1", time.Now().Add(-2*time.Hour))
	s.task(d, "linkedin", time.Now().Add(72*time.Hour))
	other := s.deal("ana@vendor.example", "eve@prospect.example", "<script>alert(1)</script>")
	s.task(other, "call-1", time.Now().Add(24*time.Hour))

	b := browsertest.Start(t, browserTimeout)
	resp := b.Load(t, chromedp.Navigate(s.srv.URL+"/"))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	require.True(t, strings.HasSuffix(resp.URL, "/login"), resp.URL)
	screenshot(t, b, "1-login")

	b.Run(t,
		chromedp.SendKeys(`input[name=email]`, "ana@vendor.example", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
	)
	resp = b.Load(t, chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	require.True(t, strings.HasSuffix(resp.URL, "/tasks"), resp.URL)

	var h1, overdueText string
	var sections []string
	row := "#task-" + strconv.FormatInt(overdue, 10)
	b.Run(t,
		chromedp.WaitReady(row, chromedp.ByQuery),
		chromedp.Text("h1", &h1, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("section.tasks h2"), h => h.innerText.trim())`, &sections),
		chromedp.Text(row, &overdueText, chromedp.ByQuery),
	)
	require.Equal(t, "My tasks", h1)
	require.Len(t, sections, 3)
	require.True(t, strings.HasPrefix(sections[0], "Overdue"), sections)
	require.Contains(t, overdueText, "Call about call-1")
	require.Contains(t, overdueText, "Bob Stone")
	screenshot(t, b, "2-my-tasks")

	// A phone's width: one column, the buttons under the task.
	b.Run(t, chromedp.EmulateViewport(390, 844))
	screenshot(t, b, "3-my-tasks-phone")
	b.Run(t, chromedp.EmulateViewport(1024, 768))

	// Done, in place: the row becomes its message and the page stays.
	var marker, message, url string
	b.Run(t,
		chromedp.Evaluate(`window.stayed = "yes"`, &marker),
		chromedp.Click(row+` form[action$="/done"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(row+` .message`, chromedp.ByQuery),
		chromedp.Text(row+` .message`, &message, chromedp.ByQuery),
		chromedp.Evaluate(`window.stayed`, &marker),
		chromedp.Location(&url),
	)
	require.Contains(t, message, "Done")
	require.Equal(t, "yes", marker, "the page was not reloaded")
	require.True(t, strings.HasSuffix(url, "/tasks"), url)
	require.Equal(t, 1, s.events(), "the task's close is recorded")
	screenshot(t, b, "4-task-done-in-place")

	// The deal page, from the task's link.
	resp = b.Load(t, chromedp.Click(row+` a[href^="/deals/"]`, chromedp.ByQuery))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	require.True(t, strings.HasSuffix(resp.URL, "/deals/"+d.ID), resp.URL)
	var dealH1, timeline string
	b.Run(t,
		chromedp.Text("h1", &dealH1, chromedp.ByQuery),
		chromedp.Text("ul.timeline", &timeline, chromedp.ByQuery),
	)
	require.Equal(t, "Pilot for bob@prospect.example", dealH1)
	require.Contains(t, timeline, "Task: Call about call-1")
	require.Contains(t, timeline, "Event task_closed by user:ana@vendor.example via pages", "who did it")
	screenshot(t, b, "5-deal-page")

	// The deals list, where the contact with a script for a name shows as text.
	resp = b.Load(t, chromedp.Navigate(s.srv.URL+"/tasks"))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	var contacts []string
	b.Run(t, chromedp.Evaluate(`Array.from(document.querySelectorAll(".contact"), c => c.textContent)`, &contacts))
	require.Contains(t, contacts, "<script>alert(1)</script> Stone")
	require.Empty(t, b.Dialogs(), "no script of a contact's name ran")
	resp = b.Load(t, chromedp.Navigate(s.srv.URL+"/deals"))
	require.Equal(t, int64(http.StatusOK), resp.Status)
	screenshot(t, b, "6-deals")

	resp = b.Load(t, chromedp.Click(`form.logout button`, chromedp.ByQuery))
	require.True(t, strings.HasSuffix(resp.URL, "/login"), resp.URL)
	require.Empty(t, b.CSPViolations())
}
