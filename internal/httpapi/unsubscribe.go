package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

// The public unsubscribe pages, GET and POST /u/{token}, the target of every nurture email's
// List-Unsubscribe header and footer link (README.md, "The HTTP API": Unsubscribe links;
// RFC 8058).
//
// No bearer token: the prospect's mail client and mailbox providers call them. The signed
// token in the path is the capability; it names the contact and the deal and nothing else.
//
//   - GET shows a confirmation page with a button and changes nothing: mail scanners and
//     link previews fetch URLs found in mail (RFC 8058 §1).
//   - POST unsubscribes. RFC 8058 clients send "List-Unsubscribe=One-Click" as
//     application/x-www-form-urlencoded or multipart/form-data, without cookies or any
//     authorization (§3.2); the page's form posts the same. A repeated POST answers the same
//     success page and adds no second suppression.
//
// Cross-site requests: a one-click POST comes from a mail provider's
// server with no cookie or session, so there is nothing a CSRF token could be tied to, and
// RFC 8058 forbids adding one. None is needed either: these routes use no ambient
// credentials at all. The only thing that authorises the POST is the unguessable token in
// its URL, which a third-party page cannot know without the email itself, and whoever has
// the email may unsubscribe its recipient; that is the point of the link. A forged
// cross-site POST therefore can do no more than a direct request with the same URL. The
// pages also forbid framing (frame-ancestors 'none'), posting elsewhere (form-action 'self')
// and leaking the token through Referer (no-referrer).

// MaxUnsubscribeBodyBytes bounds the body of an unsubscribe POST; RFC 8058's is 26 bytes.
const MaxUnsubscribeBodyBytes = 8 << 10

// unsubscribeSource is the inbound event source (and suppression source) of the links.
const unsubscribeSource = "unsubscribe-link"

// unsubscribeTimeout bounds the work of one POST, which goes on if the client hangs up: a
// committed opt-out should reach the deal's workflow too.
const unsubscribeTimeout = 20 * time.Second

const pageCSS = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}` +
	`h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#b3261e;color:#fff;cursor:pointer}` +
	`p.small{color:#666;font-size:.9rem}`

// unsubscribeCSP allows the page's own inline style (by hash) and form posts to its own
// origin, nothing else: no scripts, images, frames or external assets.
var unsubscribeCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}}</title>
<style>` + pageCSS + `</style>
</head>
<body>
{{- if eq .State "confirm"}}
<h1>Unsubscribe {{.Address}} from emails by {{.Sender}}?</h1>
<form method="post" action="{{.Token}}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
<p class="small">You will receive no more of these emails.</p>
{{- else if eq .State "done"}}
<h1>You are unsubscribed</h1>
<p>{{.Address}} will receive no more emails from {{.Sender}}.</p>
{{- else if eq .State "error"}}
<h1>Something went wrong</h1>
<p>Your request could not be completed. Please try again in a few minutes.</p>
{{- else}}
<h1>This link is not valid</h1>
<p>To stop receiving emails, use the unsubscribe link of a recent email, or reply to it.</p>
{{- end}}
</body>
</html>
`))

type unsubscribeView struct {
	State   string // confirm, done, error, invalid
	Title   string
	Address string // masked
	Sender  string
	Token   string // the form posts to the page's own URL
}

// unsubscribeForm serves GET /u/{token}: a confirmation page that changes nothing.
func (s *Server) unsubscribeForm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	claims, err := s.Unsubscribe.Verify(token)
	if err != nil {
		writePage(w, http.StatusNotFound, invalidView)
		return
	}
	target, ok := s.unsubscribeTarget(r.Context(), w, r, claims)
	if !ok {
		return
	}
	v := unsubscribeView{State: "confirm", Title: "Unsubscribe", Address: maskAddress(target.ContactEmail), Sender: senderOf(target), Token: token}
	if target.Unsubscribed {
		v.State, v.Title = "done", "Unsubscribed"
	}
	writePage(w, http.StatusOK, v)
}

// unsubscribePost serves POST /u/{token}: it records the opt-out and answers the same page
// every time.
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) {
	claims, err := s.Unsubscribe.Verify(r.PathValue("token"))
	if err != nil {
		writePage(w, http.StatusNotFound, invalidView)
		return
	}
	oneClick, status := readUnsubscribeBody(w, r)
	if status != 0 {
		writePage(w, status, invalidView)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), unsubscribeTimeout)
	defer cancel()
	target, ok := s.unsubscribeTarget(ctx, w, r, claims)
	if !ok {
		return
	}
	how := "POST"
	if oneClick {
		how = "one-click POST (RFC 8058)"
	}
	detail := how + " of a link issued " + claims.IssuedAt.Format(time.RFC3339)
	if target.DealFound {
		// Through the deal's front door, as any other engagement: the suppression is committed
		// under the contact's lock (the lock sends take) with the event, then the workflow is
		// signalled and stops its emails; for a closed deal the suppression alone is recorded.
		// One event id per deal and contact: a repeated POST, or another email's link, is a
		// duplicate of the first.
		// The event names the email whose link was used, so the per-step statistics count the
		// opt-out on that email; without it (not found) they fall back to the last one sent.
		var answers *store.LedgerKey
		if key, found, err := s.Deals.Store.EmailOfLink(ctx, claims.DealID, claims.ContactID, claims.IssuedAt); err != nil {
			s.Logger.Warn("unsubscribe: the link's email not found", "deal", claims.DealID, "err", err)
		} else if found {
			answers = &key
		}
		resp, err := s.Deals.Engage(ctx, deals.EngageRequest{
			Deal: claims.DealID, Kind: cadence.EngagedUnsubscribe, Source: unsubscribeSource,
			EventID: "deal:" + claims.DealID + ":contact:" + claims.ContactID, Detail: detail, Answers: answers,
		})
		switch {
		case err != nil && resp.Suppressed:
			// The opt-out is committed, which is what the prospect asked for; the workflow
			// hears of it when the event is signalled again (a repeated POST does that).
			s.Logger.Warn("unsubscribe recorded but the deal was not signalled", "deal", claims.DealID, "event", resp.EventID, "err", err)
		case err != nil:
			s.unsubscribeFailed(w, r, claims, err)
			return
		default:
			s.Logger.Info("unsubscribed through a link", "deal", claims.DealID, "event", resp.EventID, "state", resp.State, "duplicate", resp.Duplicate)
		}
	} else {
		// The link's deal is gone or is not the contact's: suppress the contact alone.
		added, err := s.Deals.Store.UnsubscribeContact(ctx, claims.ContactID, unsubscribeSource, detail)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writePage(w, http.StatusNotFound, invalidView)
			return
		case err != nil:
			s.unsubscribeFailed(w, r, claims, err)
			return
		}
		s.Logger.Info("unsubscribed through a link without its deal", "contact", claims.ContactID, "added", added)
	}
	writePage(w, http.StatusOK, unsubscribeView{State: "done", Title: "Unsubscribed",
		Address: maskAddress(target.ContactEmail), Sender: senderOf(target)})
}

// unsubscribeTarget reads the contact and deal a verified link names. Not ok: the answer is
// written, the invalid-link page when they are unknown, else the generic error page.
func (s *Server) unsubscribeTarget(ctx context.Context, w http.ResponseWriter, r *http.Request,
	claims unsubscribe.Claims) (target store.UnsubscribeTarget, ok bool) {
	target, err := s.Deals.Store.UnsubscribeTarget(ctx, claims.ContactID, claims.DealID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writePage(w, http.StatusNotFound, invalidView)
		return target, false
	case err != nil:
		s.unsubscribeFailed(w, r, claims, err)
		return target, false
	}
	return target, true
}

// readUnsubscribeBody reads the body within MaxUnsubscribeBodyBytes and reports whether it
// is RFC 8058's List-Unsubscribe=One-Click. Any other readable body is accepted too: the
// token authorises the opt-out, and refusing one would only keep mailing someone who asked
// to stop. A non-zero status refuses the request (too large, or a form that does not parse).
func readUnsubscribeBody(w http.ResponseWriter, r *http.Request) (oneClick bool, status int) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxUnsubscribeBodyBytes)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(MaxUnsubscribeBodyBytes)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
	default:
		_, err = io.Copy(io.Discard, r.Body)
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return false, http.StatusRequestEntityTooLarge
	case err != nil:
		return false, http.StatusBadRequest
	}
	return r.PostFormValue("List-Unsubscribe") == "One-Click", 0
}

// unsubscribeFailed logs an internal error (never echoed) and answers a generic page.
func (s *Server) unsubscribeFailed(w http.ResponseWriter, r *http.Request, claims unsubscribe.Claims, err error) {
	s.Logger.Error("unsubscribe request failed", "method", r.Method, "deal", claims.DealID, "contact", claims.ContactID, "err", err)
	writePage(w, http.StatusInternalServerError, unsubscribeView{State: "error", Title: "Something went wrong"})
}

var invalidView = unsubscribeView{State: "invalid", Title: "Link not valid"}

func writePage(w http.ResponseWriter, status int, v unsubscribeView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", unsubscribeCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex")
	w.WriteHeader(status)
	_ = unsubscribePage.Execute(w, v)
}

// maskAddress shows enough of an address for its owner to recognise it: the first character
// of the local part, and the domain ("b***@prospect.test").
func maskAddress(email string) string {
	at := strings.LastIndex(email, "@")
	if at <= 0 {
		return "your address"
	}
	first, _ := utf8.DecodeRuneInString(email)
	return string(first) + "***" + email[at:]
}

// senderOf names who sends the emails: the owner's company, else the owner's name.
func senderOf(t store.UnsubscribeTarget) string {
	switch {
	case t.OwnerCompany != "":
		return t.OwnerCompany
	case t.OwnerName != "":
		return t.OwnerName
	}
	return "this sender"
}
