package httpapi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
)

// A preview's email touches carry the subject the prospect sees (a threaded step replies to
// the timeline's previous email); "emails": true adds each email as it would be received.
func TestPreviewCadenceEmails(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	p, err := cadencefile.Load(filepath.Join("..", "..", "cadences", "b2b.yaml"))
	require.NoError(t, err)
	p.Sender = &cadence.Sender{From: "Vendor Team <team@vendor.test>"}
	cv, err := a.store.PublishNext(context.Background(), p)
	require.NoError(t, err)

	emails := func(r response) []map[string]any {
		var out []map[string]any
		for _, tc := range r.body["touches"].([]any) {
			if m := tc.(map[string]any); m["kind"] == "email" {
				out = append(out, m)
			}
		}
		return out
	}
	r := a.do("POST", "/api/cadences/preview", `{"pipeline":"b2b","start":"2026-11-23T09:00:00Z","days":20}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	got := emails(r)
	require.Len(t, got, 3)
	require.Equal(t, "Grace from Followup GmbH: a quick idea for Analytical Engines Ltd", got[0]["subject"])
	require.Nil(t, got[0]["in_reply_to"])
	require.Equal(t, "value-followup#1", got[1]["item"])
	require.Equal(t, "Re: Grace from Followup GmbH: a quick idea for Analytical Engines Ltd", got[1]["subject"])
	require.Equal(t, "prospecting/intro#1", got[1]["in_reply_to"])
	require.Equal(t, "prospecting/value-followup#1", got[2]["in_reply_to"])
	require.Nil(t, got[0]["email"], "the emails themselves only when asked for")

	r = a.do("POST", "/api/cadences/preview", `{"version":`+strconv.FormatInt(cv.Version, 10)+`,"start":"2026-11-23T09:00:00Z","days":20,"emails":true}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	got = emails(r)
	email := got[1]["email"].(map[string]any)
	require.Equal(t, "value-followup", email["template"])
	require.Equal(t, true, email["thread"])
	require.Equal(t, "Vendor Team <team@vendor.test>", email["from"])
	require.Equal(t, "the owner's reply-to or address", email["reply_to"])
	require.Contains(t, email["text"], "Hi Ada,\n\nFollowing up on my note")
	require.Equal(t, "Re: Grace from Followup GmbH: a quick idea for your team", email["blank_subject"])
	require.Equal(t, "Hi there,", email["blank_greeting"])

	// A stored version whose template does not render (stored before loading checked
	// templates) is refused with the email and the template named.
	broken := cadence.Default()
	broken.ID = "broken"
	tpl := broken.Templates["intro"]
	tpl.Subject = "Hi {{.Contact.Compnay}}"
	broken.Templates["intro"] = tpl
	_, err = a.store.PublishNext(context.Background(), broken)
	require.NoError(t, err)

	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"pipeline":"b2b","start":"2026-11-23T09:00:00Z","emails":"yes"}`, 400, `field "emails" must be a boolean, not a string`},
		{`{"pipeline":"b2b","start":"2026-11-23T09:00:00Z","email":true}`, 400, `unknown field "email"`},
		{`{"pipeline":"broken","start":"2026-11-23T09:00:00Z"}`, 400, "email prospecting/intro#1: template: intro subject:1:13: executing \"intro subject\" at <.Contact.Compnay>"},
	} {
		r := a.do("POST", "/api/cadences/preview", c.body)
		require.Equal(t, c.status, r.status, "%s: %s", c.body, r.raw)
		require.Contains(t, text(r), c.want, c.body)
	}
}
