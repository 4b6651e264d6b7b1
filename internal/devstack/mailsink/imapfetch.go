package mailsink

import (
	"bytes"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap"
)

// FETCH and SEARCH on one stored message, with the standard library only
// (go-imap's backendutil needs go-message, which the module does not
// require).

// toCRLF turns bare LF line ends into CRLF (IMAP serves CRLF only).
func toCRLF(raw []byte) []byte {
	n := bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n"))
	if n == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+n)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// splitEntity splits a CRLF entity into its header (with the empty line
// that ends it) and its body.
func splitEntity(raw []byte) (header, body []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return raw[:2], raw[2:]
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+4], raw[i+4:]
	}
	return raw, nil
}

// headerOf parses an entity's header (never fails: a bad header is empty).
func headerOf(raw []byte) mail.Header {
	h := mail.Header{}
	fields, _ := parseHeader(raw)
	for _, f := range fields {
		k := canonicalKey(f.Name)
		h[k] = append(h[k], f.Raw)
	}
	return h
}

func canonicalKey(name string) string {
	return textproto.CanonicalMIMEHeaderKey(name)
}

// contentType returns an entity's media type (lower case) and parameters,
// text/plain by default (RFC 2045 §5.2).
func contentType(h mail.Header) (string, map[string]string) {
	mt, ps, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		return "text/plain", map[string]string{"charset": "us-ascii"}
	}
	return mt, ps
}

// splitMultipart returns the raw body parts of a multipart body (each a
// header and body), without the CRLF before each delimiter.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	for pos := 0; pos <= len(body); {
		line, next := body[pos:], len(body)+1
		if i := bytes.Index(body[pos:], []byte("\r\n")); i >= 0 {
			line, next = body[pos:pos+i], pos+i+2
		}
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t")
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if start >= 0 {
					end := max(pos-2, start)
					parts = append(parts, body[start:end])
				}
				if closing || len(parts) >= 1000 {
					return parts
				}
				start = min(next, len(body))
			}
		}
		pos = next
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts
}

// subEntity finds part path (1-based numbers) of an entity; for a part that
// is message/rfc822 the next number counts inside the encapsulated message.
// The second result is whether the entity found is a part (not the top).
func subEntity(raw []byte, path []int) ([]byte, bool) {
	cur := raw
	for depth, n := range path {
		if depth >= maxMIMEDepth {
			return nil, false
		}
		header, body := splitEntity(cur)
		mt, ps := contentType(headerOf(header))
		if depth > 0 && mt == "message/rfc822" {
			cur = body // into the encapsulated message
			header, body = splitEntity(cur)
			mt, ps = contentType(headerOf(header))
		}
		if strings.HasPrefix(mt, "multipart/") {
			parts := splitMultipart(body, ps["boundary"])
			if n < 1 || n > len(parts) {
				return nil, false
			}
			cur = parts[n-1]
			continue
		}
		if n != 1 {
			return nil, false
		}
		if depth == 0 {
			// Part 1 of a single-part message is its body; keep the
			// header so MIME and the type stay known.
			continue
		}
	}
	return cur, true
}

// sectionLiteral extracts a BODY[…] section (nil when it does not exist,
// which the response shows as NIL).
func sectionLiteral(raw []byte, sec *imap.BodySectionName) imap.Literal {
	ent, ok := subEntity(raw, sec.Path)
	if !ok {
		return nil
	}
	header, body := splitEntity(ent)
	var b []byte
	switch sec.Specifier {
	case imap.EntireSpecifier:
		if len(sec.Path) == 0 {
			b = ent
		} else {
			b = body
		}
	case imap.HeaderSpecifier, imap.MIMESpecifier:
		if len(sec.Fields) > 0 || sec.NotFields {
			b = headerFields(header, sec.Fields, sec.NotFields)
		} else {
			b = header
		}
	case imap.TextSpecifier:
		b = body
	}
	if len(sec.Partial) > 0 {
		from := sec.Partial[0]
		if from > len(b) {
			from = len(b)
		}
		b = b[from:]
		if len(sec.Partial) > 1 && sec.Partial[1] < len(b) {
			b = b[:sec.Partial[1]]
		}
	}
	return bytes.NewReader(slices.Clone(b))
}

// headerFields keeps (or, with not, drops) the named fields of a header
// block, each with its continuation lines, and ends with the empty line.
func headerFields(header []byte, names []string, not bool) []byte {
	var out bytes.Buffer
	keep := false
	for line := range bytes.Lines(header) {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			in := slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, string(bytes.TrimSpace(name))) })
			keep = in != not
		}
		if keep {
			out.Write(line)
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// envelopeOf builds the ENVELOPE of a message.
func envelopeOf(raw []byte) *imap.Envelope {
	header, _ := splitEntity(raw)
	h := headerOf(header)
	env := &imap.Envelope{
		Subject:   decodeHeader(h.Get("Subject")),
		From:      imapAddresses(h, "From"),
		Sender:    imapAddresses(h, "Sender"),
		ReplyTo:   imapAddresses(h, "Reply-To"),
		To:        imapAddresses(h, "To"),
		Cc:        imapAddresses(h, "Cc"),
		Bcc:       imapAddresses(h, "Bcc"),
		InReplyTo: strings.TrimSpace(h.Get("In-Reply-To")),
		MessageId: strings.TrimSpace(h.Get("Message-Id")),
	}
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		env.Date = d
	}
	// RFC 3501 §7.4.2: Sender and Reply-To default to From.
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	return env
}

func imapAddresses(h mail.Header, key string) []*imap.Address {
	as, err := h.AddressList(key)
	if err != nil {
		return nil
	}
	out := make([]*imap.Address, 0, len(as))
	for _, a := range as {
		local, domain := a.Address, ""
		if i := strings.LastIndex(a.Address, "@"); i >= 0 {
			local, domain = a.Address[:i], a.Address[i+1:]
		}
		out = append(out, &imap.Address{PersonalName: a.Name, MailboxName: local, HostName: domain})
	}
	return out
}

// bodyStructureOf builds BODY / BODYSTRUCTURE of an entity.
func bodyStructureOf(raw []byte, extended bool, depth int) *imap.BodyStructure {
	header, body := splitEntity(raw)
	h := headerOf(header)
	mt, ps := contentType(h)
	typ, sub, _ := strings.Cut(mt, "/")
	bs := &imap.BodyStructure{MIMEType: typ, MIMESubType: sub, Params: ps, Extended: extended}
	if d, dps, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		bs.Disposition, bs.DispositionParams = d, dps
	}
	if typ == "multipart" && depth < maxMIMEDepth {
		for _, p := range splitMultipart(body, ps["boundary"]) {
			bs.Parts = append(bs.Parts, bodyStructureOf(p, extended, depth+1))
		}
		if len(bs.Parts) > 0 {
			return bs
		}
		// A multipart without parts is shown as the opaque body it is.
		bs.MIMEType, bs.MIMESubType = "application", "octet-stream"
	}
	bs.Id = strings.TrimSpace(h.Get("Content-Id"))
	bs.Description = decodeHeader(h.Get("Content-Description"))
	bs.Encoding = strings.ToUpper(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if bs.Encoding == "" {
		bs.Encoding = "7BIT"
	}
	bs.Size = uint32(len(body))
	lines := uint32(bytes.Count(body, []byte("\n")))
	switch {
	case typ == "text":
		bs.Lines = lines
	case mt == "message/rfc822" && depth < maxMIMEDepth:
		bs.Envelope = envelopeOf(body)
		bs.BodyStructure = bodyStructureOf(body, extended, depth+1)
		bs.Lines = lines
	case typ == "message" && sub == "rfc822":
		bs.MIMEType, bs.MIMESubType = "application", "octet-stream"
	}
	return bs
}

// searchMsg is one message matched against SEARCH criteria.
type searchMsg struct {
	mb               *imapMailbox
	e                *entry
	seq              uint32
	lastSeq, lastUID uint32

	raw     []byte // read on first need
	header  mail.Header
	failed  bool
	decoded []byte
}

// decodedBody is the body as stored followed by its text parts decoded
// (quoted-printable and base64 undone), so SEARCH BODY finds words a
// transfer encoding split or escaped.
func (m *searchMsg) decodedBody() []byte {
	if m.decoded == nil {
		_, body := splitEntity(m.raw)
		m.decoded = slices.Clone(body)
		for _, l := range parseMessage(m.raw).Leaves {
			if l.IsText() {
				t, _ := l.Text()
				m.decoded = append(append(m.decoded, '\n'), t...)
			}
		}
	}
	return m.decoded
}

func (m *searchMsg) load() bool {
	if m.raw == nil && !m.failed {
		raw, err := m.mb.sink.readIMAP(m.e)
		if err != nil {
			m.failed = true
			return false
		}
		m.raw = raw
		hb, _ := splitEntity(raw)
		m.header = headerOf(hb)
	}
	return !m.failed
}

// dateOnly drops the time of day (SEARCH compares dates, RFC 3501 §6.4.4).
func dateOnly(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func containsFold(b []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s)))
}

func (m *searchMsg) match(c *imap.SearchCriteria) bool {
	if c == nil {
		return true
	}
	if c.SeqNum != nil && !inSet(c.SeqNum, m.seq, m.lastSeq) {
		return false
	}
	if c.Uid != nil && !inSet(c.Uid, m.e.UID, m.lastUID) {
		return false
	}
	if !c.Since.IsZero() && dateOnly(m.e.ReceivedAt).Before(dateOnly(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !dateOnly(m.e.ReceivedAt).Before(dateOnly(c.Before)) {
		return false
	}
	flags := m.mb.flagsOf(m.e.ID)
	for _, f := range c.WithFlags {
		if !slices.Contains(flags, imap.CanonicalFlag(f)) {
			return false
		}
	}
	for _, f := range c.WithoutFlags {
		if slices.Contains(flags, imap.CanonicalFlag(f)) {
			return false
		}
	}
	needRaw := !c.SentSince.IsZero() || !c.SentBefore.IsZero() || len(c.Header) > 0 ||
		len(c.Body) > 0 || len(c.Text) > 0 || c.Larger > 0 || c.Smaller > 0
	if needRaw {
		if !m.load() {
			return false
		}
		size := uint32(len(m.raw))
		if (c.Larger > 0 && size <= c.Larger) || (c.Smaller > 0 && size >= c.Smaller) {
			return false
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			d, err := mail.ParseDate(m.header.Get("Date"))
			if err != nil {
				return false
			}
			if !c.SentSince.IsZero() && dateOnly(d).Before(dateOnly(c.SentSince)) {
				return false
			}
			if !c.SentBefore.IsZero() && !dateOnly(d).Before(dateOnly(c.SentBefore)) {
				return false
			}
		}
		for key, wants := range c.Header {
			vals := m.header[canonicalKey(key)]
			for _, want := range wants {
				if !slices.ContainsFunc(vals, func(v string) bool { return containsFold([]byte(decodeHeader(v)), want) }) {
					return false
				}
			}
		}
		for _, s := range c.Body {
			if !containsFold(m.decodedBody(), s) {
				return false
			}
		}
		for _, s := range c.Text {
			if !containsFold(m.raw, s) && !containsFold(m.decodedBody(), s) {
				return false
			}
		}
	}
	for _, n := range c.Not {
		if m.match(n) {
			return false
		}
	}
	for _, or := range c.Or {
		if !m.match(or[0]) && !m.match(or[1]) {
			return false
		}
	}
	return true
}
