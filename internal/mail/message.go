package mail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Message is one rendered email.
type Message struct {
	// MessageID without angle brackets, e.g. "abc123@example.com". Required:
	// a retry must reuse it so duplicates and bounces correlate (see MessageID).
	MessageID string
	// Addresses, optionally with display names ("Ana Rep <ana@x.com>").
	From, ReplyTo, To string
	Subject           string
	// Rendered bodies; sent as multipart/alternative when both are set.
	Text, HTML string
	// InReplyTo is an optional message id (no brackets) for threading: the
	// message this one answers.
	InReplyTo string
	// ThreadRoot is the first message id of the thread (no brackets); with
	// InReplyTo it makes References. Empty: InReplyTo started the thread.
	ThreadRoot string
	// ListUnsubscribeURL is an optional URL for RFC 8058 one-click unsubscribe
	// (List-Unsubscribe + List-Unsubscribe-Post); see CheckOneClickURL.
	ListUnsubscribeURL string
	// Headers are optional extra "X-" headers.
	Headers map[string]string
}

// ErrInvalidMessage wraps every Build error. Retrying cannot fix such a
// message, so Classify reports it as FailPermanent.
var ErrInvalidMessage = errors.New("mail: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// Build renders m into a go-mail message. It rejects CR, LF or NUL in any
// header value: go-mail Q-encodes most values (so they would not inject
// headers), but a silently mangled subject or id is still a bug upstream.
func Build(m Message) (*gomail.Msg, error) {
	// No default User-Agent/X-Mailer: it only advertises the library version.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())

	for _, f := range []struct{ name, val string }{
		{"Message-ID", m.MessageID}, {"From", m.From}, {"Reply-To", m.ReplyTo},
		{"To", m.To}, {"Subject", m.Subject}, {"In-Reply-To", m.InReplyTo}, {"Thread root", m.ThreadRoot},
		{"List-Unsubscribe URL", m.ListUnsubscribeURL},
	} {
		if err := checkHeaderValue(f.name, f.val); err != nil {
			return nil, err
		}
	}

	if err := checkMsgID("Message-ID", m.MessageID); err != nil {
		return nil, err
	}
	msg.SetMessageIDWithValue(m.MessageID)

	if m.From == "" || m.To == "" {
		return nil, invalid("From and To are required")
	}
	if err := msg.From(m.From); err != nil {
		return nil, invalid("From: %v", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, invalid("To: %v", err)
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, invalid("Reply-To: %v", err)
		}
	}
	msg.Subject(m.Subject)

	if m.InReplyTo != "" {
		if err := checkMsgID("In-Reply-To", m.InReplyTo); err != nil {
			return nil, err
		}
		ref := "<" + m.InReplyTo + ">"
		msg.SetGenHeader(gomail.HeaderInReplyTo, ref)
		// References: the thread's first message, then the parent (RFC 5322 §3.6.4 lets
		// the middle of a long chain go).
		refs := ref
		if m.ThreadRoot != "" && m.ThreadRoot != m.InReplyTo {
			if err := checkMsgID("Thread root", m.ThreadRoot); err != nil {
				return nil, err
			}
			refs = "<" + m.ThreadRoot + "> " + ref
		}
		msg.SetGenHeader(gomail.HeaderReferences, refs)
	}

	if m.ListUnsubscribeURL != "" {
		if err := CheckOneClickURL(m.ListUnsubscribeURL); err != nil {
			return nil, invalid("List-Unsubscribe URL: %v", err)
		}
		// Preformatted keeps the header on one line whatever the URL's length: a folded
		// List-Unsubscribe broke DKIM at relays (nodemailer #1654). CheckOneClickURL
		// allows no spaces, controls or angle brackets, so nothing can be injected.
		// go-mail's SetListUnsubscribeOneClick would do the same but refuses http, and
		// writes both headers preformatted, in random order; the short Post header goes
		// with the others instead, so the rendering is stable.
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<"+m.ListUnsubscribeURL+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}

	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		v := m.Headers[k]
		if !validXHeaderName(k) {
			return nil, invalid("header name %q: only X- headers of printable ASCII are allowed", k)
		}
		if err := checkHeaderValue(k, v); err != nil {
			return nil, err
		}
		// SetGenHeader encodes the value; SetGenHeaderPreformatted would write
		// it as given, leaving its safety (no header injection) to the caller.
		msg.SetGenHeader(gomail.Header(k), v)
	}

	switch {
	case m.Text != "" && m.HTML != "":
		// Plain first, HTML last: in multipart/alternative the last part is
		// the preferred one (RFC 2046 §5.1.4).
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		return nil, invalid("no body: Text and HTML are both empty")
	}
	return msg, nil
}

// maxOneClickURL keeps "List-Unsubscribe: <URL>" well within RFC 5322's 998-character line.
const maxOneClickURL = 900

// CheckOneClickURL reports whether raw can be the URL of List-Unsubscribe with
// List-Unsubscribe-Post (RFC 8058): a ParseLinkURL URL without commas (they separate the
// header's URLs), at most 900 characters, that is https, or, for a local stack, http whose
// host is a loopback address or localhost (127.0.0.1, ::1, localhost). Errors do not quote
// the URL: its token is a capability.
func CheckOneClickURL(raw string) error {
	switch {
	case len(raw) > maxOneClickURL:
		return fmt.Errorf("longer than %d characters", maxOneClickURL)
	case strings.Contains(raw, ","):
		return errors.New("must not hold commas (List-Unsubscribe separates URLs with them)")
	}
	u, err := ParseLinkURL(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("RFC 8058 requires https (http is allowed for loopback hosts only)")
	}
	return errors.New("want an https URL")
}

// ParseLinkURL parses a URL an email carries unencoded, in a header or its footer: printable
// ASCII without spaces, quotes, backslashes or angle brackets, absolute, with a host and no
// user info. Which schemes are fine is the caller's to say. Errors do not quote the URL.
func ParseLinkURL(raw string) (*url.URL, error) {
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r > '~' || strings.ContainsRune(`"<>\`, r) }) {
		return nil, errors.New("must be printable ASCII without spaces, quotes, backslashes or angle brackets")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Hostname() == "":
		return nil, errors.New("want an absolute URL with a host, like https://example.com/path")
	case u.User != nil:
		return nil, errors.New("must not hold a user name or password")
	}
	return u, nil
}

// isLoopbackHost: localhost (any case) or a loopback IP (127.0.0.0/8, ::1), the hosts a
// local stack's http unsubscribe URL may name. It is deliberately broader than
// isLoopbackName (sender.go), which must match go-mail's own rule for PLAIN auth exactly.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkHeaderValue rejects line breaks (and NUL) before they reach go-mail.
// The value itself is not echoed: it may be prospect data.
func checkHeaderValue(name, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return invalid("%s contains CR, LF or NUL", name)
	}
	return nil
}

// checkMsgID requires the "left@right" shape of RFC 5322 msg-id (without the
// brackets, which go-mail adds) in printable ASCII, so the id survives
// unencoded and matches byte-for-byte in bounces and the ledger.
func checkMsgID(field, id string) error {
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" || strings.Contains(right, "@") {
		return invalid("%s %q is not of the form left@right", field, id)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' || r == '<' || r == '>' }) {
		return invalid("%s %q must be printable ASCII without spaces or angle brackets", field, id)
	}
	return nil
}

func validXHeaderName(k string) bool {
	if len(k) < 3 || !strings.EqualFold(k[:2], "X-") {
		return false
	}
	return !strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' })
}

// msgIDContext separates these HMACs from any other use of the same secret.
const msgIDContext = "followup/message-id/v1\x00"

var msgIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// MessageID derives a stable Message-ID (without brackets) from the ledger
// key: the lowercase, unpadded base32 of the first 20 bytes of
// HMAC-SHA256(secret, key), then "@domain". The same key always yields the
// same id, so a retried send (or an RFC 1047 duplicate) is recognisable,
// while the id reveals nothing about the deal or step. secret must be a
// non-empty server secret; domain should be the sending domain.
func MessageID(secret []byte, ledgerKey string, domain string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(msgIDContext))
	mac.Write([]byte(ledgerKey))
	sum := mac.Sum(nil)
	return strings.ToLower(msgIDEncoding.EncodeToString(sum[:20])) + "@" + domain
}
