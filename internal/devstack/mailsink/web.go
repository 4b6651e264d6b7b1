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
//	GET  /messages/{id}             one message: headers, text part, HTML part
//	GET  /messages/{id}/raw         the stored .eml as text/plain
//	GET  /messages/{id}/parts/{n}   one decoded MIME part (text/* as text/plain;
//	                                other types as a download)
//	GET  /api/messages              JSON list, newest first (see apiMessage)
//	POST /messages/delete-all       delete every message, then 303 to /
//
// Pages are html/template output; the HTML part is shown only inside an
// <iframe sandbox="" srcdoc="…"> (no scripts, no same-origin access) and as
// escaped source. Every page is sent with a CSP forbidding scripts, which
// the srcdoc frame inherits.
//
// delete-all is refused with 403 unless the request proves it is
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
	for _, e := range es {
		p.Rows = append(p.Rows, listRow{
			ID:       e.ID,
			Received: e.ReceivedAt.Local().Format(time.DateTime),
			From:     e.From,
			To:       strings.Join(e.To, ", "),
			Subject:  e.Subject,
		})
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
}

func (s *Sink) handleAPIList(w http.ResponseWriter, r *http.Request) {
	es := s.list()
	out := make([]apiMessage, 0, len(es))
	for _, e := range es {
		out = append(out, apiMessage{
			ID: e.ID, From: e.FromAddr, To: nonNil(e.ToAddrs), Subject: e.Subject,
			MessageID: e.MessageID, ReceivedAt: e.ReceivedAt,
			EnvelopeFrom: e.EnvelopeFrom, EnvelopeTo: nonNil(e.EnvelopeTo), Size: e.Size,
		})
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

var pages = template.Must(template.New("").Parse(`
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
<thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td class="when">{{.Received}}</td>
<td>{{.From}}</td>
<td>{{.To}}</td>
<td><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td>
</tr>
{{end}}</tbody>
</table>
{{else}}
<p class="empty">No messages yet.{{if .SMTPAddr}} Send mail to SMTP {{.SMTPAddr}} (no TLS, no auth).{{end}}</p>
{{end}}
{{template "foot"}}{{end}}

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
{{range .Problems}}<p class="note">{{.}}</p>{{end}}

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
