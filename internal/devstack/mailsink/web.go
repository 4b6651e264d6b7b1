package mailsink

import (
	"bytes"
	"encoding/json"
	"html/template"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Handler returns the web UI and JSON API. Mount it at the root of its own
// server (links are absolute):
//
//	GET  /                          message list, newest first
//	GET  /messages/{id}             one message: DKIM result, thread, headers, text part, HTML part
//	GET  /messages/{id}/raw         the stored .eml as text/plain
//	GET  /messages/{id}/parts/{n}   one decoded MIME part (text/* as text/plain;
//	                                other types as a download)
//	GET  /api/messages              JSON list, newest first (see apiMessage)
//	POST /messages/delete-all       delete every message, then 303 to /
//	POST /messages/{id}/unsubscribe the RFC 8058 one-click POST to the message's
//	                                List-Unsubscribe URL, sent by the sink; then 303
//	                                to the message, which shows the answer
//	POST /messages/{id}/reply       play the prospect: store a reply, an out-of-office
//	POST /messages/{id}/auto-reply  auto-reply or a bounce (DSN) to the message, then
//	POST /messages/{id}/bounce      303 to the new message (see prospect.go)
//
// The list and each message show a DKIM result (pass, fail or none; see
// AddDKIMKey for the keys it knows) and the thread a message belongs to
// (In-Reply-To and References).
//
// Pages are html/template output; the HTML part is shown only inside an
// <iframe sandbox="" srcdoc="…"> (no scripts, no same-origin access) and as
// escaped source. Every page is sent with a CSP forbidding scripts, which
// the srcdoc frame inherits.
//
// delete-all, unsubscribe and the prospect buttons are refused with 403 unless the request proves it is
// same-origin: "Sec-Fetch-Site: same-origin" (browsers), or, without that
// header, an Origin header equal to http://<Host> (scripts:
// curl -X POST -H "Origin: http://127.0.0.1:8025" http://127.0.0.1:8025/messages/delete-all).
//
// As a guard against DNS rebinding, requests whose Host is not an IP
// address or localhost name get 403.
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleList)
	mux.HandleFunc("GET /messages/{id}", s.handleMessage)
	mux.HandleFunc("GET /messages/{id}/raw", s.handleRaw)
	mux.HandleFunc("GET /messages/{id}/parts/{n}", s.handlePart)
	mux.HandleFunc("GET /api/messages", s.handleAPIList)
	mux.HandleFunc("POST /messages/delete-all", s.handleDeleteAll)
	mux.HandleFunc("POST /messages/{id}/unsubscribe", s.handleUnsubscribe)
	mux.HandleFunc("POST /messages/{id}/reply", s.handleProspect("reply"))
	mux.HandleFunc("POST /messages/{id}/auto-reply", s.handleProspect("auto-reply"))
	mux.HandleFunc("POST /messages/{id}/bounce", s.handleProspect("bounce"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", pageCSP)
		if !localHost(r.Host) {
			http.Error(w, "mailsink: Host "+strconv.Quote(r.Host)+" not allowed (DNS rebinding guard); use an IP address or localhost", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// pageCSP forbids scripts and plugins everywhere (the srcdoc frame inherits
// it) but lets email HTML use its inline styles and images.
const pageCSP = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// rawCSP is for raw and part downloads: nothing is rendered from them.
const rawCSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

// localHost reports whether a Host header names this machine by IP or a
// localhost name (a rebound DNS name does neither).
func localHost(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// sameOrigin reports whether a state-changing request provably comes from
// a page of this server.
func sameOrigin(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" {
		return v == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

type listRow struct {
	ID, Received, From, To, Subject string
	DKIM                            string // pass, fail, none; empty when unknown
	DKIMDomain                      string // d= of the passing (else first) signature
	ThreadPos, ThreadSize           int    // position in its thread, 1-based; 0 when alone
	ThreadNo                        int    // threads numbered by their first message, oldest 1
	Parent                          *msgLink
}

// msgLink names a stored message.
type msgLink struct {
	ID, Subject string
}

func linkTo(e *entry) *msgLink {
	if e == nil {
		return nil
	}
	return &msgLink{ID: e.ID, Subject: e.Subject}
}

type listPage struct {
	Rows     []listRow
	SMTPAddr string
	Info     string
}

func (s *Sink) handleList(w http.ResponseWriter, r *http.Request) {
	es := s.list()
	p := listPage{Rows: make([]listRow, 0, len(es))}
	if a := s.SMTPAddr(); a != nil {
		p.SMTPAddr = a.String()
	}
	ts := findThreads(es)
	for _, e := range es {
		row := listRow{
			ID:       e.ID,
			Received: e.ReceivedAt.Local().Format(time.DateTime),
			From:     e.From,
			To:       strings.Join(e.To, ", "),
			Subject:  e.Subject,
		}
		if d := s.dkimOf(e, nil); d != nil {
			row.DKIM = d.Status
			row.DKIMDomain = d.domain()
		}
		if t := ts.of[e]; t != nil {
			row.ThreadPos, row.ThreadSize, row.ThreadNo = ts.positions[e], len(t.Members), t.No
			row.Parent = linkTo(ts.parent(e))
		}
		p.Rows = append(p.Rows, row)
	}
	p.Info = strconv.Itoa(len(p.Rows)) + " messages"
	if p.SMTPAddr != "" {
		p.Info += " · SMTP " + p.SMTPAddr
	}
	render(w, "list", p)
}

type partLink struct {
	N                               int
	MediaType, Filename, Size, Note string
}

type messagePage struct {
	ID, Subject, From, To, Received, MessageID string
	EnvelopeFrom, EnvelopeTo                   string
	Header                                     []headerField
	Text, TextNote, TextProblem                string
	HasText                                    bool
	TextPart                                   int
	HTML, HTMLNote, HTMLProblem                string
	HasHTML                                    bool
	HTMLPart                                   int
	Parts                                      []partLink
	Problems                                   []string

	DKIM       *dkimResult
	InReplyTo  []msgRef
	References []msgRef
	Parent     *msgLink
	Thread     []threadRow // the messages of its thread, oldest first; empty when alone

	OneClick *oneClick
	// OneClickUnsigned: no verified DKIM signature covers List-Unsubscribe and
	// List-Unsubscribe-Post, which RFC 8058 §4 requires before a mailbox
	// provider offers the button.
	OneClickUnsigned bool
	Unsubscribe      *unsubscribeResult

	Prospect *prospectView // the buttons that answer as the prospect
	Made     string        // notice after a button made this message; "" otherwise
}

// msgRef is one id of In-Reply-To or References; ID is set when the sink has
// that message.
type msgRef struct {
	MsgID, ID, Subject string
}

type threadRow struct {
	ID, Subject, From, Received string
	Current                     bool
}

func (s *Sink) handleMessage(w http.ResponseWriter, r *http.Request) {
	e, raw, ok := s.fetch(w, r)
	if !ok {
		return
	}
	pm := parseMessage(raw)
	p := messagePage{
		ID:           e.ID,
		Subject:      e.Subject,
		From:         e.From,
		To:           strings.Join(e.To, ", "),
		Received:     e.ReceivedAt.Local().Format(time.DateTime + " MST"),
		MessageID:    e.MessageID,
		EnvelopeFrom: e.EnvelopeFrom,
		EnvelopeTo:   strings.Join(e.EnvelopeTo, ", "),
		Header:       pm.Header,
		Problems:     pm.Problems,
		DKIM:         s.dkimOf(e, raw),
		OneClick:     findOneClick(pm.Header),
		Prospect:     prospectViewOf(readOriginal(e, raw), time.Now()),
	}
	if note, ok := madeNotes[r.URL.Query().Get("made")]; ok {
		p.Made = note + ": delivered to " + p.EnvelopeTo + ", in that address's IMAP INBOX."
	}
	ts := findThreads(s.list())
	ref := func(id string) msgRef {
		r := msgRef{MsgID: id}
		if m, ok := ts.byMsgID[id]; ok && m != e {
			r.ID, r.Subject = m.ID, m.Subject
		}
		return r
	}
	for _, id := range e.InReplyTo {
		p.InReplyTo = append(p.InReplyTo, ref(id))
	}
	for _, id := range e.References {
		p.References = append(p.References, ref(id))
	}
	p.Parent = linkTo(ts.parent(e))
	if t := ts.of[e]; t != nil {
		for _, m := range t.Members {
			p.Thread = append(p.Thread, threadRow{ID: m.ID, Subject: m.Subject, From: m.From,
				Received: m.ReceivedAt.Local().Format(time.DateTime), Current: m == e})
		}
	}
	if p.OneClick != nil {
		p.OneClickUnsigned = !p.DKIM.passingSignatureCovers("List-Unsubscribe", "List-Unsubscribe-Post")
		s.mu.RLock()
		p.Unsubscribe = e.unsub
		s.mu.RUnlock()
	}
	if l := pm.Text; l != nil {
		p.HasText, p.TextPart, p.TextProblem = true, l.Index, l.Problem
		p.Text, p.TextNote = l.Text()
	}
	if l := pm.HTML; l != nil {
		p.HasHTML, p.HTMLPart, p.HTMLProblem = true, l.Index, l.Problem
		p.HTML, p.HTMLNote = l.Text()
	}
	for _, l := range pm.Leaves {
		p.Parts = append(p.Parts, partLink{
			N: l.Index, MediaType: l.MediaType, Filename: l.Filename,
			Size: humanSize(len(l.Body)), Note: l.Problem,
		})
	}
	render(w, "message", p)
}

func (s *Sink) handleRaw(w http.ResponseWriter, r *http.Request) {
	_, raw, ok := s.fetch(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Security-Policy", rawCSP)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	_, _ = w.Write(raw)
}

func (s *Sink) handlePart(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		http.NotFound(w, r)
		return
	}
	_, raw, ok := s.fetch(w, r)
	if !ok {
		return
	}
	pm := parseMessage(raw)
	if n >= len(pm.Leaves) {
		http.NotFound(w, r)
		return
	}
	l := pm.Leaves[n]
	w.Header().Set("Content-Security-Policy", rawCSP)
	if l.IsText() {
		text, _ := l.Text()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(text))
		return
	}
	name := l.Filename
	if name == "" {
		name = "part-" + strconv.Itoa(n)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	_, _ = w.Write(l.Body)
}

// apiMessage is one element of GET /api/messages. from and to are bare
// addresses from the From and To headers.
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
	InReplyTo    []string  `json:"in_reply_to"`
	References   []string  `json:"references"`
	DKIM         string    `json:"dkim,omitempty"` // pass, fail or none
}

func (s *Sink) handleAPIList(w http.ResponseWriter, r *http.Request) {
	es := s.list()
	out := make([]apiMessage, 0, len(es))
	for _, e := range es {
		out = append(out, apiMessage{
			ID: e.ID, From: e.FromAddr, To: nonNil(e.ToAddrs), Subject: e.Subject,
			MessageID: e.MessageID, ReceivedAt: e.ReceivedAt,
			EnvelopeFrom: e.EnvelopeFrom, EnvelopeTo: nonNil(e.EnvelopeTo), Size: e.Size,
			InReplyTo: nonNil(e.InReplyTo), References: nonNil(e.References),
		})
		if d := s.dkimOf(e, nil); d != nil {
			out[len(out)-1].DKIM = d.Status
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func (s *Sink) handleDeleteAll(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "mailsink: cross-origin request refused (need Sec-Fetch-Site: same-origin or a matching Origin)", http.StatusForbidden)
		return
	}
	if err := s.deleteAll(); err != nil {
		http.Error(w, "mailsink: delete: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleUnsubscribe posts the message's one-click unsubscribe as a mailbox
// provider would, keeps the answer and sends the browser back to the message.
func (s *Sink) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "mailsink: cross-origin request refused (need Sec-Fetch-Site: same-origin or a matching Origin)", http.StatusForbidden)
		return
	}
	e, raw, ok := s.fetch(w, r)
	if !ok {
		return
	}
	fields, _ := parseHeader(raw)
	oc := findOneClick(fields)
	if oc == nil {
		http.Error(w, "mailsink: this message offers no one-click unsubscribe (List-Unsubscribe with an http(s) URL and List-Unsubscribe-Post: List-Unsubscribe=One-Click)", http.StatusBadRequest)
		return
	}
	res := postOneClick(r.Context(), oc.URL)
	s.mu.Lock()
	e.unsub = res // a message deleted meanwhile keeps it with its entry, which nothing shows any more
	s.mu.Unlock()
	http.Redirect(w, r, "/messages/"+url.PathEscape(e.ID)+"#unsubscribe", http.StatusSeeOther)
}

// fetch resolves {id} through the index and reads the file; it writes a
// 404 itself when the id is unknown.
func (s *Sink) fetch(w http.ResponseWriter, r *http.Request) (*entry, []byte, bool) {
	e, ok := s.lookup(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return nil, nil, false
	}
	raw, err := s.readRaw(e)
	if err != nil {
		// Deleted meanwhile, or removed by hand.
		http.NotFound(w, r)
		return nil, nil, false
	}
	return e, raw, true
}

func render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "mailsink: render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func humanSize(n int) string {
	switch {
	case n < 1<<10:
		return strconv.Itoa(n) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var pages = template.Must(template.New("").Funcs(template.FuncMap{"add": func(a, b int) int { return a + b }}).Parse(`
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>followup — dev mail</title>
<style>
:root { color-scheme: light; --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:#fff; }
header { display:flex; align-items:center; gap:1rem; padding:.6rem 1.2rem; border-bottom:1px solid var(--line); background:var(--bg); }
header a.brand { font-weight:600; color:var(--fg); text-decoration:none; }
header .info { color:var(--muted); flex:1; }
main { padding:1rem 1.2rem; max-width:1200px; }
a { color:var(--accent); }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.4rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
td.when { white-space:nowrap; color:var(--muted); font-variant-numeric:tabular-nums; }
tr:hover td { background:var(--bg); }
h1 { font-size:1.3rem; margin:.2rem 0 .8rem; word-break:break-word; }
h2 { font-size:1rem; margin:1.4rem 0 .5rem; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; margin:0; }
dl.kv dt { color:var(--muted); font-weight:600; }
dl.kv dd { margin:0; word-break:break-word; }
dl.headers dt, dl.headers dd { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; }
pre { white-space:pre-wrap; word-break:break-word; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:.8rem; margin:0; font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace; }
iframe { width:100%; height:32rem; border:1px solid var(--line); border-radius:6px; background:#fff; }
.links { margin:.3rem 0 .6rem; color:var(--muted); }
.muted, .empty { color:var(--muted); }
.note { color:#9a6700; }
button { font:inherit; padding:.25rem .7rem; border:1px solid var(--line); border-radius:6px; background:#fff; cursor:pointer; }
button.danger { color:#cf222e; }
details summary { cursor:pointer; color:var(--accent); margin:.5rem 0; }
.small { font-size:12px; }
.badge { display:inline-block; padding:0 .45rem; border-radius:1rem; font-size:12px; font-weight:600; border:1px solid var(--line); }
.badge.pass { color:#1a7f37; border-color:#1a7f37; }
.badge.fail { color:#cf222e; border-color:#cf222e; }
.badge.none { color:var(--muted); }
code { font:12px ui-monospace,SFMono-Regular,Menlo,monospace; word-break:break-all; }
tr.current td { background:var(--bg); font-weight:600; }
form.prospect { margin:.4rem 0; }
form.prospect textarea { width:100%; max-width:40rem; font:inherit; display:block; margin-bottom:.3rem; }
p.made { padding:.5rem .8rem; border:1px solid #1a7f37; border-radius:6px; color:#1a7f37; background:#dafbe1; }
</style>
</head>
<body>
<header><a class="brand" href="/">followup — dev mail</a><span class="info">{{.}}</span><a href="/api/messages">JSON</a></header>
<main>
{{end}}

{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "list"}}{{template "head" .Info}}
{{if .Rows}}
<form method="post" action="/messages/delete-all"><button class="danger" type="submit">Delete all</button></form>
<table>
<thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Thread</th><th>DKIM</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="when">{{.Received}}</td>
<td>{{.From}}</td>
<td>{{.To}}</td>
<td><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a>{{with .Parent}}<div class="small muted">↳ reply to <a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></div>{{end}}</td>
<td class="thread">{{if .ThreadSize}}<span title="thread {{.ThreadNo}}: message {{.ThreadPos}} of {{.ThreadSize}}">thread {{.ThreadNo}} · {{.ThreadPos}}/{{.ThreadSize}}</span>{{end}}</td>
<td>{{if .DKIM}}<span class="badge {{.DKIM}}">{{.DKIM}}</span>{{with .DKIMDomain}} <span class="small muted">{{.}}</span>{{end}}{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}
<p class="empty">No messages yet.{{if .SMTPAddr}} Send mail to SMTP {{.SMTPAddr}} (no TLS, no auth).{{end}}</p>
{{end}}
{{template "foot"}}{{end}}

{{define "msgref"}}{{if .ID}}<a href="/messages/{{.ID}}" title="{{.Subject}}">&lt;{{.MsgID}}&gt;</a>{{else}}<code>&lt;{{.MsgID}}&gt;</code>{{end}}{{end}}

{{define "message"}}{{template "head" .ID}}
<p><a href="/">← all messages</a></p>
<h1>{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</h1>
<dl class="kv">
<dt>From</dt><dd>{{.From}}</dd>
<dt>To</dt><dd>{{.To}}</dd>
<dt>Received</dt><dd>{{.Received}}</dd>
{{if .MessageID}}<dt>Message-ID</dt><dd>{{.MessageID}}</dd>{{end}}
<dt>Envelope</dt><dd>{{.EnvelopeFrom}} → {{.EnvelopeTo}}</dd>
</dl>
<p class="links"><a href="/messages/{{.ID}}/raw">raw .eml</a></p>
{{with .Made}}<p class="made" id="made">{{.}}</p>{{end}}
{{range .Problems}}<p class="note">{{.}}</p>{{end}}

{{with .Prospect}}<h2 id="prospect">Play the prospect</h2>
<p class="small muted">As {{.Prospect}}. Reply and Auto-reply go to {{if .ReplyTarget}}{{.ReplyTarget}}{{else}}(no address){{end}} (Reply-To, else From); Bounce goes to {{if .BounceTarget}}{{.BounceTarget}}{{else}}(no address){{end}} (the envelope sender). Each is stored here and lands in that address's IMAP INBOX.</p>
<form method="post" action="/messages/{{$.ID}}/reply" class="prospect"><textarea name="body" rows="3" maxlength="{{.MaxReplyText}}" aria-label="reply text">{{.ReplyText}}</textarea><div><button type="submit">Reply</button> <span class="small muted">the original is quoted below your text</span></div></form>
<form method="post" action="/messages/{{$.ID}}/auto-reply" class="prospect"><button type="submit">Auto-reply</button> <label>(back on <input type="date" name="back" value="{{.BackOn}}" required>)</label></form>
<form method="post" action="/messages/{{$.ID}}/bounce" class="prospect"><button type="submit">Bounce</button> <span class="small muted">550 5.1.1 user unknown, as a delivery status notification</span></form>
{{end}}

<h2 id="dkim">DKIM</h2>
{{with .DKIM}}
<p><span class="badge {{.Status}}">{{.Status}}</span>{{if eq .Status "none"}} <span class="muted">no DKIM-Signature header</span>{{end}}</p>
{{range .Signatures}}<dl class="kv dkim-signature">
<dt>Result</dt><dd>{{if .Pass}}<span class="badge pass">pass</span>{{else}}<span class="badge fail">fail</span> {{.Err}}{{end}}</dd>
<dt>Domain (d=)</dt><dd>{{.Domain}}</dd>
<dt>Selector (s=)</dt><dd>{{.Selector}}</dd>
<dt>Signed headers (h=)</dt><dd><code>{{range $i, $h := .Headers}}{{if $i}}:{{end}}{{$h}}{{end}}</code></dd>
</dl>
{{end}}{{with .Problem}}<p class="note">{{.}}</p>{{end}}
{{else}}<p class="muted">Not checked.</p>{{end}}

{{if or .InReplyTo .References .Thread}}<h2 id="thread">Thread</h2>
<dl class="kv">
{{with .Parent}}<dt>Reply to</dt><dd><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></dd>{{end}}
{{if .InReplyTo}}<dt>In-Reply-To</dt><dd>{{range .InReplyTo}}{{template "msgref" .}} {{end}}</dd>{{end}}
{{if .References}}<dt>References</dt><dd>{{range .References}}{{template "msgref" .}} {{end}}</dd>{{end}}
</dl>
{{if .Thread}}<table class="thread">
<thead><tr><th>#</th><th>Received</th><th>From</th><th>Subject</th></tr></thead>
<tbody>
{{range $i, $m := .Thread}}<tr{{if .Current}} class="current"{{end}}><td>{{add $i 1}}</td><td class="when">{{.Received}}</td><td>{{.From}}</td><td>{{if .Current}}{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}} (this message){{else}}<a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a>{{end}}</td></tr>
{{end}}</tbody>
</table>{{end}}
{{end}}

{{with .OneClick}}<h2 id="unsubscribe">Unsubscribe</h2>
<p>List-Unsubscribe offers one-click unsubscribe (RFC 8058): <code>{{.URL}}</code></p>
<form method="post" action="/messages/{{$.ID}}/unsubscribe"><button type="submit">Unsubscribe (one-click)</button></form>
<p class="small muted">The sink POSTs <code>List-Unsubscribe=One-Click</code> to that URL as a mailbox provider does: form-encoded, no cookies, redirects not followed.</p>
{{if $.OneClickUnsigned}}<p class="note">No verified DKIM signature covers List-Unsubscribe and List-Unsubscribe-Post: mailbox providers would not offer this button (RFC 8058 §4).</p>{{end}}
{{with $.Unsubscribe}}<h3>Last answer</h3>
<dl class="kv unsubscribe-result">
<dt>Posted</dt><dd>{{.At.Local.Format "2006-01-02 15:04:05"}} to <code>{{.URL}}</code></dd>
{{with .Status}}<dt>Status</dt><dd>{{if $.Unsubscribe.OK}}<span class="badge pass">{{.}}</span>{{else}}<span class="badge fail">{{.}}</span>{{end}}</dd>{{end}}
{{with .Error}}<dt>Error</dt><dd class="note">{{.}}</dd>{{end}}
</dl>
{{if .Body}}{{if .IsHTML}}<iframe sandbox="" referrerpolicy="no-referrer" title="unsubscribe answer" srcdoc="{{.Body}}"></iframe>{{else}}<pre>{{.Body}}</pre>{{end}}{{end}}
{{end}}{{end}}

<h2>HTML part</h2>
{{if .HasHTML}}
<p class="links"><a href="/messages/{{.ID}}/parts/{{.HTMLPart}}">view HTML source as text</a>{{with .HTMLNote}} · <span class="note">{{.}}</span>{{end}}{{with .HTMLProblem}} · <span class="note">{{.}}</span>{{end}}</p>
<iframe sandbox="" referrerpolicy="no-referrer" title="HTML part" srcdoc="{{.HTML}}"></iframe>
<details><summary>HTML source</summary><pre>{{.HTML}}</pre></details>
{{else}}<p class="muted">No HTML part.</p>{{end}}

<h2>Text part</h2>
{{if .HasText}}
<p class="links"><a href="/messages/{{.ID}}/parts/{{.TextPart}}">view as text/plain</a>{{with .TextNote}} · <span class="note">{{.}}</span>{{end}}{{with .TextProblem}} · <span class="note">{{.}}</span>{{end}}</p>
<pre class="text">{{.Text}}</pre>
{{else}}<p class="muted">No text part.</p>{{end}}

{{if .Parts}}<h2>MIME parts</h2>
<table>
<thead><tr><th>#</th><th>Type</th><th>Name</th><th>Size</th></tr></thead>
<tbody>
{{$id := .ID}}{{range .Parts}}<tr><td><a href="/messages/{{$id}}/parts/{{.N}}">{{.N}}</a></td><td>{{.MediaType}}</td><td>{{.Filename}}</td><td>{{.Size}}{{with .Note}} <span class="note">{{.}}</span>{{end}}</td></tr>
{{end}}</tbody>
</table>{{end}}

<h2>Headers</h2>
<dl class="kv headers">
{{range .Header}}<dt>{{.Name}}:</dt><dd>{{.Value}}</dd>
{{end}}</dl>
{{template "foot"}}{{end}}
`))
