package pages_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// The deal page of a running deal shows the workflow's live answer (its next actions, with
// the reason for each), as starter deal show does.
func TestDealPageShowsTheWorkflowsLiveView(t *testing.T) {
	t.Parallel()
	server := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL, store.PoolOptions{Other: 4})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	c, err := client.Dial(client.Options{HostPort: server.FrontendHostPort(), Namespace: "default", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	smtp := smtptest.Start(t)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- engine.RunWorker(wctx, config.Worker{
			DatabaseURL: dbURL,
			Temporal:    client.Options{HostPort: server.FrontendHostPort(), Namespace: "default"},
			SMTP:        mail.Config{Host: smtp.Host(), Port: smtp.Port(), TLS: mail.TLSPolicy("none"), Timeout: 5 * time.Second},
			Mail: config.MailIdentity{MessageIDSecret: []byte("pages-test-secret-0123456789abcd"), MessageIDDomain: "pages.test",
				DefaultFrom: "Sales <sales@vendor.test>"},
			SendConcurrency: 2, WorkflowPollers: 2, ActivityPollers: 2,
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("worker did not stop")
		}
	})

	svc := &deals.Service{Store: st, Temporal: c}
	resp, err := svc.Create(ctx, deals.CreateRequest{Source: "crm", ExternalID: "live-1", Title: "Live pilot", // the built-in cadence
		Owner:   store.OwnerInput{Email: "ana@vendor.example", Zone: "Asia/Tokyo"},
		Contact: store.ContactInput{Email: "bob@prospect.example", FirstName: "Bob"}})
	require.NoError(t, err)

	p := &pages.Server{Deals: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), QueryTimeout: 5 * time.Second}
	srv := httptest.NewServer((&httpapi.Server{Deals: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Pages: p.Handler()}).Handler())
	t.Cleanup(srv.Close)
	s := &site{t: t, srv: srv, pool: pool, store: st}
	s.user("ana@vendor.example", store.RoleRep, password)
	b := s.browser()
	b.loggedIn("ana@vendor.example")

	var body string
	require.Eventually(t, func() bool {
		r := b.do("GET", "/deals/"+resp.DealID, nil)
		body = r.body
		// The first answer may come before the workflow planned its stage.
		return r.status == http.StatusOK && strings.Contains(body, "Live: the deal's workflow answered") &&
			strings.Contains(body, `<ul class="next">`)
	}, 30*time.Second, 500*time.Millisecond, "the live view")
	next := body[strings.Index(body, "<h2>Next actions</h2>"):strings.Index(body, "<h2>Timeline</h2>")]
	require.Contains(t, next, "<li>", "the workflow plans next actions")
	require.Contains(t, next, "<small>", "each with its reason")
	require.Contains(t, next, "task intro-call")
	require.Contains(t, next, " JST", "in Ana's zone (Asia/Tokyo)")
}
