package preview_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/preview"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var threadsStart = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Each email line carries the subject the prospect would see: a threaded step replies to the
// previous email of the timeline, whatever its stage ("Re: " once, never "Re: Re:"); a
// threaded first email and a step without thread: keep their own subject.
func TestEmailLinesShowTheSubjectAndThread(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(filepath.Join("testdata", "threads.yaml"))
	require.NoError(t, err)
	touches, err := preview.Timeline(p, preview.Request{Start: threadsStart, Days: 30})
	require.NoError(t, err)

	type line struct{ ref, subject, inReplyTo string }
	var got []line
	for _, tc := range touches {
		if tc.Kind != "email" {
			require.Empty(t, tc.Subject, tc.Item)
			continue
		}
		require.Nil(t, tc.Email, "the email itself only when asked for")
		got = append(got, line{tc.Stage + "/" + tc.Item, tc.Subject, tc.InReplyTo})
	}
	require.Equal(t, []line{
		{"prospecting/hello#1", "Re: our call, Ada", ""}, // thread: true, nothing sent yet: its own subject
		{"prospecting/bump#1", "Re: our call, Ada", "prospecting/hello#1"},
		{"prospecting/fresh#1", "Something new for Analytical Engines Ltd", ""},
		{"nurturing/bump#1", "Re: Something new for Analytical Engines Ltd", "prospecting/fresh#1"},
		{"nurturing/bump#2", "Re: Something new for Analytical Engines Ltd", "nurturing/bump#1"},
	}, got)

	var table bytes.Buffer
	require.NoError(t, preview.WriteTable(&table, touches))
	require.Contains(t, table.String(), "email bump#1              Re: Something new for Analytical Engines Ltd  3 days after stage entry")
}

// With Emails, each email says who it is from, where replies go, what it answers and its
// text, and what a contact known only by address would see where that differs. The text
// output is compared to testdata/threads.golden (go test ./internal/preview -update).
func TestEmailsGolden(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(filepath.Join("testdata", "threads.yaml"))
	require.NoError(t, err)
	touches, err := preview.Timeline(p, preview.Request{Start: threadsStart, Days: 30, Emails: true})
	require.NoError(t, err)

	hello, bump, fresh := find(touches, "prospecting", "hello#1"), find(touches, "prospecting", "bump#1"), find(touches, "prospecting", "fresh#1")
	require.Equal(t, "Acme Sales <sales@acme.example>", hello.Email.From, "the pipeline's sender")
	require.Equal(t, "the owner's reply-to or address", hello.Email.ReplyTo, "no reply_to: replies reach the owner")
	require.Equal(t, "Hi Ada,\n\nThanks for the call about Analytical Engines: 50 seats.\n\nGrace Hopper\n", hello.Email.Text)
	require.Equal(t, "Re: our call, there", hello.Email.BlankSubject)
	require.Equal(t, "Hi there,", hello.Email.BlankGreeting)
	require.False(t, hello.Email.HTML)
	require.Equal(t, "Re: our call, there", bump.Email.BlankSubject, "the blank contact's thread is threaded too")
	require.Empty(t, bump.Email.BlankGreeting, "the same greeting for everyone")
	require.True(t, fresh.Email.HTML)
	require.Equal(t, "Hello there,", fresh.Email.BlankGreeting)
	for _, tc := range touches {
		require.Equal(t, tc.Kind == "email", tc.Email != nil, tc.Item)
	}
	js, err := json.Marshal(bump)
	require.NoError(t, err)
	require.Contains(t, string(js), `"subject":"Re: our call, Ada","in_reply_to":"prospecting/hello#1","email":{"template":"bump","thread":true,"from":"Acme Sales \u003csales@acme.example\u003e"`)

	var out bytes.Buffer
	require.NoError(t, preview.WriteTable(&out, touches))
	out.WriteString("\n")
	require.NoError(t, preview.WriteEmails(&out, touches))
	golden := filepath.Join("testdata", "threads.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/preview -update to create it")
	require.Equal(t, string(want), out.String())
}

// Without a pipeline sender, From and Reply-To name where the send takes them from.
func TestEmailsWithoutAPipelineSender(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(example(t, "b2b.yaml"))
	require.NoError(t, err)
	require.Nil(t, p.Sender)
	touches, err := preview.Timeline(p, preview.Request{Start: threadsStart, Days: 20, Emails: true})
	require.NoError(t, err)
	intro, followup := find(touches, "prospecting", "intro#1"), find(touches, "prospecting", "value-followup#1")
	require.Equal(t, "the owner's identity or MAIL_FROM", intro.Email.From)
	require.Equal(t, "the owner's reply-to or address", intro.Email.ReplyTo)
	require.Equal(t, "Grace from Followup GmbH: a quick idea for Analytical Engines Ltd", intro.Subject)
	require.Equal(t, "Re: "+intro.Subject, followup.Subject, "thread: true replaces the template's own subject")
	require.Equal(t, "prospecting/intro#1", followup.InReplyTo)

	p.Sender = &cadence.Sender{ReplyTo: "Acme Sales <sales@acme.example>"}
	touches, err = preview.Timeline(p, preview.Request{Start: threadsStart, Days: 20, Emails: true})
	require.NoError(t, err)
	intro = find(touches, "prospecting", "intro#1")
	require.Equal(t, "the owner's identity or MAIL_FROM", intro.Email.From)
	require.Equal(t, "Acme Sales <sales@acme.example>", intro.Email.ReplyTo)
}

// A template that does not render (a version stored before loading checked templates, say)
// is an error naming the email, not a timeline with a wrong subject.
func TestEmailThatDoesNotRenderIsAnError(t *testing.T) {
	t.Parallel()
	p := cadence.Default()
	tpl := p.Templates["intro"]
	tpl.Subject = "Hi {{.Contact.Compnay}}"
	p.Templates["intro"] = tpl
	_, err := preview.Timeline(p, preview.Request{Start: threadsStart})
	require.ErrorContains(t, err, "email prospecting/intro#1")
	require.ErrorContains(t, err, "Compnay")

	p = cadence.Default()
	tpl = p.Templates["value-followup"]
	tpl.Text = "{{.Contact.FirstName | defualt \"there\"}}"
	p.Templates["value-followup"] = tpl
	_, err = preview.Timeline(p, preview.Request{Start: threadsStart})
	require.NoError(t, err, "the text part is rendered only when asked for")
	_, err = preview.Timeline(p, preview.Request{Start: threadsStart, Emails: true})
	require.ErrorContains(t, err, `email prospecting/value-followup#1: template: value-followup text:1: function "defualt" not defined`)
}
