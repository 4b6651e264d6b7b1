// Package inbox reads one inbound email (RFC 5322) and says what it is: a person's reply,
// an automatic reply, a delivery status notification, a complaint, list traffic, or
// something it cannot read. It is pure and bounded: no I/O beyond the bytes it is given, at
// most MaxHeaderBytes of header, MaxParts MIME parts, MaxDepth levels of nesting and
// MaxTextScan bytes of decoded text searched for a return date. It never panics and never
// returns an error; what it cannot read is Kind Unreadable with Problem saying why.
//
// Read applies these rules in order; the first that matches decides Kind and Rule:
//
//  1. Unreadable: empty input, no parsable header block (bad header syntax, no fields), or a
//     header block over MaxHeaderBytes.
//  2. Content-Type multipart/report; report-type=delivery-status (RFC 3464): the
//     message/delivery-status part is read as a per-message block then per-recipient blocks.
//     Bounce when any recipient failed with a 5.x.x status, else Delayed. A report whose
//     delivery-status part cannot be read is a Notice with Problem.
//  3. Content-Type multipart/report; report-type=feedback-report (RFC 5965): Complaint when
//     Feedback-Type is abuse, else Feedback. An unreadable report part is a Notice.
//  4. A non-standard bounce: a sender whose local part is mailer-daemon or postmaster, or a
//     bounce subject ("Undelivered Mail Returned to Sender", "Undeliverable:",
//     "Unzustellbar", …) is a Notice. This comes before rule 5 because such notices often
//     carry Auto-Submitted and must never be taken for an answer.
//  5. An automatic reply (RFC 3834 and common practice): Auto-Submitted other than "no",
//     X-Autoreply other than no/false, X-Autorespond, Precedence: auto_reply, or an
//     out-of-office subject in English, German, French, Spanish, Dutch, Italian or
//     Portuguese (subject only: a reply quoting "out of office" in its body stays a reply).
//     X-Auto-Response-Suppress alone is not a sign: Outlook sets it on ordinary mail. The
//     return date is read into ReturnOn (see below).
//  6. Mailing-list or bulk traffic: List-Id, List-Post, List-Unsubscribe, or Precedence
//     list, bulk or junk. A copy of our own outgoing mail lands here too (it carries
//     List-Unsubscribe); the caller recognises it by its Message-ID in the ledger.
//  7. Otherwise a person's Reply.
//
// The return date of an automatic reply is a cue followed within 40 characters by a date,
// searched in the Subject and then the first text/plain part (else text/html without tags).
// "Back" cues name the day of return ("back on", "zurück am", "de retour le", "de vuelta
// el", …); "until" cues name the last day away, so the return is the day after ("until",
// "bis", "jusqu'au", "hasta", …). Dates may be ISO (2026-12-15), dotted day-first
// (15.12.2026, 15.12.), slashed (15/12/2026 is read day-first; when the second number
// cannot be a month, as in 12/15/2026, month-first), or use month names in English,
// German, French or Spanish, with or without weekday, ordinal and year. A date without a
// year is the first such date on or after the message's Date (else now). A date before the
// message's Date, or more than 366 days after it, is dropped.
package inbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on the work Read does for one message.
const (
	// MaxHeaderBytes is the largest header block read; a message whose header block is
	// longer is Unreadable, and an attached original's header is read no further.
	MaxHeaderBytes = 256 << 10
	// MaxParts is the number of MIME parts walked; the rest are not looked at.
	MaxParts = 100
	// MaxDepth is the deepest level of multipart nesting walked (the message itself is 0).
	MaxDepth = 5
	// MaxTextScan is how much decoded text is searched for a return date.
	MaxTextScan = 64 << 10
	// maxMessageIDBytes is the longest Message-ID kept; a longer one is treated as absent.
	maxMessageIDBytes = 250
	// maxReferences is how many References are kept (the last ones: the nearest ancestors).
	maxReferences = 50
	// maxLineRunes caps Subject and Diagnostic.
	maxLineRunes = 300
)

// Kind is what a message is.
type Kind string

// The kinds Read tells apart.
const (
	Reply      Kind = "reply"      // a person answered
	AutoReply  Kind = "auto_reply" // RFC 3834 automatic reply, out-of-office
	Bounce     Kind = "bounce"     // RFC 3464 DSN with at least one recipient Action: failed and a 5.x.x status
	Delayed    Kind = "delayed"    // RFC 3464 DSN with no permanent failure (delayed, 4.x.x, delivered, relayed, expanded)
	Complaint  Kind = "complaint"  // RFC 5965 ARF report, Feedback-Type: abuse
	Feedback   Kind = "feedback"   // ARF report of another feedback type (fraud, virus, not-spam, other…)
	Notice     Kind = "notice"     // a non-standard bounce or system notice without a machine-readable delivery-status part: never a reply
	List       Kind = "list"       // mailing-list or bulk traffic
	Unreadable Kind = "unreadable" // not a message we can read (no header block, bad header syntax, empty)
)

// Message is what Read found.
type Message struct {
	Key        string      // dedupe key: "mid:" + MessageID, or "sha256:" + a hash of what the sender wrote (contentKey) when there is no usable Message-ID, or of the raw bytes when unreadable
	MessageID  string      // the message's own Message-ID without angle brackets; "" when absent or unusable
	From       string      // bare lower-cased address of From (else Sender, else Return-Path); "" when none can be read
	Subject    string      // RFC 2047-decoded, one line, control characters replaced by spaces, at most 300 runes
	Date       time.Time   // the Date header; zero when absent or unreadable
	InReplyTo  []string    // Message-IDs of In-Reply-To, without angle brackets
	References []string    // Message-IDs of References, in order, without angle brackets (at most the last 50)
	Kind       Kind        // what the message is
	Rule       string      // the rule that decided Kind, in words
	ReturnOn   string      // AutoReply only: "YYYY-MM-DD" when a return date could be read, else ""
	Recipients []Recipient // Bounce/Delayed: every per-recipient block; Complaint/Feedback: the reported recipients
	Original   string      // reports: the Message-ID of the message the report is about, from its attached original; "" when absent
	Problem    string      // Unreadable: why. Other kinds: a non-fatal problem noted, else ""
}

// Recipient is one per-recipient block of a delivery status notification, or one reported
// recipient of a feedback report (then only Address is set).
type Recipient struct {
	Address    string // lower-cased bare address from Final-Recipient (else Original-Recipient)
	Action     string // lower-cased: failed, delayed, delivered, relayed, expanded
	Status     string // e.g. "5.1.1"
	Diagnostic string // Diagnostic-Code without its type prefix, one line, at most 300 runes
}

// Permanent says whether r is a permanent failure: Action failed and a 5.x.x Status.
func (r Recipient) Permanent() bool {
	return r.Action == "failed" && strings.HasPrefix(r.Status, "5.")
}

// Read parses raw and classifies it. It never panics and never returns an error: what it
// cannot read is Kind Unreadable with Problem saying why. now anchors a year-less return date
// (the next such date on or after the message's Date, else on or after now).
func Read(raw []byte, now time.Time) (msg Message) {
	sum := sha256.Sum256(raw)
	msg.Key = "sha256:" + hex.EncodeToString(sum[:])
	defer func() {
		// A bug must not take the poller down with it: report it as unreadable instead.
		if r := recover(); r != nil {
			msg = Message{Key: msg.Key, Kind: Unreadable, Rule: "internal error", Problem: "internal error while reading the message"}
		}
	}()

	// Rule 1: a header block we can read.
	header, body, why := splitHeader(raw)
	if why != "" {
		return Message{Key: msg.Key, Kind: Unreadable, Rule: "unreadable: " + why, Problem: why}
	}
	var problems problems
	msg.MessageID = messageID(header.Get("Message-Id"))
	if msg.MessageID != "" {
		msg.Key = "mid:" + msg.MessageID
	}
	decoder := newWordDecoder(&problems)
	msg.From = senderAddress(header, decoder)
	msg.Subject = oneLine(decodeHeader(header.Get("Subject"), decoder, &problems, "subject"), maxLineRunes)
	if date, err := mail.ParseDate(header.Get("Date")); err == nil {
		msg.Date = date
	}
	msg.InReplyTo = messageIDs(header.Get("In-Reply-To"), maxReferences)
	msg.References = messageIDs(strings.Join(header.Values("References"), " "), maxReferences)
	if msg.MessageID == "" {
		msg.Key = contentKey(header, body)
	}

	parts := walk(header, body, &problems)
	classify(&msg, header, parts, &problems, now)
	msg.Problem = problems.String()
	return msg
}

// classify applies rules 2 to 7 of the package comment, in that order.
func classify(msg *Message, header textproto.MIMEHeader, parts *walked, problems *problems, now time.Time) {
	mediaType, params, _ := mime.ParseMediaType(header.Get("Content-Type"))
	reportType := strings.ToLower(strings.TrimSpace(params["report-type"]))

	// Rule 2: an RFC 3464 delivery status notification.
	if mediaType == "multipart/report" && reportType == "delivery-status" {
		msg.Original = parts.originalID
		recipients, why := parseDeliveryStatus(parts)
		if why != "" {
			problems.add(why)
			msg.Kind, msg.Rule = Notice, "multipart/report; report-type=delivery-status without a readable delivery-status part"
			return
		}
		msg.Recipients = recipients
		msg.Kind, msg.Rule = Delayed, "multipart/report; report-type=delivery-status, no permanent failure"
		for _, r := range recipients {
			if r.Permanent() {
				msg.Kind, msg.Rule = Bounce, "multipart/report; report-type=delivery-status, Action: failed "+r.Status
				break
			}
		}
		return
	}

	// Rule 3: an RFC 5965 feedback report.
	if mediaType == "multipart/report" && reportType == "feedback-report" {
		msg.Original = parts.originalID
		feedbackType, recipients, why := parseFeedbackReport(parts)
		if why != "" {
			problems.add(why)
			msg.Kind, msg.Rule = Notice, "multipart/report; report-type=feedback-report without a readable feedback-report part"
			return
		}
		msg.Recipients = recipients
		msg.Kind = Feedback
		if feedbackType == "abuse" {
			msg.Kind = Complaint
		}
		msg.Rule = "multipart/report; report-type=feedback-report, Feedback-Type: " + feedbackType
		return
	}

	// Rule 4: a bounce or system notice that is not machine-readable.
	if rule := noticeRule(msg.From, msg.Subject); rule != "" {
		msg.Kind, msg.Rule = Notice, rule
		return
	}

	// Rule 5: an automatic reply.
	if rule := autoReplyRule(header, msg.Subject); rule != "" {
		msg.Kind, msg.Rule = AutoReply, rule
		anchor := msg.Date
		if anchor.IsZero() {
			anchor = now
		}
		msg.ReturnOn = returnDate(msg.Subject, anchor)
		if msg.ReturnOn == "" {
			msg.ReturnOn = returnDate(parts.text(), anchor)
		}
		return
	}

	// Rule 6: list and bulk traffic.
	if rule := listRule(header); rule != "" {
		msg.Kind, msg.Rule = List, rule
		return
	}

	// Rule 7.
	msg.Kind, msg.Rule = Reply, "no rule matched: a person's reply"
}

// splitHeader finds and parses the header block of raw. why is "" when it could be read.
func splitHeader(raw []byte) (header textproto.MIMEHeader, body []byte, why string) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, "empty message"
	}
	start := 0
	// An mbox separator line ("From sender date") is not part of the message.
	if bytes.HasPrefix(raw, []byte("From ")) && !bytes.HasPrefix(bytes.TrimLeft(raw[5:], " \t"), []byte(":")) {
		if nl := bytes.IndexByte(raw, '\n'); nl >= 0 {
			start = nl + 1
		}
	}
	end, bodyStart := len(raw), len(raw)
	for pos := start; pos < len(raw); {
		nl := bytes.IndexByte(raw[pos:], '\n')
		line := raw[pos:]
		next := len(raw)
		if nl >= 0 {
			line, next = raw[pos:pos+nl], pos+nl+1
		}
		if len(bytes.TrimRight(line, "\r")) == 0 {
			end, bodyStart = pos, next
			break
		}
		if pos-start > MaxHeaderBytes {
			return nil, nil, "header block larger than 256 KiB (MaxHeaderBytes)"
		}
		pos = next
	}
	if end-start > MaxHeaderBytes {
		return nil, nil, "header block larger than 256 KiB (MaxHeaderBytes)"
	}
	if end == start {
		return nil, nil, "no header fields before the body"
	}
	block := make([]byte, 0, end-start+2)
	block = append(block, raw[start:end]...)
	block = append(block, "\r\n"...)
	reader := textproto.NewReader(newBufReader(block))
	header, err := reader.ReadMIMEHeader()
	if err != nil {
		return nil, nil, "bad header syntax: " + oneLine(err.Error(), 120)
	}
	if len(header) == 0 {
		return nil, nil, "no readable header field"
	}
	return header, raw[bodyStart:], ""
}

// messageID reads one Message-ID: the first <…> token, or the whole value when there are no
// brackets. It is "" when the ID is unusable as a key: empty, spaces or control characters
// inside, or longer than maxMessageIDBytes.
func messageID(value string) string {
	value = strings.TrimSpace(value)
	if open := strings.IndexByte(value, '<'); open >= 0 {
		closing := strings.IndexByte(value[open:], '>')
		if closing < 0 {
			return ""
		}
		value = value[open+1 : open+closing]
	}
	return usableID(strings.TrimSpace(value))
}

func usableID(id string) string {
	if id == "" || len(id) > maxMessageIDBytes || !utf8.ValidString(id) {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return ""
		}
	}
	return id
}

// contentKey is the dedupe key of a message without a usable Message-ID: a hash of what its
// sender wrote (From, Date, Subject, the threading headers and the start of the body), not of
// the raw bytes, whose Received and Delivered-To headers differ from one mailbox to the next,
// and whose end depends on how much of a large message was fetched.
func contentKey(header textproto.MIMEHeader, body []byte) string {
	h := sha256.New()
	for _, name := range []string{"From", "Date", "Subject", "In-Reply-To", "References"} {
		h.Write([]byte(strings.Join(header.Values(name), " ")))
		h.Write([]byte{0})
	}
	h.Write(body[:min(len(body), contentKeyBodyBytes)])
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// contentKeyBodyBytes is how much of the body contentKey hashes: every copy of a message
// fetched in part still has this much.
const contentKeyBodyBytes = 64 << 10

// messageIDs extracts every <…> token of value, ignoring what lies between, and keeps the
// last max of them.
func messageIDs(value string, max int) []string {
	var ids []string
	for {
		open := strings.IndexByte(value, '<')
		if open < 0 {
			break
		}
		value = value[open+1:]
		closing := strings.IndexAny(value, "<>")
		if closing < 0 {
			break
		}
		if value[closing] == '>' {
			if id := usableID(strings.TrimSpace(value[:closing])); id != "" {
				ids = append(ids, id)
			}
			value = value[closing+1:]
		}
	}
	if len(ids) > max {
		ids = ids[len(ids)-max:]
	}
	return ids
}

// senderAddress is the bare address of From, else Sender, else Return-Path.
func senderAddress(header textproto.MIMEHeader, decoder *mime.WordDecoder) string {
	for _, field := range []string{"From", "Sender", "Return-Path"} {
		if address := bareAddress(header.Get(field), decoder); address != "" {
			return address
		}
	}
	return ""
}

// noticeRule is rule 4: the Rule of a non-standard bounce, or "".
func noticeRule(from, subject string) string {
	if local, _, ok := strings.Cut(from, "@"); ok {
		switch local {
		case "mailer-daemon", "postmaster":
			return "sender is " + local + ", no delivery-status part"
		}
	}
	if name := matchPhrase(bounceSubjects, subject); name != "" {
		return `subject matches "` + name + `", no delivery-status part`
	}
	return ""
}

// autoReplyRule is rule 5: the Rule of an automatic reply, or "".
func autoReplyRule(header textproto.MIMEHeader, subject string) string {
	if value := fieldWord(header.Get("Auto-Submitted")); value != "" && value != "no" {
		return "Auto-Submitted: " + value
	}
	if values, ok := header["X-Autoreply"]; ok {
		value := fieldWord(strings.Join(values, " "))
		if value != "no" && value != "false" {
			return "X-Autoreply header"
		}
	}
	if _, ok := header["X-Autorespond"]; ok {
		return "X-Autorespond header"
	}
	if fieldWord(header.Get("Precedence")) == "auto_reply" {
		return "Precedence: auto_reply"
	}
	if name := matchPhrase(autoReplySubjects, subject); name != "" {
		return `subject matches "` + name + `"`
	}
	return ""
}

// listRule is rule 6: the Rule of list or bulk traffic, or "".
func listRule(header textproto.MIMEHeader) string {
	for _, field := range []string{"List-Id", "List-Post", "List-Unsubscribe"} {
		if _, ok := header[field]; ok {
			return field + " header"
		}
	}
	switch precedence := fieldWord(header.Get("Precedence")); precedence {
	case "list", "bulk", "junk":
		return "Precedence: " + precedence
	}
	return ""
}

// fieldWord is the first word of a structured field value, lower-cased, without a
// trailing comment or parameters.
func fieldWord(value string) string {
	value = strings.ToLower(strings.TrimSpace(value))
	if i := strings.IndexAny(value, " \t;(,"); i >= 0 {
		value = value[:i]
	}
	return value
}
