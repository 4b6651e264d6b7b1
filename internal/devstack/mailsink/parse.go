package mailsink

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxMIMEDepth bounds multipart nesting.
const maxMIMEDepth = 10

// headerField is one header line, unfolded, in message order.
type headerField struct {
	Name  string
	Raw   string // unfolded value as sent
	Value string // RFC 2047-decoded for display
}

// parseHeader splits raw at the first empty line and returns the header
// fields in order (names as sent) and the body. A line that is neither a
// field nor a continuation ends the header.
func parseHeader(raw []byte) (fields []headerField, body []byte) {
	rest := raw
	for len(rest) > 0 {
		line, next, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			next = nil
		}
		l := bytes.TrimSuffix(line, []byte("\r"))
		if len(l) == 0 {
			body = next
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(fields) > 0 {
				fields[len(fields)-1].Raw += string(l) // unfold: drop the line break, keep the blank
			}
		} else if name, val, ok := bytes.Cut(l, []byte(":")); ok && len(bytes.TrimSpace(name)) > 0 {
			fields = append(fields, headerField{Name: string(bytes.TrimSpace(name)), Raw: string(val)})
		} else {
			body = rest
			break
		}
		rest = next
	}
	for i := range fields {
		fields[i].Raw = strings.TrimSpace(fields[i].Raw)
		fields[i].Value = decodeHeader(fields[i].Raw)
	}
	return fields, body
}

// leaf is one non-multipart MIME part.
type leaf struct {
	Index       int
	MediaType   string // lower case, e.g. "text/html"
	Charset     string
	Filename    string
	Disposition string // "inline", "attachment" or ""
	Body        []byte // transfer-decoded (quoted-printable, base64)
	Problem     string // decoding problem, if any
}

// IsText reports whether the part is text to be shown as such.
func (l *leaf) IsText() bool { return strings.HasPrefix(l.MediaType, "text/") }

// Text returns the body converted to UTF-8 and a note when the charset was
// not understood (the bytes are then shown as UTF-8 anyway).
func (l *leaf) Text() (string, string) {
	switch strings.ToLower(strings.TrimSpace(l.Charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(l.Body), "\uFFFD"), ""
	case "iso-8859-1", "latin1", "latin-1", "l1":
		var b strings.Builder
		b.Grow(len(l.Body))
		for _, c := range l.Body {
			b.WriteRune(rune(c))
		}
		return b.String(), ""
	default:
		var note string
		if !utf8.Valid(l.Body) {
			note = "charset " + l.Charset + " is not supported; shown as UTF-8"
		}
		return strings.ToValidUTF8(string(l.Body), "\uFFFD"), note
	}
}

// parsedMessage is a message broken down for display.
type parsedMessage struct {
	Header   []headerField
	Leaves   []*leaf
	Text     *leaf // first inline text/plain part, or nil
	HTML     *leaf // first inline text/html part, or nil
	Problems []string
}

// parseMessage parses a stored .eml. It never fails: what cannot be parsed
// is reported in Problems, and the raw view still has everything.
func parseMessage(raw []byte) *parsedMessage {
	pm := &parsedMessage{}
	pm.Header, _ = parseHeader(raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		pm.Problems = append(pm.Problems, "cannot parse message: "+err.Error())
		return pm
	}
	pm.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	for _, l := range pm.Leaves {
		if l.Disposition == "attachment" {
			continue
		}
		switch {
		case l.MediaType == "text/plain" && pm.Text == nil:
			pm.Text = l
		case l.MediaType == "text/html" && pm.HTML == nil:
			pm.HTML = l
		}
	}
	return pm
}

func (pm *parsedMessage) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	mediaType, params := "text/plain", map[string]string{}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, ps, err := mime.ParseMediaType(ct)
		if err != nil && mt == "" {
			// RFC 2045 §5.2: an invalid Content-Type means text/plain.
			pm.Problems = append(pm.Problems, "bad Content-Type "+ct+": "+err.Error())
		} else {
			mediaType, params = mt, ps
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "" {
		if depth >= maxMIMEDepth {
			pm.Problems = append(pm.Problems, "multipart nested too deeply; inner parts not shown")
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart: the transfer encoding is decoded below, uniformly
			// for quoted-printable and base64.
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				pm.Problems = append(pm.Problems, mediaType+": "+err.Error())
				return
			}
			pm.walk(p.Header, p, depth+1)
		}
	}

	l := &leaf{Index: len(pm.Leaves), MediaType: mediaType, Charset: params["charset"]}
	if cd := h.Get("Content-Disposition"); cd != "" {
		if d, dps, err := mime.ParseMediaType(cd); err == nil {
			l.Disposition = d
			l.Filename = dps["filename"]
		}
	}
	if l.Filename == "" {
		l.Filename = params["name"]
	}
	l.Filename = decodeHeader(l.Filename)
	data, err := io.ReadAll(transferDecoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		l.Problem = "cannot decode " + h.Get("Content-Transfer-Encoding") + ": " + err.Error()
	}
	l.Body = data
	pm.Leaves = append(pm.Leaves, l)
}

// transferDecoder undoes a Content-Transfer-Encoding; 7bit, 8bit, binary
// and unknown encodings pass through.
func transferDecoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips CR and LF; other whitespace is not valid base64
		// but some senders emit trailing blanks, so drop them too.
		return base64.NewDecoder(base64.StdEncoding, &blankStripper{r: r})
	}
	return r
}

// blankStripper removes spaces and tabs from a base64 stream.
type blankStripper struct{ r io.Reader }

func (b *blankStripper) Read(p []byte) (int, error) {
	for {
		n, err := b.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
