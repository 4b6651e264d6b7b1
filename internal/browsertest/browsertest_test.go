package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/followup-engine/followup/internal/testtier"
)

// TestStartLoadsAPageAndCleansUp starts the browser, loads a loopback page, and checks that
// the browser's processes and profile are gone once the test that started it ends.
func TestStartLoadsAPageAndCleansUp(t *testing.T) {
	testtier.Needs(t, "Chromium") // here too: the checks after the subtest need its browser
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><h1>Hello</h1>`))
	}))
	defer srv.Close()

	var pid int
	var profile string
	t.Run("browse", func(t *testing.T) {
		b := Start(t, 60*time.Second)
		pid, profile = b.pid(), b.profile
		if pid == 0 {
			t.Fatal("no browser process")
		}
		resp := b.Load(t, chromedp.Navigate(srv.URL))
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d", resp.Status)
		}
		var h1 string
		b.Run(t, chromedp.Text("h1", &h1, chromedp.ByQuery))
		if h1 != "Hello" {
			t.Fatalf("h1 %q", h1)
		}
		if v := b.CSPViolations(); len(v) != 0 {
			t.Fatalf("violations on a page that keeps to its policy: %q", v)
		}
		// An image the page's CSP forbids is blocked and reported.
		b.Run(t, chromedp.Evaluate(`document.body.appendChild(Object.assign(document.createElement("img"), {src: "/x.png"})) && 1`, nil))
		deadline := time.Now().Add(5 * time.Second)
		for len(b.CSPViolations()) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if len(b.CSPViolations()) == 0 {
			t.Fatalf("no CSP violation reported; messages: %q", b.Messages())
		}
	})
	if _, err := os.Stat(profile); !os.IsNotExist(err) {
		t.Errorf("profile %s left behind (%v)", profile, err)
	}
	if groupHasMembers(pid) {
		t.Errorf("processes of the browser's group %d left behind", pid)
	}
}

func TestPathNamesTheFix(t *testing.T) {
	t.Setenv(EnvVar, "/nonexistent/chromium")
	_, err := Path()
	if err == nil {
		t.Fatal("no error for a missing binary")
	}
	for _, want := range []string{"CHROMIUM=/nonexistent/chromium", "make test", "ensure-chromium.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
