// Package browsertest starts a real headless Chromium for tests that open the project's
// pages and click them as a person would (driven over the DevTools protocol by chromedp).
//
// The browser is Debian's package, found at $CHROMIUM or /usr/bin/chromium; `make test`
// installs it when missing (internal/devstack/scripts/ensure-chromium.sh) and exports
// CHROMIUM. Nothing here downloads a browser. Each browser gets a fresh profile directory,
// no network but loopback (no proxy, no background networking, host names other than
// localhost do not resolve), and is stopped, with its processes and profile, when the test
// ends or its time is up. In the unit tier (FOLLOWUP_TEST_TIER=unit, make test-unit) Start
// skips its test instead.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/testtier"
)

// DefaultPath is Debian's Chromium launcher.
const DefaultPath = "/usr/bin/chromium"

// EnvVar names the variable that overrides DefaultPath.
const EnvVar = "CHROMIUM"

const installHint = "run the tests with `make test`, which installs Debian's chromium through " +
	"internal/devstack/scripts/ensure-chromium.sh and exports CHROMIUM, or run that script " +
	"(or apt-get install chromium) and set CHROMIUM to the path it prints"

// Path returns the Chromium binary the tests use: $CHROMIUM if set, else DefaultPath. It
// fails when that is not an executable file.
func Path() (string, error) {
	p, what := os.Getenv(EnvVar), EnvVar+"="+os.Getenv(EnvVar)
	if p == "" {
		p, what = DefaultPath, DefaultPath
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return "", fmt.Errorf("headless Chromium not found (%s): %w; %s", what, err, installHint)
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("headless Chromium %s is not an executable file; %s", what, installHint)
	}
	return p, nil
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	ctx     context.Context // the tab, bounded by Start's timeout
	profile string          // the profile directory
	pid     func() int      // the browser's pid (its process group's id), 0 before it starts

	mu       sync.Mutex
	messages []string // console calls, log entries and uncaught exceptions, in order
	dialogs  []string // JavaScript dialogs the page opened (each was dismissed)
}

// Start launches Chromium for t with one blank tab and returns it; everything done through
// Ctx must finish within timeout. The browser, its processes and its profile directory are
// removed when t ends. A missing browser fails t with a message saying how to install it;
// in the unit tier t is skipped.
func Start(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	testtier.Needs(t, "Chromium")
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		t.Fatal(err)
	}
	var (
		out    smtptest.LockedBuffer // Chromium's output, written by chromedp's reader goroutine
		cmd    *exec.Cmd
		cmdMu  sync.Mutex
		deadln = time.Now().Add(timeout)
	)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first run, no background networking, no sync
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox, // root in CI; the pages are the project's own, on loopback
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-proxy-server", true),
		// Only loopback: any other host fails to resolve instead of being reached.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1 , EXCLUDE [::1]"),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(&out),
		chromedp.WSURLReadTimeout(timeout),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			setProcessGroup(c)
			cmdMu.Lock()
			cmd = c
			cmdMu.Unlock()
		}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	timed, cancelTimed := context.WithDeadline(allocCtx, deadln)
	tab, cancelTab := chromedp.NewContext(timed)
	b := &Browser{ctx: tab, profile: profile, pid: func() int {
		cmdMu.Lock()
		defer cmdMu.Unlock()
		if cmd == nil || cmd.Process == nil {
			return 0
		}
		return cmd.Process.Pid
	}}

	t.Cleanup(func() {
		// Close the browser gracefully (bounded), then end the allocator, which waits for
		// the browser process; then kill whatever of its process group is left.
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		done := make(chan struct{})
		go func() { _ = chromedp.Cancel(tab); close(done) }()
		select {
		case <-done:
		case <-closeCtx.Done():
			t.Logf("browsertest: Chromium did not close within 10s; killing it")
		}
		cancelClose()
		cancelTab()
		cancelTimed()
		cancelAlloc()
		if !killProcessGroup(b.pid(), 10*time.Second) {
			t.Logf("browsertest: processes of Chromium's group %d are still there 10s after SIGKILL", b.pid())
		}
		removeProfile(t, profile)
		if t.Failed() {
			t.Logf("browsertest: page messages:\n%s", strings.Join(b.Messages(), "\n"))
			t.Logf("browsertest: Chromium output (D-Bus complaints left out):\n%s", withoutDBus(out.String()))
		}
	})

	chromedp.ListenTarget(tab, b.listen)
	// Launch now, so that a browser that cannot start fails here with its output.
	if err := chromedp.Run(tab); err != nil {
		t.Fatalf("browsertest: starting %s: %v\n%s\nChromium output (D-Bus complaints left out):\n%s", path, err, installHint, withoutDBus(out.String()))
	}
	return b
}

// Ctx is the tab's context, for chromedp.Run. It ends when Start's timeout is up.
func (b *Browser) Ctx() context.Context { return b.ctx }

// Messages lists what the pages wrote to the console or the browser logged for them
// (Content-Security-Policy violations among them) and uncaught exceptions, in order.
func (b *Browser) Messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.messages...)
}

// CSPViolations lists the Content-Security-Policy violations the browser reported: what
// it blocked of what the pages do.
func (b *Browser) CSPViolations() []string {
	var out []string
	for _, m := range b.Messages() {
		if isCSPViolation(m) {
			out = append(out, m)
		}
	}
	return out
}

func isCSPViolation(message string) bool {
	return strings.Contains(strings.ToLower(message), "content security policy")
}

// StepTimeout bounds one Load or Run.
const StepTimeout = 20 * time.Second

// Run runs actions in the tab within StepTimeout and fails t on an error.
func (b *Browser) Run(t testing.TB, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
}

// Load runs actions that load a page (a navigation, a click on a link or a submit button)
// and returns the response to the page's document, after redirects. It fails t when no page
// loads within StepTimeout, and at once when the browser reports a Content-Security-Policy
// violation meanwhile (of the page left or the page loaded): a form the browser refuses to
// submit never loads a page, and the project's pages keep to their own policies.
func (b *Browser) Load(t testing.TB, actions ...chromedp.Action) *network.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	seen := len(b.Messages())
	blocked := make(chan string, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, m := range b.Messages()[seen:] {
				if isCSPViolation(m) {
					blocked <- m
					cancel()
					return
				}
			}
		}
	}()
	resp, err := chromedp.RunResponse(ctx, actions...)
	select {
	case m := <-blocked:
		t.Fatalf("browsertest: the browser blocked what the page does: %s", m)
	default:
	}
	switch {
	case err != nil:
		t.Fatalf("browsertest: no page loaded: %v", err)
	case resp == nil:
		t.Fatalf("browsertest: a page loaded without a response")
	}
	return resp
}

// Dialogs lists the JavaScript dialogs (alert, confirm, prompt) the pages opened.
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

func (b *Browser) add(list *[]string, s string) {
	b.mu.Lock()
	*list = append(*list, s)
	b.mu.Unlock()
}

func (b *Browser) listen(ev any) {
	switch ev := ev.(type) {
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e != nil {
			b.add(&b.messages, fmt.Sprintf("log %s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		b.add(&b.messages, fmt.Sprintf("console %s: %s", ev.Type, strings.Join(parts, " ")))
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.add(&b.messages, "exception: "+msg)
		}
	case *page.EventJavascriptDialogOpening:
		b.add(&b.dialogs, fmt.Sprintf("%s: %s", ev.Type, ev.Message))
		// A dialog stalls the page until handled; dismiss it (not from the listener itself).
		go func() {
			_ = chromedp.Run(b.ctx, chromedp.ActionFunc(func(ctx context.Context) error {
				return page.HandleJavaScriptDialog(false).Do(ctx)
			}))
		}()
	}
}

// removeProfile deletes the profile directory; Chromium's last writes may trail its exit.
func removeProfile(t testing.TB, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("browsertest: removing the profile %s: %v", dir, err)
}

// withoutDBus drops the lines in which Chromium complains that there is no D-Bus (there is
// none on a test machine, and it does not need one), which would bury the rest.
func withoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, ":ERROR:dbus/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
