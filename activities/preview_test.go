package activities

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/preview"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
)

// partiesOf is a deal whose render data is d, as the store would hand it to the send
// (store.DealParties derives the names).
func partiesOf(d render.Data) store.SendContext {
	return store.SendContext{
		DealID: "7d9f6c1e-0000-4000-8000-0000000000a1", ContactID: "7d9f6c1e-0000-4000-8000-0000000000a2", Title: d.Deal.Title,
		Owner: store.Party{Email: d.Owner.Email, Name: d.Owner.Name, FirstName: d.Owner.FirstName, Company: d.Owner.Company},
		Contact: store.Party{Email: d.Contact.Email, FirstName: d.Contact.FirstName, LastName: d.Contact.LastName,
			Name: d.Contact.Name, Company: d.Contact.Company},
	}
}

// The preview shows what sending composes: for every email of a cadence's timeline, compose
// (each threaded step replying to the email composed before it, as the deal's last sent
// email) gives the subject, In-Reply-To, pipeline sender and text part the preview shows,
// for the sample contact and for a contact known only by address.
func TestPreviewShowsWhatComposeSends(t *testing.T) {
	t.Parallel()
	acts, _ := goldenActivities(t)
	p, err := cadencefile.Load(filepath.Join("..", "cadences", "b2b.yaml"))
	require.NoError(t, err)
	p.Sender = &cadence.Sender{From: "Vendor Team <team@vendor.test>"}
	require.Equal(t, render.Sample, renderData(partiesOf(render.Sample)), "the deal below renders as render.Sample")
	require.Equal(t, render.Blank, renderData(partiesOf(render.Blank)), "and this one as render.Blank")

	for _, start := range []time.Time{time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), time.Date(2026, 5, 22, 16, 30, 0, 0, time.UTC)} {
		touches, err := preview.Timeline(p, preview.Request{Start: start, Days: 200, Emails: true})
		require.NoError(t, err)
		for _, data := range []render.Data{render.Sample, render.Blank} {
			parties := partiesOf(data)
			var parent *store.SentEmail
			ids := map[string]string{} // stage/item → Message-ID
			threaded := 0
			for _, tc := range touches {
				if tc.Kind != "email" {
					continue
				}
				step, _, _ := strings.Cut(tc.Item, "#")
				in := SendInput{DealID: parties.DealID, Visit: tc.Visit, StepID: step, Occurrence: 1, Template: tc.Email.Template, Thread: tc.Email.Thread}
				id := mail.MessageID(acts.Mail.MessageIDSecret, tc.Stage+"/"+tc.Item, "vendor.test")
				var replyTo *store.SentEmail
				if in.Thread {
					replyTo = parent // what SendEmail looks up: the deal's last sent email
				}
				msg, err := acts.compose(in, publishedOf(0, p), parties, id, threading{Parent: replyTo}, goldenNow)
				require.NoError(t, err)

				subject, inReplyTo := tc.Subject, ""
				if data == render.Blank && tc.Email.BlankSubject != "" {
					subject = tc.Email.BlankSubject
				}
				if tc.InReplyTo != "" {
					inReplyTo = ids[tc.InReplyTo]
					require.NotEmpty(t, inReplyTo, "%s replies to an email before it", tc.Item)
					threaded++
				}
				require.Equal(t, subject, msg.Subject, "%s/%s", tc.Stage, tc.Item)
				require.Equal(t, inReplyTo, msg.InReplyTo, "%s/%s", tc.Stage, tc.Item)
				require.Equal(t, tc.Email.From, msg.From)
				if data == render.Sample {
					require.True(t, strings.HasPrefix(msg.Text, tc.Email.Text), "%s: the text part is the preview's and the footer", tc.Item)
				} else if tc.Email.BlankGreeting != "" {
					require.True(t, strings.HasPrefix(msg.Text, tc.Email.BlankGreeting+"\n"), "%s: %q", tc.Item, msg.Text)
				}
				ids[tc.Stage+"/"+tc.Item] = id
				parent = &store.SentEmail{MessageID: id, Subject: msg.Subject, ThreadRoot: msg.ThreadRoot}
			}
			require.Positive(t, threaded, "the timeline has threaded emails")
		}
	}
}
