package mailsink_test

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap"
	"github.com/stretchr/testify/require"
)

// The prospect buttons are posted as the page's forms would be, and the messages they make
// are read back from the sink: raw, from the JSON list and through a real IMAP client.

const engineMsgID = "deal-42.step-1@followup.local"

// engineMail is a message as the engine sends it: From the sales address, Reply-To the
// owner, to the prospect, with one-click unsubscribe; its envelope sender is the
// bounce address.
func engineMail(subject string) string {
	return rawMail(engineMsgID, subject,
		"Reply-To: Ana Rep <ana@vendor.example>",
		"References: <deal-42.intro@followup.local>",
		"List-Unsubscribe: <https://followup.local/u/tok>",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click")
}

type prospectSetup struct {
	web      *httptest.Server
	imapAddr string
	origID   string
}

func newProspectSetup(t *testing.T, subject string) *prospectSetup {
	t.Helper()
	sink, smtpAddr, web := startSink(t, t.TempDir())
	p := &prospectSetup{web: web, imapAddr: startIMAP(t, sink)}
	require.NoError(t, sendRaw(smtpAddr, "bounces+deal-42@followup.local", []string{"bob@prospect.example"}, engineMail(subject)))
	ms := apiList(t, web)
	require.Len(t, ms, 1)
	p.origID = ms[0].ID
	return p
}

// post submits a button's form as a same-origin page would; it returns the response.
func (p *prospectSetup) post(t *testing.T, action string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.web.URL+"/messages/"+p.origID+"/"+action, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.web.URL)
	return do(t, req)
}

var madeLocation = regexp.MustCompile(`^/messages/([^/?#]+)\?made=([a-z-]+)#made$`)

// press posts a button and returns the new message's id and its raw text.
func (p *prospectSetup) press(t *testing.T, action string, form url.Values) (string, string) {
	t.Helper()
	res := p.post(t, action, form)
	require.Equal(t, http.StatusSeeOther, res.Status, res.Body)
	m := madeLocation.FindStringSubmatch(res.Header.Get("Location"))
	require.NotNil(t, m, res.Header.Get("Location"))
	require.Equal(t, action, m[2])
	raw := get(t, p.web, "/messages/"+m[1]+"/raw")
	require.Equal(t, http.StatusOK, raw.Status)
	page := get(t, p.web, "/messages/"+m[1]+"?made="+action)
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `id="made"`, "the page says what was done")
	return m[1], raw.Body
}

func (p *prospectSetup) listed(t *testing.T, id string) apiMessage {
	t.Helper()
	for _, m := range apiList(t, p.web) {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("%s not listed", id)
	return apiMessage{}
}

// inInbox reports the envelope of the message with Message-ID msgID in user's IMAP INBOX.
func (p *prospectSetup) inInbox(t *testing.T, user, msgID string) *imap.Envelope {
	t.Helper()
	c := imapLogin(t, p.imapAddr, user)
	_, err := c.Select("INBOX", true)
	require.NoError(t, err)
	for _, m := range fetchAll(t, c, imap.FetchEnvelope) {
		if m.Envelope.MessageId == msgID {
			return m.Envelope
		}
	}
	t.Fatalf("%s not in %s's INBOX", msgID, user)
	return nil
}

func readMail(t *testing.T, raw string) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	require.NoError(t, err)
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	return m, strings.ReplaceAll(string(b), "\r\n", "\n")
}

func unfold(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestProspectReply(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question about Q3")
	id, raw := p.press(t, "reply", url.Values{"body": {"Sounds good — Tuesday works."}})
	m, text := readMail(t, raw)

	require.Equal(t, `"Bob" <bob@prospect.example>`, m.Header.Get("From"))
	require.Equal(t, `"Ana Rep" <ana@vendor.example>`, m.Header.Get("To"), "to Reply-To, not From")
	require.Equal(t, "Re: Quick question about Q3", m.Header.Get("Subject"))
	require.Equal(t, "<"+engineMsgID+">", m.Header.Get("In-Reply-To"))
	require.Equal(t, "<deal-42.intro@followup.local> <"+engineMsgID+">", unfold(m.Header.Get("References")))
	require.Regexp(t, `^<[0-9a-f]+\.[0-9]+@prospect\.example>$`, m.Header.Get("Message-Id"))
	_, err := m.Header.Date()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(text, "Sounds good — Tuesday works.\n\nOn Mon, 2 Mar 2026 at 10:00, Followup Demo <sales@followup.local> wrote:\n"), text)
	require.Contains(t, text, "> Hi Bob,\n>\n> Just following up.\n")

	listed := p.listed(t, id)
	require.Equal(t, []string{"ana@vendor.example"}, listed.EnvelopeTo)
	require.Equal(t, "bob@prospect.example", listed.EnvelopeFrom)
	env := p.inInbox(t, "ana@vendor.example", m.Header.Get("Message-Id"))
	require.Equal(t, "<"+engineMsgID+">", env.InReplyTo)

	// The reply is threaded with the original on the list.
	list := get(t, p.web, "/")
	require.Contains(t, list.Body, "thread 1 · 2/2")

	// Answering the reply again does not pile up "Re:".
	p.origID = id
	_, raw = p.press(t, "reply", url.Values{})
	m, text = readMail(t, raw)
	require.Equal(t, "Re: Quick question about Q3", m.Header.Get("Subject"))
	require.True(t, strings.HasPrefix(text, "Thanks — yes, let's talk next week.\n"), "an empty text gets the default")
	require.Contains(t, text, "> Sounds good — Tuesday works.")
}

func TestProspectAutoReply(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question about Q3")
	id, raw := p.press(t, "auto-reply", url.Values{"back": {"2026-12-14"}})
	m, text := readMail(t, raw)
	require.Equal(t, `"Ana Rep" <ana@vendor.example>`, m.Header.Get("To"))
	require.Equal(t, "Automatic reply: Quick question about Q3", m.Header.Get("Subject"))
	require.Equal(t, "auto-replied", m.Header.Get("Auto-Submitted"))
	require.Equal(t, "yes", m.Header.Get("X-Autoreply"))
	require.Equal(t, "<"+engineMsgID+">", m.Header.Get("In-Reply-To"))
	require.Contains(t, unfold(text), "out of the office until Sunday, 13 December 2026")
	require.Contains(t, unfold(text), "back on Monday, 14 December 2026")
	require.Equal(t, []string{"ana@vendor.example"}, p.listed(t, id).EnvelopeTo)
	p.inInbox(t, "ana@vendor.example", m.Header.Get("Message-Id"))

	// Without a date: 3 business days on. A bad date is refused.
	_, raw = p.press(t, "auto-reply", url.Values{})
	require.Contains(t, raw, "I will be back on ")
	require.Equal(t, http.StatusBadRequest, p.post(t, "auto-reply", url.Values{"back": {"next week"}}).Status)
}

func TestProspectBounce(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question about Q3")
	id, raw := p.press(t, "bounce", nil)
	m, err := mail.ReadMessage(strings.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, `"Mail Delivery System" <MAILER-DAEMON@mailsink.invalid>`, m.Header.Get("From"))
	require.Equal(t, "<bounces+deal-42@followup.local>", m.Header.Get("To"), "to the envelope sender")
	require.Equal(t, "Undelivered Mail Returned to Sender", m.Header.Get("Subject"))
	require.Equal(t, "auto-replied", m.Header.Get("Auto-Submitted"))
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/report", mt)
	require.Equal(t, "delivery-status", params["report-type"])

	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	var parts []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(part)
		require.NoError(t, err)
		types = append(types, part.Header.Get("Content-Type"))
		parts = append(parts, string(b))
	}
	require.Len(t, types, 3)
	require.True(t, strings.HasPrefix(types[0], "text/plain"))
	require.Contains(t, parts[0], "bob@prospect.example")
	require.Equal(t, "message/delivery-status", types[1])
	require.Equal(t, "text/rfc822-headers", types[2])

	// The delivery-status part: per-message fields, then one recipient's.
	// (The part's last CRLF belongs to the boundary that follows, so the recipient block
	// ends there.)
	tr := textproto.NewReader(bufio.NewReader(strings.NewReader(parts[1] + "\r\n")))
	perMsg, err := tr.ReadMIMEHeader()
	require.NoError(t, err)
	require.Equal(t, "dns; mailsink.invalid", perMsg.Get("Reporting-Mta"))
	require.NotEmpty(t, perMsg.Get("Arrival-Date"))
	rcpt, err := tr.ReadMIMEHeader()
	require.NoError(t, err)
	require.Equal(t, "rfc822; bob@prospect.example", rcpt.Get("Final-Recipient"))
	require.Equal(t, "rfc822; bob@prospect.example", rcpt.Get("Original-Recipient"))
	require.Equal(t, "failed", rcpt.Get("Action"))
	require.Equal(t, "5.1.1", rcpt.Get("Status"))
	require.Equal(t, "smtp; 550 5.1.1 <bob@prospect.example>: Recipient address rejected: User unknown in local recipient table", rcpt.Get("Diagnostic-Code"))

	// The original's header: its Message-ID, without the sink's trace fields.
	orig, err := mail.ReadMessage(strings.NewReader(parts[2] + "\r\n"))
	require.NoError(t, err)
	require.Equal(t, "<"+engineMsgID+">", orig.Header.Get("Message-Id"))
	require.Empty(t, orig.Header.Get("X-Mailsink-Envelope-To"))

	listed := p.listed(t, id)
	require.Empty(t, listed.EnvelopeFrom, "a DSN has a null reverse-path")
	require.Equal(t, []string{"bounces+deal-42@followup.local"}, listed.EnvelopeTo)
	p.inInbox(t, "bounces+deal-42@followup.local", m.Header.Get("Message-Id"))
}

func TestProspectHeadersAreSafe(t *testing.T) {
	t.Parallel()
	// The subject decodes to non-ASCII text with a line break and a would-be header.
	p := newProspectSetup(t, "=?utf-8?q?Gr=C3=BC=C3=9Fe_=0D=0ABcc:_evil@attacker.example?=")
	_, raw := p.press(t, "reply", url.Values{"body": {"ok\r\nBcc: evil@attacker.example"}})
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		require.False(t, strings.HasPrefix(strings.ToLower(line), "bcc:"), "no injected header: %q", line)
	}
	m, _ := readMail(t, raw)
	require.Contains(t, m.Header.Get("Subject"), "=?utf-8?q?")
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Re: Grüße Bcc: evil@attacker.example", subject)
}

func TestProspectButtonsRefuseCrossSite(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question")
	for _, action := range []string{"reply", "auto-reply", "bounce"} {
		for _, h := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}, {"", ""}} {
			req, err := http.NewRequest(http.MethodPost, p.web.URL+"/messages/"+p.origID+"/"+action, strings.NewReader("body=x"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if h[0] != "" {
				req.Header.Set(h[0], h[1])
			}
			require.Equal(t, http.StatusForbidden, do(t, req).Status, "%s with %v", action, h)
		}
	}
	require.Len(t, apiList(t, p.web), 1, "nothing was stored")

	// Bounded: a too long text, or a too large form.
	require.Equal(t, http.StatusBadRequest, p.post(t, "reply", url.Values{"body": {strings.Repeat("x", 5001)}}).Status)
	require.Equal(t, http.StatusRequestEntityTooLarge, p.post(t, "reply", url.Values{"body": {strings.Repeat("x", 70000)}}).Status)
	require.Equal(t, http.StatusNotFound, func() int {
		req, err := http.NewRequest(http.MethodPost, p.web.URL+"/messages/nope/reply", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", p.web.URL)
		return do(t, req).Status
	}())
	require.Len(t, apiList(t, p.web), 1, "nothing was stored")
}

func TestMessagePageOffersProspectButtons(t *testing.T) {
	t.Parallel()
	p := newProspectSetup(t, "Quick question")
	page := get(t, p.web, "/messages/"+p.origID)
	require.Equal(t, http.StatusOK, page.Status)
	for _, want := range []string{
		`action="/messages/` + p.origID + `/reply"`, `name="body"`,
		`action="/messages/` + p.origID + `/auto-reply"`, `type="date" name="back" value="`,
		`action="/messages/` + p.origID + `/bounce"`,
		"Reply and Auto-reply go to ana@vendor.example", "Bounce goes to bounces&#43;deal-42@followup.local",
	} {
		require.Contains(t, page.Body, want)
	}
	require.NotContains(t, page.Body, `id="made"`)
}
