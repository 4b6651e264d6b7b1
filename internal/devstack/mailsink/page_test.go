package mailsink_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/devstack/mailsink"
)

// The page tests send real messages over SMTP (signed with go-msgauth's dkim.Sign where a
// test needs a signature) and read the sink's pages over HTTP.

const (
	testDomain   = "followup.local"
	testSelector = "devstack"
)

// signedHeaders is what a sender would sign, the one-click pair included (RFC 8058 §4).
var signedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	"List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}

func sign(t *testing.T, key crypto.Signer, selector, msg string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: testDomain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: signedHeaders,
	}))
	return out.String()
}

// rawMail builds a plain-text message; extra header lines ("Name: value") go before the
// body.
func rawMail(messageID, subject string, extra ...string) string {
	var b strings.Builder
	b.WriteString("From: Followup Demo <sales@followup.local>\r\n")
	b.WriteString("To: Bob <bob@prospect.example>\r\n")
	b.WriteString("Subject: " + subject + "\r\n")
	b.WriteString("Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n")
	b.WriteString("Message-ID: <" + messageID + ">\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n")
	b.WriteString("Hi Bob,\r\n\r\nJust following up.\r\n")
	return b.String()
}

// deliver sends raw and returns its id in the sink (found by its Message-ID).
func deliver(t *testing.T, addr *net.TCPAddr, web *httptest.Server, raw string) string {
	t.Helper()
	require.NoError(t, sendRaw(addr, "sales@followup.local", []string{"bob@prospect.example"}, raw))
	msgID := regexp.MustCompile(`(?m)^Message-ID: <([^>]*)>`).FindStringSubmatch(raw)[1]
	for _, m := range apiList(t, web) {
		if m.MessageID == msgID {
			return m.ID
		}
	}
	t.Fatalf("message %s not listed", msgID)
	return ""
}

// apiDKIM returns the dkim and thread fields of GET /api/messages by sink id.
func apiDetails(t *testing.T, web *httptest.Server) map[string]map[string]any {
	t.Helper()
	res := get(t, web, "/api/messages")
	var out []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Body), &out))
	byID := map[string]map[string]any{}
	for _, m := range out {
		byID[m["id"].(string)] = m
	}
	return byID
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

// section returns the part of a page from the element with id to the next <h2.
func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest[1:], "<h2"); j >= 0 {
		return rest[:j+1]
	}
	return rest
}

func TestDKIMResults(t *testing.T) {
	t.Parallel()
	sink, addr, web := startSink(t, t.TempDir())
	key := rsaKey(t)
	// The sink gets the key as -dkim-key reads it, from a PEM file: here a public key (devstack
	// hands over its private key file, which TestDKIMEd25519AndLateKey covers).
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pub, err := mailsink.ParseDKIMKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	require.NoError(t, err)
	require.NoError(t, sink.AddDKIMKey(testDomain, testSelector, pub))

	passID := deliver(t, addr, web, sign(t, key, testSelector, rawMail("pass@followup.local", "signed")))
	tampered := sign(t, key, testSelector, rawMail("fail@followup.local", "tampered"))
	tampered = strings.Replace(tampered, "Just following up.", "Just following up. Wire the money.", 1)
	failID := deliver(t, addr, web, tampered)
	// Signed with a key the sink does not know (another selector): no key, so fail.
	otherID := deliver(t, addr, web, sign(t, rsaKey(t), "other", rawMail("nokey@followup.local", "unknown selector")))
	noneID := deliver(t, addr, web, rawMail("none@followup.local", "unsigned"))

	api := apiDetails(t, web)
	require.Equal(t, "pass", api[passID]["dkim"])
	require.Equal(t, "fail", api[failID]["dkim"])
	require.Equal(t, "fail", api[otherID]["dkim"])
	require.Equal(t, "none", api[noneID]["dkim"])

	t.Run("list", func(t *testing.T) {
		body := get(t, web, "/").Body
		row := func(id string) string {
			i := strings.Index(body, `<td><a href="/messages/`+id+`">`)
			require.Positive(t, i, id)
			end := strings.Index(body[i:], "</tr>")
			return body[i : i+end]
		}
		require.Contains(t, row(passID), `<span class="badge pass">pass</span> <span class="small muted">followup.local</span>`)
		require.Contains(t, row(failID), `<span class="badge fail">fail</span>`)
		require.Contains(t, row(otherID), `<span class="badge fail">fail</span>`)
		require.Contains(t, row(noneID), `<span class="badge none">none</span>`)
	})

	t.Run("pass", func(t *testing.T) {
		d := section(get(t, web, "/messages/"+passID).Body, "dkim")
		require.Contains(t, d, `<span class="badge pass">pass</span>`)
		require.NotContains(t, d, "badge fail")
		require.Contains(t, d, "<dt>Domain (d=)</dt><dd>followup.local</dd>")
		require.Contains(t, d, "<dt>Selector (s=)</dt><dd>devstack</dd>")
		require.Contains(t, d, "<code>"+strings.Join(signedHeaders, ":")+"</code>")
	})
	t.Run("tampered body fails", func(t *testing.T) {
		d := section(get(t, web, "/messages/"+failID).Body, "dkim")
		require.Contains(t, d, `<span class="badge fail">fail</span> dkim: body hash did not verify`)
		require.Contains(t, d, "<dt>Domain (d=)</dt><dd>followup.local</dd>")
	})
	t.Run("unknown key fails", func(t *testing.T) {
		d := section(get(t, web, "/messages/"+otherID).Body, "dkim")
		require.Contains(t, d, `<span class="badge fail">fail</span> dkim: no key for signature: no key`)
		require.Contains(t, d, "<dt>Selector (s=)</dt><dd>other</dd>")
	})
	t.Run("unsigned", func(t *testing.T) {
		d := section(get(t, web, "/messages/"+noneID).Body, "dkim")
		require.Contains(t, d, `<span class="badge none">none</span> <span class="muted">no DKIM-Signature header</span>`)
	})
}

func TestDKIMEd25519AndLateKey(t *testing.T) {
	t.Parallel()
	sink, addr, web := startSink(t, t.TempDir())
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	id := deliver(t, addr, web, sign(t, priv, testSelector, rawMail("ed@followup.local", "ed25519")))
	require.Equal(t, "fail", apiDetails(t, web)[id]["dkim"], "no key yet")

	// A PKCS#8 private key file works too (only its public half is kept), and a key added
	// later re-checks messages already shown.
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	k, err := mailsink.ParseDKIMKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	require.NoError(t, err)
	require.True(t, pub.Equal(k))
	require.NoError(t, sink.AddDKIMKey(testDomain, testSelector, k))
	require.Equal(t, "pass", apiDetails(t, web)[id]["dkim"])

	_, err = mailsink.ParseDKIMKey([]byte("not a key"))
	require.Error(t, err)
	require.Error(t, sink.AddDKIMKey("", testSelector, k))
}

func TestThreadsAreShown(t *testing.T) {
	t.Parallel()
	_, addr, web := startSink(t, t.TempDir())
	rootID := deliver(t, addr, web, rawMail("root@followup.local", "Intro"))
	reply1ID := deliver(t, addr, web, rawMail("r1@followup.local", "Re: Intro",
		"In-Reply-To: <root@followup.local>", "References: <root@followup.local>"))
	// The engine's References: the thread's first message and the parent; one id the
	// sink never saw (a reply sent by hand) in between.
	reply2ID := deliver(t, addr, web, rawMail("r2@followup.local", "Re: Intro (2)",
		"In-Reply-To: <r1@followup.local>", "References: <root@followup.local>\r\n <by-hand@prospect.example> <r1@followup.local>"))
	aloneID := deliver(t, addr, web, rawMail("alone@followup.local", "Other deal"))
	// A second thread that starts with a reply whose parent the sink never received.
	orphanID := deliver(t, addr, web, rawMail("o1@followup.local", "Re: lost", "In-Reply-To: <lost@followup.local>"))
	orphan2ID := deliver(t, addr, web, rawMail("o2@followup.local", "Re: lost (2)", "References: <lost@followup.local> <o1@followup.local>"))

	api := apiDetails(t, web)
	require.Equal(t, []any{"r1@followup.local"}, api[reply2ID]["in_reply_to"])
	require.Equal(t, []any{"root@followup.local", "by-hand@prospect.example", "r1@followup.local"}, api[reply2ID]["references"])
	require.Equal(t, []any{}, api[rootID]["references"])

	list := get(t, web, "/").Body
	row := func(id string) string {
		i := strings.Index(list, `<td><a href="/messages/`+id+`">`)
		require.Positive(t, i, id)
		return list[i : i+strings.Index(list[i:], "</tr>")]
	}
	require.Contains(t, row(rootID), "thread 1 · 1/3")
	require.NotContains(t, row(rootID), "reply to")
	require.Contains(t, row(reply1ID), `↳ reply to <a href="/messages/`+rootID+`">Intro</a>`)
	require.Contains(t, row(reply1ID), "thread 1 · 2/3")
	require.Contains(t, row(reply2ID), `↳ reply to <a href="/messages/`+reply1ID+`">Re: Intro</a>`)
	require.Contains(t, row(reply2ID), "thread 1 · 3/3")
	require.NotContains(t, row(aloneID), "thread ")
	require.Contains(t, row(orphanID), "thread 2 · 1/2")
	require.NotContains(t, row(orphanID), "reply to", "its parent is not in the sink")
	require.Contains(t, row(orphan2ID), "thread 2 · 2/2")
	require.Contains(t, row(orphan2ID), `↳ reply to <a href="/messages/`+orphanID+`">Re: lost</a>`)

	page := get(t, web, "/messages/"+reply2ID).Body
	th := section(page, "thread")
	require.Contains(t, th, `<dt>Reply to</dt><dd><a href="/messages/`+reply1ID+`">Re: Intro</a></dd>`)
	require.Contains(t, th, `<dt>In-Reply-To</dt><dd><a href="/messages/`+reply1ID+`" title="Re: Intro">&lt;r1@followup.local&gt;</a> </dd>`)
	require.Contains(t, th, `<a href="/messages/`+rootID+`" title="Intro">&lt;root@followup.local&gt;</a> <code>&lt;by-hand@prospect.example&gt;</code> <a href="/messages/`+reply1ID+`"`)
	require.Contains(t, th, "Re: Intro (2) (this message)")
	require.Equal(t, 3, strings.Count(th, "<tr>")+strings.Count(th, `<tr class="current">`)-1, "header row plus three messages")
	table := th[strings.Index(th, "<table"):]
	require.Less(t, strings.Index(table, ">Intro</a>"), strings.Index(table, ">Re: Intro</a>"), "oldest first")
	require.Less(t, strings.Index(table, ">Re: Intro</a>"), strings.Index(table, "(this message)"), "oldest first")

	require.Empty(t, section(get(t, web, "/messages/"+aloneID).Body, "thread"), "no thread section for a message alone")
}

// unsubscribeTarget stands in for the API's /u/{token}: it records what the sink posts. Its
// answer sets a tracking cookie (a client with a cookie jar would send it back) and carries a
// script that, if it ran, would mark the answer's body with data-ran="1" and open an alert.
type unsubscribeTarget struct {
	mu    sync.Mutex
	calls []*http.Request
	body  []string
}

func (u *unsubscribeTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, r)
	u.body = append(u.body, string(b))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.SetCookie(w, &http.Cookie{Name: "tracking", Value: "1"})
	_, _ = io.WriteString(w, `<h1>You are unsubscribed</h1><script>document.body.dataset.ran=1;alert("answer")</script>`)
}

func (u *unsubscribeTarget) snapshot() ([]*http.Request, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.calls...), append([]string(nil), u.body...)
}

// oneClickSetup is a sink that knows the DKIM key its test signs with, and the unsubscribe
// target its messages' one-click links point at.
type oneClickSetup struct {
	addr   *net.TCPAddr
	web    *httptest.Server
	key    *rsa.PrivateKey
	target *unsubscribeTarget
	link   string // the one-click URL: the target's /u/tok.en-123
}

func newOneClickSetup(t *testing.T) *oneClickSetup {
	t.Helper()
	sink, addr, web := startSink(t, t.TempDir())
	key := rsaKey(t)
	require.NoError(t, sink.AddDKIMKey(testDomain, testSelector, key.Public()))
	target := &unsubscribeTarget{}
	api := httptest.NewServer(target)
	t.Cleanup(api.Close)
	return &oneClickSetup{addr: addr, web: web, key: key, target: target, link: api.URL + "/u/tok.en-123"}
}

// headers are the header lines that offer one-click unsubscribe at the setup's link.
func (o *oneClickSetup) headers() []string {
	return []string{"List-Unsubscribe: <" + o.link + ">", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}
}

// deliverSigned sends a message offering one-click unsubscribe, signed with the key the sink
// knows, and returns its id in the sink.
func (o *oneClickSetup) deliverSigned(t *testing.T, messageID, subject string) string {
	t.Helper()
	return deliver(t, o.addr, o.web, sign(t, o.key, testSelector, rawMail(messageID, subject, o.headers()...)))
}

// requireOneClickPost checks that r (with body) is exactly the POST RFC 8058 §3.2 has a
// mailbox provider send to the setup's link.
func requireOneClickPost(t *testing.T, r *http.Request, body string) {
	t.Helper()
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/u/tok.en-123", r.URL.Path)
	require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	require.Equal(t, "List-Unsubscribe=One-Click", body)
	require.Empty(t, r.Header.Get("Cookie"), "no cookies")
	require.Empty(t, r.Header.Get("Authorization"))
	require.Empty(t, r.Header.Get("Origin"), "the sink posts, not the browser")
}

func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	o := newOneClickSetup(t)
	addr, web, target, link := o.addr, o.web, o.target, o.link

	signedID := o.deliverSigned(t, "uc@followup.local", "nurture")
	unsignedID := deliver(t, addr, web, rawMail("uc2@followup.local", "nurture unsigned", o.headers()...))
	// List-Unsubscribe alone (no -Post) is not one-click: a mailto: or a link to open.
	plainID := deliver(t, addr, web, rawMail("uc3@followup.local", "footer only", "List-Unsubscribe: <mailto:u@followup.local>, <"+link+">"))

	page := get(t, web, "/messages/"+signedID).Body
	u := section(page, "unsubscribe")
	require.Contains(t, u, `<form method="post" action="/messages/`+signedID+`/unsubscribe"><button type="submit">Unsubscribe (one-click)</button></form>`)
	require.Contains(t, u, "<code>"+link+"</code>")
	require.NotContains(t, u, "mailbox providers would not offer", "the signature covers both headers")
	require.Contains(t, section(get(t, web, "/messages/"+unsignedID).Body, "unsubscribe"),
		"No verified DKIM signature covers List-Unsubscribe and List-Unsubscribe-Post")
	plain := get(t, web, "/messages/"+plainID).Body
	require.NotContains(t, plain, "Unsubscribe (one-click)")
	require.Contains(t, plain, "<dt>List-Unsubscribe:</dt>", "the header is still listed")

	post := func(id string, header map[string]string) response {
		req, err := http.NewRequest(http.MethodPost, web.URL+"/messages/"+id+"/unsubscribe", nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	// Cross-site requests cannot make the sink post.
	require.Equal(t, http.StatusForbidden, post(signedID, map[string]string{"Sec-Fetch-Site": "cross-site"}).Status)
	require.Equal(t, http.StatusForbidden, post(signedID, nil).Status)
	require.Equal(t, http.StatusBadRequest, post(plainID, map[string]string{"Sec-Fetch-Site": "same-origin"}).Status)
	require.Equal(t, http.StatusNotFound, post("nope", map[string]string{"Sec-Fetch-Site": "same-origin"}).Status)
	calls, _ := target.snapshot()
	require.Empty(t, calls)

	res := post(signedID, map[string]string{"Sec-Fetch-Site": "same-origin", "Cookie": "mailsink=1"})
	require.Equal(t, http.StatusSeeOther, res.Status)
	require.Equal(t, "/messages/"+signedID+"#unsubscribe", res.Header.Get("Location"))

	// Exactly what RFC 8058 §3.2 has a mailbox provider send.
	calls, bodies := target.snapshot()
	require.Len(t, calls, 1)
	requireOneClickPost(t, calls[0], bodies[0])

	u = section(get(t, web, "/messages/"+signedID).Body, "unsubscribe")
	require.Contains(t, u, `<span class="badge pass">200 OK</span>`)
	require.Contains(t, u, `srcdoc="&lt;h1&gt;You are unsubscribed&lt;/h1&gt;&lt;script&gt;document.body.dataset.ran=1;alert(&#34;answer&#34;)&lt;/script&gt;"`)
	require.NotContains(t, u, "<script")
	// The other message has no answer yet.
	require.NotContains(t, section(get(t, web, "/messages/"+unsignedID).Body, "unsubscribe"), "Last answer")

	// No cookie jar: the second POST does not send back the cookie the first answer set.
	require.Equal(t, http.StatusSeeOther, post(signedID, map[string]string{"Sec-Fetch-Site": "same-origin"}).Status)
	calls, bodies = target.snapshot()
	require.Len(t, calls, 2)
	requireOneClickPost(t, calls[1], bodies[1])
	require.Empty(t, calls[1].Header.Get("Cookie"), "the tracking cookie of the first answer is not sent back")
}

func TestHostileHeadersAreEscaped(t *testing.T) {
	t.Parallel()
	_, addr, web := startSink(t, t.TempDir())
	const evil = `<script>alert(1)</script>`
	rootID := deliver(t, addr, web, rawMail(`a"onmouseover="alert(1)'@x`, evil+" root"))
	replyID := deliver(t, addr, web, "From: "+evil+" <rep@vendor.example>\r\n"+
		"To: \"<img src=x onerror=alert(2)>\" <bob@prospect.example>\r\n"+
		"Subject: Re: "+evil+"\r\n"+
		"Message-ID: <reply@x>\r\n"+
		"In-Reply-To: <a\"onmouseover=\"alert(1)'@x>\r\n"+
		"References: <a\"onmouseover=\"alert(1)'@x> <\"><svg/onload=alert(3)>\r\n"+
		"List-Unsubscribe: <https://evil.example/u/\"onclick=\"alert(4)>\r\n"+
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"+
		"DKIM-Signature: v=1; a=rsa-sha256; d="+evil+"; s=\"><b>x</b>; h=From:"+evil+"; bh=AA==; b=AA==\r\n"+
		"\r\nbody "+evil+"\r\n")

	for _, path := range []string{"/", "/messages/" + rootID, "/messages/" + replyID} {
		body := get(t, web, path).Body
		require.NotContains(t, body, "<script", path)
		require.NotContains(t, body, "<img", path)
		require.NotContains(t, body, "<svg", path)
		require.NotContains(t, body, "<b>x</b>", path)
		require.NotRegexp(t, `"\s*on[a-z]+=`, body, "%s: no attribute injected", path)
		require.NotContains(t, body, `onclick="alert`, path)
	}
	page := get(t, web, "/messages/"+replyID).Body
	require.Contains(t, page, "Re: &lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, page, "<dt>Domain (d=)</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>")
	require.Contains(t, page, `title="`+html.EscapeString(`<script>alert(1)</script> root`)+`"`)
	require.Contains(t, page, "Unsubscribe (one-click)")
	require.Contains(t, page, "<code>https://evil.example/u/%22onclick=%22alert%284%29</code>")
	require.Contains(t, get(t, web, "/").Body, `↳ reply to <a href="/messages/`+rootID+`">&lt;script&gt;alert(1)&lt;/script&gt; root</a>`)
}
