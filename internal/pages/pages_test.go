package pages_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// noTemporal is an address nothing answers at: a task closed on a page is recorded, and
// the sweeper would deliver it.
const noTemporal = "127.0.0.1:1"

const password = "correct horse battery"

// apiToken is the API's token on the test site (the ops token of `starter serve`).
const apiToken = "test-token-0123456789abcdef"

// site serves the API with the pages mounted, as starter serve does, over a fresh database.
type site struct {
	t     *testing.T
	srv   *httptest.Server
	pool  *pgxpool.Pool
	store *store.Store
	logs  *lockedLogs
	clock *clock
}

type lockedLogs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newSite(t *testing.T) *site {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	c, err := client.NewLazyClient(client.Options{HostPort: noTemporal, Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	logs := &lockedLogs{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	clk := &clock{now: time.Now()}
	svc := &deals.Service{Store: st, Temporal: c}
	p := &pages.Server{Deals: svc, Logger: logger, Now: clk.Now}
	h := (&httpapi.Server{Deals: svc, Token: apiToken, Logger: logger, Pages: p.Handler()}).Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, pool: pool, store: st, logs: logs, clock: clk}
}

// user adds a user with the test password (none when pw is "").
func (s *site) user(email string, role store.Role, pw string) store.User {
	s.t.Helper()
	u, err := s.store.AddUser(context.Background(), email, "", role)
	require.NoError(s.t, err)
	if pw != "" {
		h, err := pages.HashPassword(pw)
		require.NoError(s.t, err)
		_, err = s.store.SetPassword(context.Background(), email, h)
		require.NoError(s.t, err)
	}
	return u
}

func (s *site) deal(owner, contact, firstName string) store.Deal {
	s.t.Helper()
	return s.dealOn(cadence.DefaultVersion, owner, contact, firstName)
}

func (s *site) dealOn(version int64, owner, contact, firstName string) store.Deal {
	s.t.Helper()
	c, err := s.store.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: contact, Title: "Pilot for " + contact,
		Owner:          store.OwnerInput{Email: owner, Zone: "Europe/Paris"},
		Contact:        store.ContactInput{Email: contact, FirstName: firstName, LastName: "Stone"},
		CadenceVersion: version, EventID: "create:" + contact, SourceTime: time.Now(),
	})
	require.NoError(s.t, err)
	return c.Deal
}

func (s *site) task(d store.Deal, step string, due time.Time) int64 {
	s.t.Helper()
	task, err := s.store.CreateTask(context.Background(), store.NewTask{DealID: d.ID, Visit: 1, StepID: step, Occurrence: 1,
		Kind: "call", Title: "Call about " + step, DueAt: due, At: time.Now()})
	require.NoError(s.t, err)
	return task.ID
}

// events counts the inbound events recorded.
func (s *site) events() int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_events WHERE source = 'pages'`).Scan(&n))
	return n
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	s *site
	c *http.Client
}

func (s *site) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(s.t, err)
	return &browser{s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, headers ...string) page {
	b.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.srv.URL+path, body)
	require.NoError(b.s.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml") // as a browser asks
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.c.Do(req)
	require.NoError(b.s.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(b.s.t, err)
	return page{status: res.StatusCode, header: res.Header, body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	require.NotNil(t, m, "no CSRF field in the page: %s", p.body)
	return m[1]
}

// login fills the login form as a person would.
func (b *browser) login(email, pw string) page {
	b.s.t.Helper()
	form := b.do("GET", "/login", nil)
	require.Equal(b.s.t, http.StatusOK, form.status)
	return b.do("POST", "/login", url.Values{"csrf": {csrfOf(b.s.t, form)}, "email": {email}, "password": {pw}})
}

// loggedIn logs in and returns the CSRF token of the session's pages.
func (b *browser) loggedIn(email string) string {
	b.s.t.Helper()
	r := b.login(email, password)
	require.Equal(b.s.t, http.StatusSeeOther, r.status, r.body)
	tasks := b.do("GET", "/tasks", nil)
	require.Equal(b.s.t, http.StatusOK, tasks.status, tasks.body)
	return csrfOf(b.s.t, tasks)
}

func TestLoginOpensASessionWithSafeCookies(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	b := s.browser()

	r := b.do("GET", "/", nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/login", r.header.Get("Location"))
	r = b.do("GET", "/tasks", nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.True(t, strings.HasPrefix(r.header.Get("Location"), "/login?next="), r.header.Get("Location"))

	r = b.login("ana@vendor.example", password)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, "/tasks", r.header.Get("Location"))
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "fu_session" {
			session = c
		}
	}
	require.NotNil(t, session)
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, session.SameSite)
	require.False(t, session.Secure, "plain http on loopback")
	require.InDelta(t, (12 * time.Hour).Seconds(), float64(session.MaxAge), 1)
	// Only the id's hash is stored.
	var stored string
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT id_hash FROM sessions`).Scan(&stored))
	require.Equal(t, store.HashToken(session.Value), stored)

	require.Equal(t, "/tasks", b.do("GET", "/", nil).header.Get("Location"))
	csrf := csrfOf(t, b.do("GET", "/tasks", nil))
	r = b.do("POST", "/logout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, http.StatusSeeOther, b.do("GET", "/tasks", nil).status, "logged out")
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n))
	require.Zero(t, n)
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	s.user("bot@vendor.example", store.RoleIntegration, password)
	s.user("gone@vendor.example", store.RoleRep, password)
	_, err := s.store.DisableUser(context.Background(), "gone@vendor.example")
	require.NoError(t, err)
	s.user("nopw@vendor.example", store.RoleRep, "")

	for _, c := range []struct{ name, email, pw string }{
		{"wrong password", "ana@vendor.example", "not the password"},
		{"unknown user", "who@vendor.example", password},
		{"integration user", "bot@vendor.example", password},
		{"disabled user", "gone@vendor.example", password},
		{"no password set", "nopw@vendor.example", ""},
	} {
		r := s.browser().login(c.email, c.pw)
		require.Equal(t, http.StatusUnauthorized, r.status, c.name)
		require.Contains(t, r.body, "Wrong email or password", c.name)
		require.Empty(t, (&http.Response{Header: r.header}).Cookies()[1:], c.name) // only the login form's fresh token
	}
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n))
	require.Zero(t, n)
	logs := s.logs.String()
	require.Contains(t, logs, "an integration user may not log in")
	require.Contains(t, logs, "the user is disabled")
	require.Equal(t, 5, strings.Count(logs, "pages: login failed"))
	require.NotContains(t, logs, password)
	require.NotContains(t, logs, "not the password")

	// A login form posted without its token writes nothing.
	r := s.browser().do("POST", "/login", url.Values{"email": {"ana@vendor.example"}, "password": {password}})
	require.Equal(t, http.StatusForbidden, r.status)
}

func TestLoginIsRateLimitedPerEmailAndAddress(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	b := s.browser()
	for i := range 5 {
		require.Equal(t, http.StatusUnauthorized, b.login("ana@vendor.example", "guess "+strconv.Itoa(i)).status)
	}
	r := b.login("ana@vendor.example", password)
	require.Equal(t, http.StatusTooManyRequests, r.status, "the right password waits too")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Contains(t, s.logs.String(), "too many attempts")
	// Another email from the same address is counted apart.
	s.user("ben@vendor.example", store.RoleRep, password)
	require.Equal(t, http.StatusSeeOther, b.login("ben@vendor.example", password).status)

	s.clock.advance(61 * time.Second)
	require.Equal(t, http.StatusSeeOther, b.login("ana@vendor.example", password).status)
}

// Guesses sent in parallel are counted as they are let in: at most the limit of them reach
// the password check, however many arrive at once.
func TestParallelGuessesAreLimitedToo(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	const guesses = 20
	browsers := make([]*browser, guesses)
	forms := make([]url.Values, guesses)
	for i := range browsers {
		browsers[i] = s.browser()
		form := browsers[i].do("GET", "/login", nil)
		forms[i] = url.Values{"csrf": {csrfOf(t, form)}, "email": {"ana@vendor.example"}, "password": {"guess " + strconv.Itoa(i)}}
	}
	statuses := make(chan int, guesses)
	var wg sync.WaitGroup
	for i := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- browsers[i].do("POST", "/login", forms[i]).status
		}()
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for st := range statuses {
		if st == http.StatusUnauthorized {
			checked++
		} else {
			require.Equal(t, http.StatusTooManyRequests, st)
		}
	}
	require.Equal(t, 5, checked, "the limit, not more")
}

// Only failures count: logging in again and again is never refused, and a success forgets
// the failures before it.
func TestSuccessfulLoginsAreNotRateLimited(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	b := s.browser()
	for range 8 {
		require.Equal(t, http.StatusSeeOther, b.login("ana@vendor.example", password).status)
	}
	for round := range 3 {
		for i := range 4 {
			require.Equal(t, http.StatusUnauthorized, b.login("ana@vendor.example", "guess "+strconv.Itoa(i)).status, "round %d", round)
		}
		require.Equal(t, http.StatusSeeOther, b.login("ana@vendor.example", password).status, "round %d: four failures, then the right one", round)
	}
}

func TestPostWithoutCSRFTokenIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	task := s.task(d, "call-1", time.Now().Add(time.Hour))
	b := s.browser()
	csrf := b.loggedIn("ana@vendor.example")
	path := "/deals/" + d.ID + "/tasks/" + strconv.FormatInt(task, 10) + "/done"

	for name, form := range map[string]url.Values{
		"no token":    {},
		"wrong token": {"csrf": {csrf + "x"}},
		"empty token": {"csrf": {""}},
	} {
		r := b.do("POST", path, form)
		require.Equal(t, http.StatusForbidden, r.status, name)
	}
	r := b.do("POST", path, url.Values{}, "HX-Request", "true", "X-CSRF-Token", "nope")
	require.Equal(t, http.StatusForbidden, r.status)
	// To htmx, the refusal is the task's row with the reason, swapped in place.
	require.Contains(t, r.body, `id="task-`+strconv.FormatInt(task, 10)+`"`)
	require.Contains(t, r.body, `role="alert"`)
	require.NotContains(t, r.body, "<html")
	require.Zero(t, s.events(), "a refused POST writes nothing")
	r = b.do("POST", "/deals/"+d.ID+"/tasks/"+strconv.FormatInt(task, 10)+"/snooze", url.Values{"until_on": {"2030-01-02"}})
	require.Equal(t, http.StatusForbidden, r.status)
	require.Zero(t, s.events())
	require.Contains(t, s.logs.String(), "without the session's CSRF token")

	// With the token (the header htmx can send, or the field), the task closes.
	r = b.do("POST", path, url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, 1, s.events())
	var actor string
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT actor FROM inbound_events WHERE source = 'pages'`).Scan(&actor))
	require.Equal(t, "user:ana@vendor.example", actor)
}

func TestRepReachesOnlyTheirOwnDealsAndTasks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	s.user("ben@vendor.example", store.RoleRep, password)
	s.user("ops@vendor.example", store.RoleOps, password)
	mine := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	theirs := s.deal("ben@vendor.example", "cat@prospect.example", "Cat")
	theirTask := s.task(theirs, "call-1", time.Now().Add(time.Hour))
	s.task(mine, "call-1", time.Now().Add(time.Hour))

	b := s.browser()
	csrf := b.loggedIn("ana@vendor.example")
	require.Equal(t, http.StatusOK, b.do("GET", "/deals/"+mine.ID, nil).status)
	r := b.do("GET", "/deals/"+theirs.ID, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.NotContains(t, r.body, "cat@prospect.example")
	r = b.do("GET", "/deals/crm:cat@prospect.example", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	for _, action := range []string{"done", "skip", "snooze"} {
		r = b.do("POST", "/deals/"+theirs.ID+"/tasks/"+strconv.FormatInt(theirTask, 10)+"/"+action,
			url.Values{"csrf": {csrf}, "until_on": {"2030-01-02"}})
		require.Equal(t, http.StatusNotFound, r.status, action)
	}
	// Their task through my deal's path: the task is not my deal's.
	r = b.do("POST", "/deals/"+mine.ID+"/tasks/"+strconv.FormatInt(theirTask, 10)+"/done", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusNotFound, r.status)
	require.Zero(t, s.events())

	tasks := b.do("GET", "/tasks?owner=ben@vendor.example", nil)
	require.NotContains(t, tasks.body, "cat@prospect.example", "a rep's ?owner= is ignored")
	list := b.do("GET", "/deals?owner=ben@vendor.example", nil)
	require.Contains(t, list.body, "bob@prospect.example")
	require.NotContains(t, list.body, "cat@prospect.example")

	ops := s.browser()
	ops.loggedIn("ops@vendor.example")
	list = ops.do("GET", "/deals", nil)
	require.Contains(t, list.body, "bob@prospect.example")
	require.Contains(t, list.body, "cat@prospect.example")
	require.Equal(t, http.StatusOK, ops.do("GET", "/deals/"+theirs.ID, nil).status)
	require.Contains(t, ops.do("GET", "/tasks?owner=ben@vendor.example", nil).body, "Call about call-1")
}

func TestPagesEscapeWhatTheyShow(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	const evil = "<script>alert(1)</script>"
	d := s.deal("ana@vendor.example", "eve@prospect.example", evil)
	s.task(d, "call-1", time.Now().Add(time.Hour))
	b := s.browser()
	b.loggedIn("ana@vendor.example")
	for _, path := range []string{"/tasks", "/deals/" + d.ID} {
		r := b.do("GET", path, nil)
		require.Equal(t, http.StatusOK, r.status, path)
		require.NotContains(t, r.body, evil, path)
		require.Contains(t, r.body, "&lt;script&gt;alert(1)&lt;/script&gt;", path)
		require.Contains(t, r.header.Get("Content-Security-Policy"), "script-src 'self'", path)
	}
	// The login form echoes the email typed, escaped.
	r := s.browser().login(`"><script>alert(2)</script>`, "x")
	require.NotContains(t, r.body, "<script>alert(2)")
}

func TestRootAnswersJSONToClientsAndRedirectsBrowsers(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser()
	r := b.do("GET", "/", nil, "Accept", "application/json")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `"routes"`)
	r = b.do("GET", "/", nil, "Accept", "*/*")
	require.Equal(t, http.StatusOK, r.status, "curl's default: the index")
	require.Contains(t, r.body, `"routes"`)
	r = b.do("GET", "/", nil, "Accept", "text/html,application/xhtml+xml")
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/login", r.header.Get("Location"))
	// Paths neither serves are still the API's JSON problems.
	r = b.do("GET", "/nope", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "json")
	r = b.do("GET", "/assets/htmx.min.js", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "javascript")
}

// The vendored htmx is the file README.md names.
func TestVendoredHtmxIsTheRecordedFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("assets/htmx.min.js")
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	readme, err := os.ReadFile("assets/README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "htmx 2.0.4")
	require.Contains(t, string(readme), "File sha256 `"+hex.EncodeToString(sum[:])+"`")
}

func TestHashPasswordBounds(t *testing.T) {
	t.Parallel()
	_, err := pages.HashPassword("short")
	require.Error(t, err)
	_, err = pages.HashPassword(strings.Repeat("x", 73))
	require.Error(t, err)
	h, err := pages.HashPassword(password)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$2"), h)
}

// A blocking task says, on My tasks, that the later steps wait for it.
func TestBlockingTaskSaysItHoldsTheLaterSteps(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	p := cadence.Default()
	for i, st := range p.Stages {
		for j, step := range st.Steps {
			if step.ID == "qualify-call" {
				p.Stages[i].Steps[j].Blocking = true
			}
		}
	}
	cv, err := s.store.PublishCadence(ctx, 1, p)
	require.NoError(t, err)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.dealOn(cv.Version, "ana@vendor.example", "bob@prospect.example", "Bob")
	require.NoError(t, s.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "qualification", At: time.Now(), Source: "test"}))
	blocking := s.task(d, "qualify-call", time.Now().Add(time.Hour))
	s.task(d, "other-call", time.Now().Add(2*time.Hour))
	b := s.browser()
	b.loggedIn("ana@vendor.example")
	body := b.do("GET", "/tasks", nil).body
	require.Equal(t, 1, strings.Count(body, "Blocking: the later steps"), body)
	require.Contains(t, body, `class="task blocking" id="task-`+strconv.FormatInt(blocking, 10)+`"`)
}

// The deals page marks stale and near-limit deals and filters by stage; times show in the
// viewer's zone.
func TestDealsPageMarksStaleAndNearLimit(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	set := func(d store.Deal, stage string, entered, deadline, next time.Time) {
		_, err := s.pool.Exec(ctx, `UPDATE deals SET stage = $5, stage_entered_at = $2, stage_deadline = $3,
			next_action_at = $4 WHERE id = $1`, d.ID, entered, deadline, next, stage)
		require.NoError(t, err)
	}
	s.user("ana@vendor.example", store.RoleRep, password)
	stale := s.deal("ana@vendor.example", "c1@prospect.example", "C1")
	set(stale, "prospecting", now.Add(-10*day), now.Add(-time.Hour), now.Add(time.Hour))
	near := s.deal("ana@vendor.example", "c2@prospect.example", "C2")
	set(near, "prospecting", now.Add(-10*day), now.Add(day), now.Add(2*time.Hour))
	fresh := s.deal("ana@vendor.example", "c3@prospect.example", "C3")
	set(fresh, "qualification", now.Add(-day), now.Add(10*day), now.Add(3*time.Hour))

	b := s.browser()
	b.loggedIn("ana@vendor.example")
	body := b.do("GET", "/deals", nil).body
	rowOf := func(body string, d store.Deal) string {
		i := strings.Index(body, `href="/deals/`+d.ID+`"`)
		require.Positive(t, i, "deal %s listed", d.ID)
		start := strings.LastIndex(body[:i], "<tr")
		end := strings.Index(body[i:], "</tr>")
		return body[start : i+end]
	}
	require.Contains(t, rowOf(body, stale), `class="stale"`)
	require.Contains(t, rowOf(body, stale), ">stale<")
	require.Contains(t, rowOf(body, near), `class="near"`)
	require.Contains(t, rowOf(body, near), ">near limit<")
	require.NotContains(t, rowOf(body, fresh), "stale")
	require.NotContains(t, rowOf(body, fresh), "near")
	require.Less(t, strings.Index(body, stale.ID), strings.Index(body, near.ID), "by next action")
	require.Contains(t, body, " CET", "Europe/Paris, Ana's zone")

	body = b.do("GET", "/deals?stage=qualification", nil).body
	require.Contains(t, body, fresh.ID)
	require.NotContains(t, body, stale.ID)
}

// A session ends after its time, and the login cookie is Secure behind https.
func TestSessionExpiresAndSecureCookies(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	b := s.browser()
	b.loggedIn("ana@vendor.example")
	_, err := s.pool.Exec(context.Background(), `UPDATE sessions SET expires_at = now() - interval '1 second'`)
	require.NoError(t, err)
	r := b.do("GET", "/tasks", nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	require.True(t, strings.HasPrefix(r.header.Get("Location"), "/login"))

	// Behind TLS (or with PUBLIC_BASE_URL https: SecureCookies), every cookie is Secure.
	svc := &deals.Service{Store: s.store}
	tls := httptest.NewTLSServer((&pages.Server{Deals: svc}).Handler())
	defer tls.Close()
	c := tls.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(tls.URL + "/login")
	require.NoError(t, err)
	res.Body.Close()
	require.NotEmpty(t, res.Cookies())
	for _, ck := range res.Cookies() {
		require.True(t, ck.Secure, ck.Name)
		require.True(t, ck.HttpOnly, ck.Name)
	}
}

// Skip and snooze answer htmx with the task's row, which says what happened.
func TestSkipAndSnoozeInPlace(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	one := s.task(d, "call-1", time.Now().Add(time.Hour))
	two := s.task(d, "call-2", time.Now().Add(time.Hour))
	b := s.browser()
	csrf := b.loggedIn("ana@vendor.example")
	base := "/deals/" + d.ID + "/tasks/"

	r := b.do("POST", base+strconv.FormatInt(one, 10)+"/skip", url.Values{"title": {"Call about call-1"}}, "HX-Request", "true", "X-CSRF-Token", csrf)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.body, `id="task-`+strconv.FormatInt(one, 10)+`"`)
	require.Contains(t, r.body, "Skipped.")
	on := time.Now().AddDate(0, 0, 10).Format(time.DateOnly)
	r = b.do("POST", base+strconv.FormatInt(two, 10)+"/snooze", url.Values{"csrf": {csrf}, "until_on": {on}}, "HX-Request", "true")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.body, "Snoozed to "+on)
	r = b.do("POST", base+strconv.FormatInt(two, 10)+"/snooze", url.Values{"csrf": {csrf}, "until_on": {"yesterday"}}, "HX-Request", "true")
	require.Equal(t, http.StatusBadRequest, r.status, r.body)
	require.Contains(t, r.body, `role="alert"`)
	require.Equal(t, 2, s.events())
	var kinds []string
	rows, err := s.pool.Query(context.Background(), `SELECT kind FROM inbound_events WHERE source = 'pages' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	require.Len(t, kinds, 2)
}

// A page asked for before login is where the login lands; a next that leaves the site is
// dropped.
func TestLoginReturnsToThePageAskedFor(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	for next, want := range map[string]string{
		"/deals/" + d.ID:       "/deals/" + d.ID,
		"//evil.example/x":     "/tasks",
		"https://evil.example": "/tasks",
		"/\\evil.example":      "/tasks",
	} {
		b := s.browser()
		r := b.do("GET", "/login?next="+url.QueryEscape(next), nil)
		require.Equal(t, http.StatusOK, r.status)
		r = b.do("POST", "/login", url.Values{"csrf": {csrfOf(t, r)}, "email": {"ana@vendor.example"}, "password": {password},
			"next": {next}})
		require.Equal(t, http.StatusSeeOther, r.status, next)
		require.Equal(t, want, r.header.Get("Location"), next)
	}
	r := s.browser().do("GET", "/deals/"+d.ID, nil)
	require.Equal(t, "/login?next="+url.QueryEscape("/deals/"+d.ID), r.header.Get("Location"))
}

// The deal page shows the deal's value exactly as stored, or says there is none.
func TestDealPageShowsTheValue(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	none := s.deal("ana@vendor.example", "cat@prospect.example", "Cat")
	_, err := s.store.SetDealValue(context.Background(), d.ID, store.ValueChange{
		DealValue: store.DealValue{Amount: "12000.50", Currency: "EUR", ExpectedCloseOn: "2027-03-31"}, Source: "cli"})
	require.NoError(t, err)
	b := s.browser()
	b.loggedIn("ana@vendor.example")
	r := b.do("GET", "/deals/"+d.ID, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "12000.50 EUR, expected to close 2027-03-31")
	r = b.do("GET", "/deals/"+none.ID, nil)
	require.Contains(t, r.body, `<dd id="deal-value">no amount</dd>`)
}
