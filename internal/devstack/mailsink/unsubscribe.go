package mailsink

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The mail page offers RFC 8058 one-click unsubscribe for messages that
// carry both List-Unsubscribe with an http(s) URI and
// "List-Unsubscribe-Post: List-Unsubscribe=One-Click". The sink itself posts,
// as a mailbox provider does: "List-Unsubscribe=One-Click" as
// application/x-www-form-urlencoded, with no cookies, no credentials, no
// Origin and no redirects followed (RFC 8058 §3.2), and keeps the answer to
// show on the message's page.

// oneClickBody is the POST body RFC 8058 §3.1 prescribes.
const oneClickBody = "List-Unsubscribe=One-Click"

// maxUnsubscribeAnswer bounds how much of the answer is kept for display.
const maxUnsubscribeAnswer = 64 << 10

// unsubscribeTimeout bounds one one-click POST.
const unsubscribeTimeout = 20 * time.Second

// oneClick is a message's one-click unsubscribe offer.
type oneClick struct {
	URL string // the http(s) URI of List-Unsubscribe
}

// findOneClick returns the message's one-click URL, or nil when its header
// does not offer one-click unsubscribe.
func findOneClick(fields []headerField) *oneClick {
	var list, post []string
	for _, f := range fields {
		switch {
		case strings.EqualFold(f.Name, "List-Unsubscribe"):
			list = append(list, f.Raw)
		case strings.EqualFold(f.Name, "List-Unsubscribe-Post"):
			post = append(post, f.Raw)
		}
	}
	// RFC 8058 §3.1: exactly one of each, and the POST key=value as given.
	if len(list) != 1 || len(post) != 1 || strings.TrimSpace(post[0]) != oneClickBody {
		return nil
	}
	for _, m := range msgIDPattern.FindAllStringSubmatch(list[0], -1) {
		u, err := url.Parse(m[1])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			continue
		}
		return &oneClick{URL: u.String()}
	}
	return nil
}

// unsubscribeResult is the answer to the sink's one-click POST.
type unsubscribeResult struct {
	URL    string
	At     time.Time
	Status string // "200 OK", or empty when no answer came
	Error  string // transport error
	Body   string // the answer, cut at maxUnsubscribeAnswer
	IsHTML bool
}

// OK reports a 2xx answer.
func (r *unsubscribeResult) OK() bool { return strings.HasPrefix(r.Status, "2") }

// unsubscribeClient posts like a mailbox provider: no cookie jar, no
// redirects followed.
var unsubscribeClient = &http.Client{
	Timeout:       unsubscribeTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// postOneClick sends the RFC 8058 one-click POST to target.
func postOneClick(ctx context.Context, target string) *unsubscribeResult {
	res := &unsubscribeResult{URL: target, At: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, unsubscribeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(oneClickBody))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "followup-mailsink (RFC 8058 one-click)")
	resp, err := unsubscribeClient.Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.Status
	if loc := resp.Header.Get("Location"); loc != "" {
		res.Status += fmt.Sprintf(" (redirect to %s, not followed)", loc)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUnsubscribeAnswer))
	if err != nil {
		res.Error = "reading the answer: " + err.Error()
	}
	res.Body = strings.ToValidUTF8(string(b), "\uFFFD")
	res.IsHTML = strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/html")
	return res
}
