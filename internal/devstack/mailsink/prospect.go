package mailsink

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// The message page lets a person play the prospect: "Reply", "Auto-reply"
// (out of office, back on a date) and "Bounce" build the message a
// prospect's mail client or mail server would send, and store it in the
// sink through the same path SMTP uses, so it is listed, threaded, and in
// the target address's IMAP INBOX, where the stack's poller reads it.
//
// Reply and Auto-reply go to the original's Reply-To, else From: where a
// real client sends them. Bounce goes to the original's envelope sender
// (MAIL FROM, else Return-Path, else From), where a real MTA sends DSNs.
//
//	POST /messages/{id}/reply       field body: the reply's text (optional, at most maxReplyText characters)
//	POST /messages/{id}/auto-reply  field back: the date the prospect is back, YYYY-MM-DD (optional)
//	POST /messages/{id}/bounce      no fields
//
// Each answers 303 to the new message's page (?made=reply|auto-reply|bounce
// shows what was done).

// sinkHost is the host name the sink uses where a real MTA puts its own
// (DSN Reporting-MTA, MAILER-DAEMON, Message-IDs without a better domain).
const sinkHost = "mailsink.invalid"

const (
	maxReplyText  = 5000     // characters of the reply's own text
	maxQuoteBytes = 20000    // of the quoted original
	maxQuoteLines = 300      // of the quoted original
	maxFormBytes  = 64 << 10 // request body of a button's POST
	maxSubject    = 300      // characters of a subject taken from the original
	maxDSNHeader  = 64 << 10 // of the original's header in a bounce
)

const defaultReplyText = "Thanks — yes, let's talk next week."

// madeNotes are the notices ?made= shows; the query value only picks one.
var madeNotes = map[string]string{
	"reply":      "Reply stored",
	"auto-reply": "Auto-reply stored",
	"bounce":     "Bounce stored",
}

// original is what the buttons need of the message they answer.
type original struct {
	e          *entry
	header     mail.Header
	headerRaw  []byte // the header block as stored, CRLF
	subject    string // decoded, one line
	messageID  string // without brackets; "" when missing or unusable
	references []string
	text       string // the text to quote
	prospect   *mail.Address
	replyTo    *mail.Address // nil when the original names no sender
	bounceTo   *mail.Address // nil likewise
}

func readOriginal(e *entry, raw []byte) *original {
	crlf := toCRLF(raw)
	hb, _ := splitEntity(crlf)
	o := &original{e: e, header: headerOf(hb), headerRaw: hb}
	o.subject = oneLine(e.Subject, maxSubject)
	if ids := parseMsgIDs("<" + e.MessageID + ">"); len(ids) == 1 {
		o.messageID = ids[0]
	}
	o.references = parseMsgIDs(strings.Join(o.header["References"], " "))
	if len(o.references) > 50 {
		o.references = o.references[len(o.references)-50:]
	}
	pm := parseMessage(raw)
	switch {
	case pm.Text != nil:
		o.text, _ = pm.Text.Text()
	case pm.HTML != nil:
		h, _ := pm.HTML.Text()
		o.text = html.UnescapeString(tagPattern.ReplaceAllString(h, ""))
	}
	o.prospect = firstAddress(o.header, "To")
	if o.prospect == nil {
		for _, r := range e.EnvelopeTo {
			if a := bareAddress(r); a != nil {
				o.prospect = a
				break
			}
		}
	}
	if o.prospect == nil {
		o.prospect = &mail.Address{Address: "prospect@" + sinkHost}
	}
	o.replyTo = firstAddress(o.header, "Reply-To")
	if o.replyTo == nil {
		o.replyTo = firstAddress(o.header, "From")
	}
	o.bounceTo = bareAddress(e.EnvelopeFrom)
	if o.bounceTo == nil {
		for _, rp := range o.header["Return-Path"] {
			if a := bareAddress(strings.Trim(strings.TrimSpace(rp), "<>")); a != nil {
				o.bounceTo = a
				break
			}
		}
	}
	if o.bounceTo == nil {
		o.bounceTo = firstAddress(o.header, "From")
	}
	return o
}

var tagPattern = regexp.MustCompile(`<[^>]*>`)

// firstAddress is the first address of a header field, as net/mail parsed
// it (so it holds no line breaks).
func firstAddress(h mail.Header, key string) *mail.Address {
	as, err := h.AddressList(key)
	if err != nil || len(as) == 0 {
		return nil
	}
	return as[0]
}

// bareAddress parses an envelope address; nil when it is not one.
func bareAddress(s string) *mail.Address {
	if s == "" {
		return nil
	}
	a, err := mail.ParseAddress("<" + s + ">")
	if err != nil {
		return nil
	}
	return a
}

// oneLine makes header text safe: controls become spaces, runs of blanks
// one, at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

// encodeText is a header value from free text: RFC 2047 Q-encoded when not
// plain ASCII, each encoded word on its own folded line.
func encodeText(s string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

func newMessageID(domain string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(b[:]), time.Now().UnixNano(), domain)
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// domainOf returns the domain of an address for Message-IDs, or sinkHost.
func domainOf(a *mail.Address) string {
	if i := strings.LastIndex(a.Address, "@"); i >= 0 && hostPattern.MatchString(a.Address[i+1:]) {
		return strings.ToLower(a.Address[i+1:])
	}
	return sinkHost
}

// headerBuf writes header fields whose values are already safe.
type headerBuf struct{ bytes.Buffer }

func (h *headerBuf) add(name, value string) {
	h.WriteString(name)
	h.WriteString(": ")
	h.WriteString(value)
	h.WriteString("\r\n")
}

// threadHeaders adds In-Reply-To and References naming the original.
func (o *original) threadHeaders(h *headerBuf) {
	if o.messageID == "" {
		return
	}
	h.add("In-Reply-To", "<"+o.messageID+">")
	refs := make([]string, 0, len(o.references)+1)
	for _, id := range o.references {
		if id != o.messageID {
			refs = append(refs, "<"+id+">")
		}
	}
	refs = append(refs, "<"+o.messageID+">")
	h.add("References", strings.Join(refs, "\r\n "))
}

// textBody ends the header with a quoted-printable UTF-8 text/plain body.
func textBody(h *headerBuf, text string) []byte {
	h.add("MIME-Version", "1.0")
	h.add("Content-Type", "text/plain; charset=utf-8")
	h.add("Content-Transfer-Encoding", "quoted-printable")
	h.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&h.Buffer)
	_, _ = qp.Write([]byte(strings.ReplaceAll(text, "\r\n", "\n")))
	_ = qp.Close()
	return h.Bytes()
}

// prefixSubject puts prefix before the original subject unless it is
// there already ("Re: Re: …" is what nobody wants).
func prefixSubject(prefix, subject string) string {
	if strings.HasPrefix(strings.ToLower(subject), strings.ToLower(prefix)) {
		return subject
	}
	return prefix + " " + subject
}

// quote is the Gmail-style attribution and quoted original text.
func (o *original) quote() string {
	when := o.e.ReceivedAt
	if d, err := mail.ParseDate(o.header.Get("Date")); err == nil {
		when = d
	}
	from := o.e.From
	if a := firstAddress(o.header, "From"); a != nil {
		from = displayAddress(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "On %s, %s wrote:\n", when.Format("Mon, 2 Jan 2006 at 15:04"), oneLine(from, 200))
	text := strings.ReplaceAll(o.text, "\r\n", "\n")
	cut := false
	if len(text) > maxQuoteBytes {
		text, cut = strings.ToValidUTF8(text[:maxQuoteBytes], ""), true
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > maxQuoteLines {
		lines, cut = lines[:maxQuoteLines], true
	}
	for _, l := range lines {
		if l == "" {
			b.WriteString(">\n")
		} else {
			b.WriteString("> " + l + "\n")
		}
	}
	if cut {
		b.WriteString("> [...]\n")
	}
	return b.String()
}

// buildReply is the prospect's reply to the original.
func buildReply(o *original, text string, now time.Time) []byte {
	var h headerBuf
	h.add("From", o.prospect.String())
	h.add("To", o.replyTo.String())
	h.add("Subject", encodeText(prefixSubject("Re:", o.subject)))
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", newMessageID(domainOf(o.prospect)))
	o.threadHeaders(&h)
	return textBody(&h, strings.TrimRight(text, "\r\n ")+"\n\n"+o.quote())
}

// longDate writes a date like "Monday, 14 December 2026".
func longDate(d time.Time) string { return d.Format("Monday, 2 January 2006") }

// buildAutoReply is the prospect's out-of-office answer (RFC 3834).
func buildAutoReply(o *original, back, now time.Time) []byte {
	var h headerBuf
	h.add("From", o.prospect.String())
	h.add("To", o.replyTo.String())
	h.add("Subject", encodeText(prefixSubject("Automatic reply:", o.subject)))
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", newMessageID(domainOf(o.prospect)))
	o.threadHeaders(&h)
	h.add("Auto-Submitted", "auto-replied")
	h.add("X-Autoreply", "yes")
	name := o.prospect.Name
	if name == "" {
		name = o.prospect.Address
	}
	text := fmt.Sprintf("Thank you for your email.\n\n"+
		"I am out of the office until %s, with limited access to email. "+
		"I will be back on %s and will answer your message then.\n\n%s\n",
		longDate(back.AddDate(0, 0, -1)), longDate(back), oneLine(name, 200))
	return textBody(&h, text)
}

// buildBounce is an RFC 3464 delivery status notification for the
// original's first envelope recipient, as Postfix writes one.
func buildBounce(o *original, now time.Time) []byte {
	rcpt := "unknown@" + sinkHost
	for _, r := range append(append([]string{}, o.e.EnvelopeTo...), o.e.ToAddrs...) {
		if a := bareAddress(r); a != nil {
			rcpt = a.Address
			break
		}
	}
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	boundary := "dsn-" + hex.EncodeToString(rb[:])
	diag := "550 5.1.1 <" + rcpt + ">: Recipient address rejected: User unknown in local recipient table"

	var h headerBuf
	h.add("From", (&mail.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + sinkHost}).String())
	h.add("To", o.bounceTo.String())
	h.add("Subject", "Undelivered Mail Returned to Sender")
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", newMessageID(sinkHost))
	h.add("Auto-Submitted", "auto-replied")
	h.add("MIME-Version", "1.0")
	h.add("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	h.WriteString("\r\nThis is a MIME-encapsulated message.\r\n\r\n")

	part := func(headers ...string) {
		h.WriteString("--" + boundary + "\r\n")
		for _, l := range headers {
			h.WriteString(l + "\r\n")
		}
		h.WriteString("\r\n")
	}
	part("Content-Description: Notification", "Content-Type: text/plain; charset=us-ascii")
	h.WriteString("This is the mail system at host " + sinkHost + ".\r\n\r\n" +
		"I'm sorry to have to inform you that your message could not\r\n" +
		"be delivered to one or more recipients. It's attached below.\r\n\r\n" +
		"                   The mail system\r\n\r\n" +
		"<" + rcpt + ">: host mx." + domainOf(&mail.Address{Address: rcpt}) + " said: " + diag + "\r\n\r\n")
	part("Content-Description: Delivery report", "Content-Type: message/delivery-status")
	h.WriteString("Reporting-MTA: dns; " + sinkHost + "\r\n")
	h.WriteString("Arrival-Date: " + o.e.ReceivedAt.Format(time.RFC1123Z) + "\r\n\r\n")
	h.WriteString("Final-Recipient: rfc822; " + rcpt + "\r\n")
	h.WriteString("Original-Recipient: rfc822; " + rcpt + "\r\n")
	h.WriteString("Action: failed\r\n")
	h.WriteString("Status: 5.1.1\r\n")
	h.WriteString("Diagnostic-Code: smtp; " + diag + "\r\n\r\n")
	part("Content-Description: Undelivered Message Headers", "Content-Type: text/rfc822-headers")
	h.Write(dsnHeaders(o.headerRaw))
	h.WriteString("\r\n--" + boundary + "--\r\n")
	return h.Bytes()
}

// dsnHeaders is the original's header block without the sink's trace
// fields (what the sender's MTA queued), cut at a line when very long.
func dsnHeaders(block []byte) []byte {
	var out bytes.Buffer
	skip := false
	for line := range bytes.Lines(block) {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			n := string(bytes.TrimSpace(name))
			skip = strings.EqualFold(n, headerEnvTo) || strings.EqualFold(n, headerReturnPath)
		}
		if skip {
			continue
		}
		if out.Len()+len(line) > maxDSNHeader {
			break
		}
		out.Write(line)
	}
	return out.Bytes()
}

// businessDaysAfter returns the date n weekdays (Mon–Fri) after day.
func businessDaysAfter(day time.Time, n int) time.Time {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d
}

// prospectView is the page's "Play the prospect" section.
type prospectView struct {
	Prospect, ReplyTarget, BounceTarget string
	ReplyText                           string
	BackOn                              string // YYYY-MM-DD
	MaxReplyText                        int
}

func prospectViewOf(o *original, today time.Time) *prospectView {
	v := &prospectView{Prospect: o.prospect.Address, ReplyText: defaultReplyText,
		BackOn: businessDaysAfter(today, 3).Format(time.DateOnly), MaxReplyText: maxReplyText}
	if o.replyTo != nil {
		v.ReplyTarget = o.replyTo.Address
	}
	if o.bounceTo != nil {
		v.BounceTarget = o.bounceTo.Address
	}
	return v
}

// handleProspect serves the three buttons' POSTs.
func (s *Sink) handleProspect(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			http.Error(w, "mailsink: cross-origin request refused (need Sec-Fetch-Site: same-origin or a matching Origin)", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "mailsink: form too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "mailsink: bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		e, raw, ok := s.fetch(w, r)
		if !ok {
			return
		}
		o := readOriginal(e, raw)
		now := time.Now()
		var envFrom string
		var target *mail.Address
		var msg []byte
		switch kind {
		case "reply":
			text := r.PostFormValue("body")
			if utf8.RuneCountInString(text) > maxReplyText {
				http.Error(w, fmt.Sprintf("mailsink: the reply's text is longer than %d characters", maxReplyText), http.StatusBadRequest)
				return
			}
			if strings.TrimSpace(text) == "" {
				text = defaultReplyText
			}
			envFrom, target = o.prospect.Address, o.replyTo
			if target != nil {
				msg = buildReply(o, strings.ToValidUTF8(text, "\uFFFD"), now)
			}
		case "auto-reply":
			back := businessDaysAfter(now, 3)
			if v := strings.TrimSpace(r.PostFormValue("back")); v != "" {
				d, err := time.Parse(time.DateOnly, v)
				if err != nil || d.Year() < 2000 || d.Year() > 2999 {
					http.Error(w, "mailsink: back: want a date as YYYY-MM-DD", http.StatusBadRequest)
					return
				}
				back = d
			}
			envFrom, target = o.prospect.Address, o.replyTo
			if target != nil {
				msg = buildAutoReply(o, back, now)
			}
		case "bounce":
			envFrom, target = "", o.bounceTo // DSNs have a null reverse-path
			if target != nil {
				msg = buildBounce(o, now)
			}
		}
		if target == nil {
			http.Error(w, "mailsink: the message names no address to answer to", http.StatusBadRequest)
			return
		}
		id, err := s.store(envFrom, []string{target.Address}, msg)
		if err != nil {
			http.Error(w, "mailsink: store: "+err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/messages/"+url.PathEscape(id)+"?made="+kind+"#made", http.StatusSeeOther)
	}
}
