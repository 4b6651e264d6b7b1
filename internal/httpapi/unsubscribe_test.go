package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	mailpkg "github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/internal/unsubscribe"
	"github.com/followup-engine/followup/workflows"
)

// publicBase is the PUBLIC_BASE_URL the emails of these tests carry; requests go to the
// test server under the same path.
const publicBase = "https://followup.example.test"

// unsubAPI is the real API with unsubscribe links configured, and the real send activity
// over a real SMTP server, on one database: an email's link is followed to its opt-out.
type unsubAPI struct {
	*api
	signer *unsubscribe.Signer
	links  *unsubscribe.Links
	smtp   *smtptest.Server
	acts   *activities.Activities
}

func newUnsubAPI(t *testing.T, temporalAddr string) *unsubAPI {
	t.Helper()
	pool := pgtest.New(t)
	st := store.New(pool)
	signer, err := unsubscribe.NewSigner(bytes.Repeat([]byte("s"), 32))
	require.NoError(t, err)
	return withUnsubAPI(t, st, signer, temporalAddr)
}

// withUnsubAPI serves an API over st whose Temporal is at temporalAddr.
func withUnsubAPI(t *testing.T, st *store.Store, signer *unsubscribe.Signer, temporalAddr string) *unsubAPI {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: temporalAddr, Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	logs := &smtptest.LockedBuffer{} // the race test's requests log concurrently
	h := (&httpapi.Server{Deals: &deals.Service{Store: st, Temporal: c}, Token: token, Unsubscribe: signer,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	links, err := unsubscribe.NewLinks(publicBase, signer)
	require.NoError(t, err)
	smtp := smtptest.Start(t)
	sender, err := mailpkg.NewSender(mailpkg.Config{Host: smtp.Host(), Port: smtp.Port(), TLS: mailpkg.TLSPolicy("none"), Timeout: 5 * time.Second})
	require.NoError(t, err)
	acts := &activities.Activities{Store: st, Sender: sender, Mail: activities.MailSettings{
		MessageIDSecret: []byte("0123456789abcdef0123456789abcdef"), MessageIDDomain: "mail.test",
		DefaultFrom: "Sales <sales@vendor.test>", PostalAddress: "Vendor & Co GmbH, Hauptstr. 1, 10115 Berlin",
		Unsubscribe: links,
	}}
	a := &api{t: t, srv: srv, pool: st.Pool(), store: st}
	return &unsubAPI{api: a, signer: signer, links: links, smtp: smtp, acts: acts}
}

// newDeal creates a deal for its own contact (bob<n>@prospect.test) through the front door,
// which starts its workflow.
func (u *unsubAPI) newDeal(n int) store.Deal {
	u.t.Helper()
	ctx := context.Background()
	created, err := (&deals.Service{Store: u.store, Temporal: devServer.Get(u.t).Client()}).Create(ctx, deals.CreateRequest{
		Source: "crm", ExternalID: fmt.Sprintf("deal-%d", n), Title: "Pilot",
		Owner:   store.OwnerInput{Email: "ana@vendor.test", Name: "Ana Rep", Company: "Vendor <Sales> & Co"},
		Contact: store.ContactInput{Email: fmt.Sprintf("bob%d@prospect.test", n), FirstName: "Bob", Company: "Prospect Inc"},
	})
	require.NoError(u.t, err)
	d, err := u.store.DealByID(ctx, created.DealID)
	require.NoError(u.t, err)
	return d
}

// path is the test server's path of a deal's unsubscribe link.
func (u *unsubAPI) path(d store.Deal) string {
	u.t.Helper()
	link, err := u.links.URL(d.ContactID, d.ID, time.Now())
	require.NoError(u.t, err)
	return strings.TrimPrefix(link, publicBase)
}

// page requests an unsubscribe page as a mail client does: no bearer token, no cookie.
func (u *unsubAPI) page(method, path, contentType, body string) response {
	u.t.Helper()
	req, err := http.NewRequest(method, u.srv.URL+path, strings.NewReader(body))
	require.NoError(u.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(u.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(u.t, err)
	return response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
}

const (
	formType = "application/x-www-form-urlencoded"
	oneClick = "List-Unsubscribe=One-Click" // RFC 8058 §3.2
)

// send runs one attempt of the real send activity.
func (u *unsubAPI) send(d store.Deal, step, template string) (activities.SendResult, error) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(temporaltest.QuietLogger())
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(u.acts)
	val, err := env.ExecuteActivity(u.acts.SendEmail, activities.SendInput{DealID: d.ID, CadenceVersion: cadence.DefaultVersion,
		Visit: 1, StepID: step, Occurrence: 1, Template: template})
	if err != nil {
		return activities.SendResult{}, err
	}
	var res activities.SendResult
	if err := val.Get(&res); err != nil {
		return activities.SendResult{}, err
	}
	return res, nil
}

func (u *unsubAPI) ledgerState(d store.Deal, step string) string {
	u.t.Helper()
	entries, err := u.store.Ledger(context.Background(), d.ID)
	require.NoError(u.t, err)
	for _, e := range entries {
		if e.Key.StepID == step {
			return e.State
		}
	}
	u.t.Fatalf("no ledger row for step %s", step)
	return ""
}

func (u *unsubAPI) messagesTo(address string) []smtptest.Received {
	var out []smtptest.Received
	for _, m := range u.smtp.Messages() {
		if slices.Contains(m.To, address) {
			out = append(out, m)
		}
	}
	return out
}

// requireSecurePage checks the headers every unsubscribe page carries.
func requireSecurePage(t *testing.T, r response) {
	t.Helper()
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "style-src 'sha256-"} {
		require.Contains(t, csp, want)
	}
	require.NotContains(t, r.raw, "<script")
	require.NotContains(t, r.raw, "http://", "no external assets")
	require.NotContains(t, r.raw, "https://", "no external assets")
}

// TestEmailCarriesSignedOneClickLinkThatUnsubscribes follows a sent email's own
// List-Unsubscribe URL: the RFC 8058 POST suppresses the contact, the deal's workflow hears
// of it, and the next planned email is skipped.
func TestEmailCarriesSignedOneClickLinkThatUnsubscribes(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)

	res, err := u.send(d, "intro", "intro")
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	msg := u.smtp.WaitForMessages(t, 1, 5*time.Second)[0]
	header := msg.Header.Get("List-Unsubscribe")
	require.Regexp(t, `^<https://followup\.example\.test/u/[A-Za-z0-9_-]{76}>$`, header)
	require.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	link := strings.Trim(header, "<>")
	claims, err := u.signer.Verify(strings.TrimPrefix(link, publicBase+"/u/"))
	require.NoError(t, err)
	require.Equal(t, d.ContactID, claims.ContactID)
	require.Equal(t, d.ID, claims.DealID)
	require.WithinDuration(t, time.Now(), claims.IssuedAt, time.Minute)
	require.NotContains(t, link, "bob1", "the link reveals no address")

	text, html := smtptest.Bodies(t, msg.Data)
	require.Contains(t, text, "Vendor & Co GmbH, Hauptstr. 1, 10115 Berlin\nUnsubscribe: "+link+"\n", "the text footer has the link beside the postal address")
	require.Contains(t, html, `Vendor &amp; Co GmbH, Hauptstr. 1, 10115 Berlin<br><a href="`+link+`">Unsubscribe</a>`, "the HTML footer, escaped")

	before := len(signals(t, d.ID))
	r := u.page("POST", strings.TrimPrefix(link, publicBase), formType, oneClick)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	requireSecurePage(t, r)
	require.Contains(t, r.raw, "You are unsubscribed")
	require.Equal(t, []string{"unsubscribe contact|- unsubscribe-link"}, u.suppressions())
	ev := lastSignal(t, d.ID)
	require.Len(t, signals(t, d.ID), before+1)
	require.Equal(t, workflows.EventEngaged, ev.Kind)
	require.Equal(t, cadence.EngagedUnsubscribe, ev.Engagement, "the workflow stops its emails as for any unsubscribe")
	require.Equal(t, "unsubscribe-link", ev.Source)
	var detail string
	require.NoError(t, u.pool.QueryRow(context.Background(), `SELECT detail FROM suppressions`).Scan(&detail))
	require.Contains(t, detail, "one-click POST (RFC 8058)")
	var answered string
	require.NoError(t, u.pool.QueryRow(context.Background(), `SELECT payload->'answers'->>'step_id' FROM inbound_events
		WHERE deal_id = $1 AND source = 'unsubscribe-link'`, d.ID).Scan(&answered))
	require.Equal(t, "intro", answered, "the opt-out names the email whose link was used, for the per-step statistics")

	// The next email the cadence planned is skipped: the ledger says why, SMTP saw nothing.
	next, err := u.send(d, "value-followup", "value-followup")
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, next.Outcome)
	require.Equal(t, store.EmailSuppressed, u.ledgerState(d, "value-followup"))
	require.Equal(t, 1, u.smtp.Attempts(), "no SMTP transaction after the opt-out")
}

func TestEmailWithoutPublicBaseURLHasNoUnsubscribeLink(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	u.acts.Mail.Unsubscribe = nil
	d := u.newDeal(1)
	_, err := u.send(d, "intro", "intro")
	require.NoError(t, err)
	msg := u.smtp.WaitForMessages(t, 1, 5*time.Second)[0]
	require.Empty(t, msg.Header.Get("List-Unsubscribe"))
	require.Empty(t, msg.Header.Get("List-Unsubscribe-Post"))
	require.NotContains(t, string(msg.Data), "/u/")

	// An http base on loopback (make run) gets the RFC 8058 header pair too, so the local
	// stack shows one-click unsubscribe working.
	local, err := unsubscribe.NewLinks(u.srv.URL, u.signer)
	require.NoError(t, err)
	u.acts.Mail.Unsubscribe = local
	_, err = u.send(d, "value-followup", "value-followup")
	require.NoError(t, err)
	msg = u.smtp.WaitForMessages(t, 2, 5*time.Second)[1]
	require.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	link := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
	require.True(t, strings.HasPrefix(link, u.srv.URL+"/u/"), link)
	r := u.page("GET", strings.TrimPrefix(link, u.srv.URL), "", "")
	require.Equal(t, http.StatusOK, r.status, "the link opens the confirmation page")

	// Any other http base puts the link in the footer only: RFC 8058 headers need https.
	plain, err := unsubscribe.NewLinks("http://followup.internal:8080", u.signer)
	require.NoError(t, err)
	u.acts.Mail.Unsubscribe = plain
	_, err = u.send(d, "qualification-followup", "qualification-followup")
	require.NoError(t, err)
	msg = u.smtp.WaitForMessages(t, 3, 5*time.Second)[2]
	require.Empty(t, msg.Header.Get("List-Unsubscribe"))
	require.Empty(t, msg.Header.Get("List-Unsubscribe-Post"))
	text, _ := smtptest.Bodies(t, msg.Data)
	_, footer, ok := strings.Cut(text, "Unsubscribe: ")
	require.True(t, ok, text)
	require.True(t, strings.HasPrefix(strings.TrimSpace(footer), "http://followup.internal:8080/u/"), footer)
}

func TestUnsubscribeGetChangesNothing(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(7)
	path := u.path(d)
	before := u.counts()
	sigs := len(signals(t, d.ID))

	for range 3 { // scanners prefetch, previews fetch again
		r := u.page("GET", path, "", "")
		require.Equal(t, http.StatusOK, r.status, r.raw)
		requireSecurePage(t, r)
		require.Contains(t, r.raw, "Unsubscribe b***@prospect.test from emails by Vendor &lt;Sales&gt; &amp; Co?",
			"masked address, owner company, escaped")
		require.NotContains(t, r.raw, "bob7")
		token := strings.TrimPrefix(path, "/u/")
		require.Contains(t, r.raw, `<form method="post" action="`+token+`">`, "the form posts to the page's own URL")
		require.Contains(t, r.raw, `<input type="hidden" name="List-Unsubscribe" value="One-Click">`)
	}
	require.Equal(t, http.StatusOK, u.page("HEAD", path, "", "").status)
	require.Empty(t, u.suppressions(), "GET never unsubscribes")
	require.Equal(t, before, u.counts())
	require.Len(t, signals(t, d.ID), sigs)
	suppressed, err := u.store.Suppressed(context.Background(), d.ContactID, "bob7@prospect.test")
	require.NoError(t, err)
	require.False(t, suppressed)

	// Once unsubscribed, the page says so and offers no button.
	require.Equal(t, http.StatusOK, u.page("POST", path, formType, oneClick).status)
	r := u.page("GET", path, "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.raw, "You are unsubscribed")
	require.NotContains(t, r.raw, "<form")
}

func TestUnsubscribePostIsIdempotent(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)
	path := u.path(d)
	sigs := len(signals(t, d.ID))

	first := u.page("POST", path, formType, oneClick)
	require.Equal(t, http.StatusOK, first.status, first.raw)
	require.Contains(t, first.raw, "b***@prospect.test will receive no more emails from Vendor &lt;Sales&gt; &amp; Co.")
	second := u.page("POST", path, formType, oneClick)
	require.Equal(t, http.StatusOK, second.status, second.raw)
	require.Equal(t, first.raw, second.raw, "the same success page")

	// RFC 8058 also allows multipart/form-data; the page's own form posts the urlencoded body.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	require.NoError(t, w.WriteField("List-Unsubscribe", "One-Click"))
	require.NoError(t, w.Close())
	third := u.page("POST", path, w.FormDataContentType(), mp.String())
	require.Equal(t, http.StatusOK, third.status, third.raw)
	require.Equal(t, first.raw, third.raw)
	// Another email's link for the same deal (issued later) is the same opt-out.
	time.Sleep(1100 * time.Millisecond)
	other := u.path(d)
	require.NotEqual(t, path, other)
	require.Equal(t, http.StatusOK, u.page("POST", other, "", "").status, "an empty body is accepted: the token authorises")

	require.Equal(t, []string{"unsubscribe contact|- unsubscribe-link"}, u.suppressions(), "one suppression row")
	var events int
	require.NoError(t, u.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_events WHERE source = 'unsubscribe-link'`).Scan(&events))
	require.Equal(t, 1, events, "one inbound event: repeats are duplicates")
	require.Len(t, signals(t, d.ID), sigs+1, "the workflow is signalled once")
}

func TestUnsubscribeRefusesBadTokensAndWritesNothing(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)
	path := u.path(d)
	good := strings.TrimPrefix(path, "/u/")
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherSigner, err := unsubscribe.NewSigner(bytes.Repeat([]byte("o"), 32))
	require.NoError(t, err)
	otherSecret, err := otherSigner.Sign(unsubscribe.Claims{ContactID: d.ContactID, DealID: d.ID, IssuedAt: time.Now()})
	require.NoError(t, err)
	unknownContact, err := u.signer.Sign(unsubscribe.Claims{ContactID: "00000000-0000-4000-8000-000000000001", DealID: d.ID, IssuedAt: time.Now()})
	require.NoError(t, err)
	bad := map[string]string{
		"first char flipped":  flip(0),
		"middle char flipped": flip(len(good) / 2),
		"last char flipped":   flip(len(good) - 1),
		"truncated":           good[:len(good)-1],
		"truncated by half":   good[:len(good)/2],
		"extended":            good + "A",
		"other secret":        otherSecret,
		"unknown contact":     unknownContact,
		"garbage":             "not-a-token",
		"long garbage":        strings.Repeat("A", 4000),
		"escaped junk":        "%27%22%3E%3Cscript%3E",
	}
	before := u.counts()
	sigs := len(signals(t, d.ID))
	var generic string
	for name, tok := range bad {
		for _, method := range []string{"GET", "POST"} {
			r := u.page(method, "/u/"+tok, formType, oneClick)
			require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", method, name, r.raw)
			requireSecurePage(t, r)
			require.Contains(t, r.raw, "This link is not valid")
			if generic == "" {
				generic = r.raw
			}
			require.Equal(t, generic, r.raw, "%s %s: one generic page, no detail", method, name)
		}
	}
	require.NotContains(t, generic, "bob1")
	require.Empty(t, u.suppressions(), "nothing written")
	require.Equal(t, before, u.counts())
	require.Len(t, signals(t, d.ID), sigs)

	// An API without a secret verifies nothing.
	off := httptest.NewServer((&httpapi.Server{Deals: &deals.Service{Store: u.store}, Token: token,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer off.Close()
	resp, err := http.Post(off.URL+path, formType, strings.NewReader(oneClick))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Empty(t, u.suppressions())
}

func TestUnsubscribeBodyIsBounded(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)
	path := u.path(d)
	big := oneClick + "&pad=" + strings.Repeat("x", httpapi.MaxUnsubscribeBodyBytes)
	r := u.page("POST", path, formType, big)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.raw)
	require.Contains(t, r.raw, "This link is not valid")
	r = u.page("POST", path, "text/plain", strings.Repeat("x", 2*httpapi.MaxUnsubscribeBodyBytes))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.raw)
	r = u.page("POST", path, "multipart/form-data; boundary=zzz", "--zzz\r\nbroken")
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Empty(t, u.suppressions(), "a refused body unsubscribes no one")
	r = u.page("POST", path, formType, oneClick)
	require.Equal(t, http.StatusOK, r.status, r.raw)
}

func TestUnsubscribeOfAClosedDealStillSuppresses(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	d := u.newDeal(1)
	require.NoError(t, u.store.MarkClosed(context.Background(), d.ID, "lost", 1, time.Now()))
	r := u.page("POST", u.path(d), formType, oneClick)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Contains(t, r.raw, "You are unsubscribed")
	require.Equal(t, []string{"unsubscribe contact|- unsubscribe-link"}, u.suppressions())
	// A new deal for the same contact stays suppressed.
	again, err := u.store.CreateDeal(context.Background(), store.NewDeal{Source: "crm", ExternalID: "deal-1-again",
		Owner: store.OwnerInput{Email: "ana@vendor.test"}, Contact: store.ContactInput{Email: "bob1@prospect.test"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:deal-1-again", SourceTime: time.Now()})
	require.NoError(t, err)
	res, err := u.send(again.Deal, "intro", "intro")
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, res.Outcome)
	require.Zero(t, u.smtp.Attempts())
}

func TestUnsubscribeIsCommittedWhenTemporalIsDown(t *testing.T) {
	t.Parallel()
	live := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	down := withUnsubAPI(t, live.store, live.signer, "127.0.0.1:1")
	d := live.newDeal(1)
	path := live.path(d)

	r := down.page("POST", path, formType, oneClick)
	require.Equal(t, http.StatusOK, r.status, "the opt-out is committed; the prospect gets the success page")
	require.Contains(t, r.raw, "You are unsubscribed")
	require.Equal(t, []string{"unsubscribe contact|- unsubscribe-link"}, live.suppressions())
	res, err := live.send(d, "intro", "intro")
	require.NoError(t, err)
	require.Equal(t, activities.SendSuppressed, res.Outcome, "sends stop without waiting for the workflow")

	// A repeated POST, once Temporal answers, signals the recorded event.
	r = live.page("POST", path, formType, oneClick)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, cadence.EngagedUnsubscribe, lastSignal(t, d.ID).Engagement)
	var state string
	require.NoError(t, live.pool.QueryRow(context.Background(), `SELECT state FROM inbound_events WHERE source = 'unsubscribe-link'`).Scan(&state))
	require.Equal(t, "signalled", state)
	require.Len(t, live.suppressions(), 1)
}

// TestOptOutRacingASendIsNeverFollowedByIt runs the one-click POST and the real send
// activity at the same moment, many times. The send and the opt-out take the same contact
// lock, so each race ends one of two ways: the send got the lock first and its message
// arrived before the opt-out returned, or the opt-out committed first and nothing was sent.
func TestOptOutRacingASendIsNeverFollowedByIt(t *testing.T) {
	t.Parallel()
	u := newUnsubAPI(t, devServer.Get(t).FrontendHostPort())
	const rounds = 20
	var sentFirst, optOutFirst int
	for i := range rounds {
		d := u.newDeal(100 + i)
		address := fmt.Sprintf("bob%d@prospect.test", 100+i)
		path := u.path(d)
		if i%2 == 1 {
			// Every other round the server is slow after DATA, so the send holds the lock
			// for a while and the opt-out must wait for it.
			u.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Stall: 50 * time.Millisecond})
		}
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			post     response
			postDone time.Time
			res      activities.SendResult
			sendErr  error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", u.srv.URL+path, strings.NewReader(oneClick))
			req.Header.Set("Content-Type", formType)
			resp, err := http.DefaultClient.Do(req)
			postDone = time.Now()
			if err == nil {
				post.status = resp.StatusCode
				resp.Body.Close()
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			res, sendErr = u.send(d, "intro", "intro")
		}()
		close(start)
		wg.Wait()

		require.Equal(t, http.StatusOK, post.status, "round %d", i)
		require.NoError(t, sendErr, "round %d", i)
		msgs := u.messagesTo(address)
		switch res.Outcome {
		case activities.SendSent:
			sentFirst++
			require.Len(t, msgs, 1, "round %d", i)
			require.True(t, msgs[0].ReceivedAt.Before(postDone),
				"round %d: the message arrived at %s, after the opt-out returned at %s", i, msgs[0].ReceivedAt, postDone)
		case activities.SendSuppressed:
			optOutFirst++
			require.Empty(t, msgs, "round %d: a send after a committed opt-out", i)
			require.Equal(t, store.EmailSuppressed, u.ledgerState(d, "intro"))
		default:
			t.Fatalf("round %d: outcome %s", i, res.Outcome)
		}
		// Whoever won, the opt-out holds from now on.
		next, err := u.send(d, "value-followup", "value-followup")
		require.NoError(t, err)
		require.Equal(t, activities.SendSuppressed, next.Outcome, "round %d", i)
		require.Len(t, u.messagesTo(address), len(msgs), "round %d", i)
	}
	t.Logf("%d rounds: the send won the lock %d times, the opt-out %d times", rounds, sentFirst, optOutFirst)
}
