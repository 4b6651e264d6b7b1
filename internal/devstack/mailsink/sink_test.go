package mailsink_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"

	"github.com/followup-engine/followup/internal/devstack/mailsink"
)

// startSink runs a sink on dir with SMTP on 127.0.0.1:0 and its Handler on
// an httptest server (so requests carry a real 127.0.0.1 Host).
func startSink(t *testing.T, dir string) (*mailsink.Sink, *net.TCPAddr, *httptest.Server) {
	t.Helper()
	sink, err := mailsink.New(dir)
	require.NoError(t, err)
	addr, err := sink.StartSMTP("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sink.Close()) })
	require.Equal(t, addr, sink.SMTPAddr())
	web := httptest.NewServer(sink.Handler())
	t.Cleanup(web.Close)
	return sink, addr.(*net.TCPAddr), web
}

type testMail struct {
	MessageID, From, To, Subject, Text, HTML string
}

// send delivers m with go-mail (the library the engine uses).
func send(t *testing.T, addr *net.TCPAddr, m testMail) {
	t.Helper()
	msg := gomail.NewMsg()
	msg.SetMessageIDWithValue(m.MessageID)
	require.NoError(t, msg.From(m.From))
	require.NoError(t, msg.To(m.To))
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	client, err := gomail.NewClient(addr.IP.String(), gomail.WithPort(addr.Port),
		gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithHELO("test.local"), gomail.WithTimeout(10*time.Second))
	require.NoError(t, err)
	require.NoError(t, client.DialAndSend(msg))
}

// sendRaw sends a literal message with go-smtp's client, for tests that
// need exact control of the MIME structure (go-smtp's package-level
// SendMail insists on STARTTLS, which the sink does not offer).
func sendRaw(addr *net.TCPAddr, from string, to []string, msg string) error {
	c, err := smtp.Dial(addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	// Do not follow redirects: tests assert the 303 of delete-all.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

func get(t *testing.T, web *httptest.Server, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, web.URL+path, nil)
	require.NoError(t, err)
	return do(t, req)
}

type apiMessage struct {
	ID           string    `json:"id"`
	From         string    `json:"from"`
	To           []string  `json:"to"`
	Subject      string    `json:"subject"`
	MessageID    string    `json:"message_id"`
	ReceivedAt   time.Time `json:"received_at"`
	EnvelopeFrom string    `json:"envelope_from"`
	EnvelopeTo   []string  `json:"envelope_to"`
	Size         int64     `json:"size"`
}

func apiList(t *testing.T, web *httptest.Server) []apiMessage {
	t.Helper()
	res := get(t, web, "/api/messages")
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var out []apiMessage
	require.NoError(t, json.Unmarshal([]byte(res.Body), &out), res.Body)
	return out
}

const (
	xssSubject = `<script>alert("x")</script> Q3 pricing & terms`
	// html/template's escaping of xssSubject.
	xssSubjectEscaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Q3 pricing &amp; terms`
	// Long and non-ASCII, so go-mail's quoted-printable needs soft line breaks
	// and =XX escapes.
	plainText = "Hi Ana,\n\nGrüße — the naïve café offer: 50% off = a great deal, valid until the end of the quarter for all seats.\n"
	htmlBody  = `<p>Hi <b>Ana</b>, see <a href="https://seller.example/p?a=1&b=2">pricing</a></p><script>alert(1)</script>`
)

func welcome(id string) testMail {
	return testMail{
		MessageID: id,
		From:      `"Ana Rep" <ana@seller.example>`,
		To:        "bo@buyer.example",
		Subject:   xssSubject,
		Text:      plainText,
		HTML:      htmlBody,
	}
}

func TestReceiveAndBrowse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr, web := startSink(t, dir)
	before := time.Now()
	send(t, addr, welcome("m1@seller.example"))

	msgs := apiList(t, web)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, xssSubject, m.Subject)
	require.Equal(t, "m1@seller.example", m.MessageID)
	require.Equal(t, "ana@seller.example", m.From)
	require.Equal(t, []string{"bo@buyer.example"}, m.To)
	require.Equal(t, "ana@seller.example", m.EnvelopeFrom)
	require.Equal(t, []string{"bo@buyer.example"}, m.EnvelopeTo)
	require.WithinDuration(t, before, m.ReceivedAt, time.Minute)
	require.NotEmpty(t, m.ID)
	require.NotContains(t, m.ID, "/")

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		res := get(t, web, "/")
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		require.Contains(t, res.Body, "<title>followup — dev mail</title>")
		require.Contains(t, res.Body, xssSubjectEscaped)
		require.Contains(t, res.Body, `href="/messages/`+m.ID+`"`)
		require.Contains(t, res.Body, "Ana Rep &lt;ana@seller.example&gt;")
		require.Contains(t, res.Body, "bo@buyer.example")
		require.NotContains(t, res.Body, "<script")
	})

	t.Run("message", func(t *testing.T) {
		t.Parallel()
		res := get(t, web, "/messages/"+m.ID)
		require.Equal(t, http.StatusOK, res.Status)
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'none'")
		body := res.Body
		require.NotContains(t, body, "<script", "neither the subject nor the HTML part may be rendered unescaped")
		// Headers, as a name: value list.
		require.Contains(t, body, "<dt>Message-ID:</dt><dd>&lt;m1@seller.example&gt;</dd>")
		require.Contains(t, body, "<dt>Subject:</dt><dd>"+xssSubjectEscaped+"</dd>")
		require.Contains(t, body, "<dt>Return-Path:</dt>")
		// Text part, quoted-printable decoded by the sink.
		require.Contains(t, body, "Grüße — the naïve café offer: 50% off = a great deal, valid until the end of the quarter for all seats.")
		// HTML part: only in a sandboxed srcdoc frame, escaped, plus source.
		require.Contains(t, body, `<iframe sandbox="" referrerpolicy="no-referrer" title="HTML part" srcdoc="&lt;p&gt;Hi &lt;b&gt;Ana&lt;/b&gt;, see &lt;a href=&#34;https://seller.example/p?a=1&amp;b=2&#34;&gt;pricing&lt;/a&gt;&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>`)
		require.NotContains(t, body, "<b>Ana</b>")
		require.Contains(t, body, `href="/messages/`+m.ID+`/raw"`)
		require.Contains(t, body, `href="/messages/`+m.ID+`/parts/1">view HTML source as text</a>`)
	})

	t.Run("html part as text", func(t *testing.T) {
		t.Parallel()
		res := get(t, web, "/messages/"+m.ID+"/parts/1")
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		require.Equal(t, htmlBody, res.Body)
	})

	t.Run("raw", func(t *testing.T) {
		t.Parallel()
		res := get(t, web, "/messages/"+m.ID+"/raw")
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
		onDisk, err := os.ReadFile(filepath.Join(dir, m.ID+".eml"))
		require.NoError(t, err)
		require.Equal(t, string(onDisk), res.Body)
		require.True(t, strings.HasPrefix(res.Body, "Return-Path: <ana@seller.example>\r\nX-Mailsink-Envelope-To: <bo@buyer.example>\r\n"), res.Body)
		require.Contains(t, res.Body, "Message-ID: <m1@seller.example>")
		require.Contains(t, res.Body, "multipart/alternative")
		require.Contains(t, res.Body, "Content-Transfer-Encoding: quoted-printable")
	})
}

func TestListIsNewestFirst(t *testing.T) {
	t.Parallel()
	_, addr, web := startSink(t, t.TempDir())
	for i := range 3 {
		m := welcome(fmt.Sprintf("n%d@seller.example", i))
		m.Subject = fmt.Sprintf("step %d", i)
		send(t, addr, m)
	}
	msgs := apiList(t, web)
	require.Len(t, msgs, 3)
	for i, want := range []string{"step 2", "step 1", "step 0"} {
		require.Equal(t, want, msgs[i].Subject)
	}
	res := get(t, web, "/")
	i2, i1, i0 := strings.Index(res.Body, "step 2"), strings.Index(res.Body, "step 1"), strings.Index(res.Body, "step 0")
	require.True(t, i2 > 0 && i2 < i1 && i1 < i0, "newest first in the page")
}

func TestRestartKeepsMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	first, addr, web := startSink(t, dir)
	send(t, addr, welcome("persist@seller.example"))
	before := apiList(t, web)
	require.Len(t, before, 1)
	require.NoError(t, first.Close())
	web.Close()

	_, addr2, web2 := startSink(t, dir)
	after := apiList(t, web2)
	require.Len(t, after, 1)
	require.Equal(t, before[0].ID, after[0].ID, "ids are stable across restarts")
	require.Equal(t, before[0].Subject, after[0].Subject)
	require.Equal(t, before[0].MessageID, after[0].MessageID)
	require.Equal(t, before[0].EnvelopeTo, after[0].EnvelopeTo)
	require.Equal(t, before[0].Size, after[0].Size)
	require.True(t, before[0].ReceivedAt.Equal(after[0].ReceivedAt))

	res := get(t, web2, "/")
	require.Contains(t, res.Body, xssSubjectEscaped)
	res = get(t, web2, "/messages/"+after[0].ID)
	require.Equal(t, http.StatusOK, res.Status)
	require.Contains(t, res.Body, "persist@seller.example")

	// New mail after the restart is listed before the old one.
	m := welcome("later@seller.example")
	m.Subject = "after restart"
	send(t, addr2, m)
	msgs := apiList(t, web2)
	require.Len(t, msgs, 2)
	require.Equal(t, "after restart", msgs[0].Subject)
	require.Equal(t, before[0].ID, msgs[1].ID)
}

func TestUnknownIDIs404(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A file outside the index that a traversal would reach.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.eml"), []byte("Subject: secret\r\n\r\nsecret\r\n"), 0o644))
	_, addr, web := startSink(t, dir)
	send(t, addr, welcome("x@seller.example"))
	id := apiList(t, web)[0].ID

	for _, path := range []string{
		"/messages/nope",
		"/messages/nope/raw",
		"/messages/nope/parts/0",
		"/messages/secret",
		"/messages/secret/raw",
		"/messages/..%2fsecret/raw",
		"/messages/%2e%2e%2f" + id + "/raw",
		"/messages/" + id + "/parts/99",
		"/messages/" + id + "/parts/-1",
		"/messages/" + id + "/parts/x",
	} {
		res := get(t, web, path)
		require.Equal(t, http.StatusNotFound, res.Status, path)
		require.NotContains(t, res.Body, "secret", path)
	}
}

func TestDeleteAllNeedsSameOrigin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr, web := startSink(t, dir)
	send(t, addr, welcome("d1@seller.example"))
	send(t, addr, welcome("d2@seller.example"))
	require.Len(t, apiList(t, web), 2)

	post := func(header map[string]string) response {
		req, err := http.NewRequest(http.MethodPost, web.URL+"/messages/delete-all", nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	self := "http://" + web.Listener.Addr().String()
	for _, h := range []map[string]string{
		nil, // no evidence at all
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "none"},
		{"Sec-Fetch-Site": "cross-site", "Origin": self}, // Sec-Fetch-Site wins
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
		{"Origin": "http://127.0.0.1:1"},
	} {
		res := post(h)
		require.Equal(t, http.StatusForbidden, res.Status, "%v", h)
	}
	require.Len(t, apiList(t, web), 2, "nothing deleted by refused requests")

	res := post(map[string]string{"Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusSeeOther, res.Status)
	require.Equal(t, "/", res.Header.Get("Location"))
	require.Empty(t, apiList(t, web))
	require.Contains(t, get(t, web, "/").Body, "No messages yet.")
	emls, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Empty(t, emls)

	// Scripts without Sec-Fetch-Site send a matching Origin.
	send(t, addr, welcome("d3@seller.example"))
	require.Len(t, apiList(t, web), 1)
	require.Equal(t, http.StatusSeeOther, post(map[string]string{"Origin": self}).Status)
	require.Empty(t, apiList(t, web))
}

// rawQPMessage is hand-written so that the transfer encodings are exactly
// what the test says: quoted-printable text (soft line break, =XX escapes)
// and a base64 HTML part.
const rawQPMessage = "From: Ana <ana@seller.example>\r\n" +
	"To: =?UTF-8?Q?Bj=C3=B6rn?= <bjorn@buyer.example>\r\n" +
	"Subject: =?UTF-8?Q?Caf=C3=A9_follow-up?=\r\n" +
	"Message-ID: <qp@seller.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=C3=A9 =E2=80=94 one long line that is soft-=\r\n" +
	"wrapped, and 1+1=3D2.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	// base64 of "<p>Caf\xc3\xa9 <i>deal</i></p>", split over two lines.
	"PHA+Q2Fmw6kgPGk+\r\n" +
	"ZGVhbDwvaT48L3A+\r\n" +
	"--b1--\r\n"

func TestTransferEncodingsDecode(t *testing.T) {
	t.Parallel()
	_, addr, web := startSink(t, t.TempDir())
	require.NoError(t, sendRaw(addr, "ana@seller.example",
		[]string{"bjorn@buyer.example", "hidden-bcc@seller.example"}, rawQPMessage))

	msgs := apiList(t, web)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "Café follow-up", m.Subject)
	require.Equal(t, []string{"bjorn@buyer.example"}, m.To)
	require.Equal(t, []string{"bjorn@buyer.example", "hidden-bcc@seller.example"}, m.EnvelopeTo)

	res := get(t, web, "/messages/"+m.ID)
	require.Equal(t, http.StatusOK, res.Status)
	require.Contains(t, res.Body, "<pre class=\"text\">Café — one long line that is soft-wrapped, and 1&#43;1=2.</pre>")
	require.Contains(t, res.Body, `srcdoc="&lt;p&gt;Café &lt;i&gt;deal&lt;/i&gt;&lt;/p&gt;"`)
	require.Contains(t, res.Body, "<dt>To:</dt><dd>Björn &lt;bjorn@buyer.example&gt;</dd>")

	text := get(t, web, "/messages/"+m.ID+"/parts/0")
	require.Equal(t, "Café — one long line that is soft-wrapped, and 1+1=2.", text.Body)
	html := get(t, web, "/messages/"+m.ID+"/parts/1")
	require.Equal(t, "<p>Café <i>deal</i></p>", html.Body)
}

func TestOversizedMessageIsRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr, web := startSink(t, dir)
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", mailsink.MaxMessageBytes/1000+10)
	err := sendRaw(addr, "a@seller.example", []string{"b@buyer.example"}, big)
	require.Error(t, err)
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 552, se.Code)
	require.Empty(t, apiList(t, web))
}

func TestForeignFilesAreIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "secret.eml", ".tmp-20260102T150405.000000000Z-0a1b2c3d", "20260102T150405.000000000Z-0A1B2C3D.eml"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("Subject: x\r\n\r\nx\r\n"), 0o644))
	}
	// A file that looks like one of ours is loaded (e.g. copied from another
	// checkout), with its time taken from the name.
	const id = "20260102T150405.000000001Z-0a1b2c3d"
	require.NoError(t, os.WriteFile(filepath.Join(dir, id+".eml"), []byte(rawQPMessage), 0o644))

	_, _, web := startSink(t, dir)
	msgs := apiList(t, web)
	require.Len(t, msgs, 1)
	require.Equal(t, id, msgs[0].ID)
	require.Equal(t, "Café follow-up", msgs[0].Subject)
	require.Equal(t, time.Date(2026, 1, 2, 15, 4, 5, 1, time.UTC), msgs[0].ReceivedAt)
	require.Empty(t, msgs[0].EnvelopeTo)
}

func TestRebindingHostIsRefused(t *testing.T) {
	t.Parallel()
	sink, err := mailsink.New(t.TempDir())
	require.NoError(t, err)
	h := sink.Handler()
	for host, want := range map[string]int{
		"evil.example":        http.StatusForbidden,
		"evil.example:8025":   http.StatusForbidden,
		"localhost.evil.test": http.StatusForbidden,
		"localhost:8025":      http.StatusOK,
		"app.localhost":       http.StatusOK,
		"127.0.0.1:8025":      http.StatusOK,
		"[::1]:8025":          http.StatusOK,
		"192.168.1.20:8025":   http.StatusOK,
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/messages", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, want, rec.Code, host)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink, err := mailsink.New(dir)
	require.NoError(t, err)
	require.Nil(t, sink.SMTPAddr())
	addr, err := sink.StartSMTP("127.0.0.1:0")
	require.NoError(t, err)
	_, err = sink.StartSMTP("127.0.0.1:0")
	require.Error(t, err, "one SMTP server per sink")
	require.NoError(t, sink.Close())
	require.NoError(t, sink.Close(), "Close is idempotent")
	_, err = sink.StartSMTP("127.0.0.1:0")
	require.Error(t, err)
	// The port is released: it can be bound again.
	ln, err := net.Listen("tcp", addr.String())
	require.NoError(t, err)
	require.NoError(t, ln.Close())

	_, err = mailsink.New("")
	require.Error(t, err)
}
