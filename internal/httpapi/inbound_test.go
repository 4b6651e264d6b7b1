package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

const strangerMessage = "From: eve@elsewhere.test\r\nTo: ana@vendor.test\r\nSubject: hello\r\nMessage-ID: <m1@elsewhere.test>\r\n\r\nHi there\r\n"

// POST /api/inbound/mime takes one raw message: 202 when new, 200 for the same message again,
// with what it was and what became of it; GET /api/inbound/messages lists what was read.
func TestInboundMIME(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	dealID := a.create()

	r := a.do("POST", "/api/inbound/mime", strangerMessage, "Content-Type", "message/rfc822")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "ignored", r.body["outcome"])
	require.Equal(t, "reply", r.body["kind"])
	require.Contains(t, r.body["reason"], "eve@elsewhere.test is not the contact of an open deal")
	r = a.do("POST", "/api/inbound/mime", strangerMessage, "Content-Type", "message/rfc822")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.body["duplicate"])

	// The contact writes: matched by sender to the deal, delivered as a reply.
	reply := strings.ReplaceAll(strings.ReplaceAll(strangerMessage, "eve@elsewhere.test", "bob@prospect.test"), "<m1@", "<m2@")
	r = a.do("POST", "/api/inbound/mime", reply, "Content-Type", "message/rfc822")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "engaged", r.body["outcome"])
	require.Equal(t, "sender", r.body["match"])
	events := r.body["events"].([]any)
	require.Len(t, events, 1)
	require.Equal(t, dealID, events[0].(map[string]any)["deal_id"])
	require.Equal(t, "reply", string(lastSignal(t, dealID).Engagement))

	list := a.do("GET", "/api/inbound/messages?limit=1", "")
	require.Equal(t, http.StatusOK, list.status, list.raw)
	msgs := list.body["messages"].([]any)
	require.Len(t, msgs, 1)
	require.Equal(t, "mid:m2@elsewhere.test", msgs[0].(map[string]any)["key"])
	next := list.body["next"].(string)
	list = a.do("GET", next, "")
	require.Equal(t, "mid:m1@elsewhere.test", list.body["messages"].([]any)[0].(map[string]any)["key"])
	list = a.do("GET", "/api/inbound/messages?deal=hubspot:hs-1&outcome=engaged", "")
	require.Len(t, list.body["messages"].([]any), 1)

	for _, bad := range []struct {
		query, want string
	}{{"outcome=lost", `outcome "lost"`}, {"limit=0", `limit "0"`}, {"before=x", `before "x"`}} {
		r := a.do("GET", "/api/inbound/messages?"+bad.query, "")
		require.Equal(t, http.StatusBadRequest, r.status, bad.query)
		require.Contains(t, text(r), bad.want)
	}
	require.Equal(t, http.StatusNotFound, a.do("GET", "/api/inbound/messages?deal=crm:nope", "").status)
}

// Bad input gets a clear 4xx and records nothing.
func TestInboundMIMERefusesWhatItCannotTake(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	h := (&httpapi.Server{Deals: &deals.Service{Store: st, Temporal: c}, Token: token, MIMEMaxBytes: 4096,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	post := func(body []byte, contentType string, auth bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/inbound/mime", bytes.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	big := append([]byte(strangerMessage), bytes.Repeat([]byte("x"), 5000)...)
	for name, tc := range map[string]struct {
		w      *httptest.ResponseRecorder
		status int
		says   string
	}{
		"no token":      {post([]byte(strangerMessage), "message/rfc822", false), http.StatusUnauthorized, "bearer token"},
		"too large":     {post(big, "message/rfc822", true), http.StatusRequestEntityTooLarge, "the message (INBOUND_MIME_MAX_BYTES) is larger than 4096 bytes"},
		"JSON":          {post([]byte(`{"raw":"x"}`), "application/json", true), http.StatusUnsupportedMediaType, "message/rfc822"},
		"empty":         {post(nil, "message/rfc822", true), http.StatusBadRequest, "body is empty"},
		"bad type line": {post([]byte(strangerMessage), "message/", true), http.StatusUnsupportedMediaType, "message/rfc822"},
	} {
		require.Equal(t, tc.status, tc.w.Code, "%s: %s", name, tc.w.Body.String())
		require.Contains(t, tc.w.Body.String(), tc.says, name)
	}
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_messages`).Scan(&n))
	require.Zero(t, n, "nothing recorded")

	// Not a message at all is taken (recorded ignored, unreadable): the relay must not retry it.
	w := post([]byte("\x00\x01 garbage"), "", true)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `"outcome": "ignored"`)
}

// FuzzInboundMIME: whatever is posted, the endpoint answers a 2xx or a 4xx, never a 5xx, and
// never panics. The seeds run in every go test; go test -fuzz explores further.
func FuzzInboundMIME(f *testing.F) {
	for _, seed := range []string{strangerMessage, "", "\r\n\r\n", "From: a@b\r\n\r\n",
		"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1\r\n--x",
		"Subject: =?UTF-8?Q?a=0D=0Ab?=\r\nIn-Reply-To: <x@y>\r\n\r\nbody"} {
		f.Add([]byte(seed))
	}
	pool := pgtest.New(f)
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: temporaltest.QuietLogger()})
	require.NoError(f, err)
	f.Cleanup(c.Close)
	h := (&httpapi.Server{Deals: &deals.Service{Store: store.New(pool), Temporal: c}, Token: token, MIMEMaxBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := httptest.NewRequest("POST", "/api/inbound/mime", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "message/rfc822")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		require.Less(t, w.Code, 500, w.Body.String())
	})
}
