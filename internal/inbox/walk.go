package inbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
)

// maxReportBytes caps a delivery-status or feedback-report part: a real one is a few
// kilobytes even with hundreds of recipients.
const maxReportBytes = 256 << 10

// walked is what one walk of the MIME tree kept for the rules.
type walked struct {
	problems *problems
	parts    int
	stopped  bool // a read error or a bound ended the walk

	plain, html         string
	havePlain, haveHTML bool

	deliveryStatus     []byte
	haveDeliveryStatus bool
	feedbackReport     []byte
	haveFeedbackReport bool

	haveOriginal bool
	originalID   string   // Message-ID of the attached original
	originalTo   []string // its To addresses
}

// text is the text searched for a return date: the first text/plain part, else the first
// text/html part without its tags.
func (w *walked) text() string {
	if w.havePlain {
		return w.plain
	}
	if w.haveHTML {
		text := htmlText(w.html)
		if len(text) > MaxTextScan {
			text = text[:MaxTextScan]
		}
		return text
	}
	return ""
}

// walk reads the body of a message once, depth first, keeping the parts the rules need.
func walk(header textproto.MIMEHeader, body []byte, problems *problems) *walked {
	w := &walked{problems: problems}
	w.part(header, bytes.NewReader(body), 0)
	return w
}

func (w *walked) part(header textproto.MIMEHeader, body io.Reader, depth int) {
	if w.stopped {
		return
	}
	if w.parts++; w.parts > MaxParts {
		w.stop("more than MaxParts MIME parts: the rest not read")
		return
	}
	mediaType, params := contentType(header, w.problems)

	if strings.HasPrefix(mediaType, "multipart/") {
		w.multipart(mediaType, params, body, depth)
		return
	}

	attachment := false
	if disposition, _, err := mime.ParseMediaType(header.Get("Content-Disposition")); err == nil {
		attachment = disposition == "attachment"
	}
	var (
		keep  *[]byte
		limit int64
	)
	var data []byte
	switch mediaType {
	case "message/delivery-status", "message/global-delivery-status":
		if !w.haveDeliveryStatus {
			w.haveDeliveryStatus, keep, limit = true, &w.deliveryStatus, maxReportBytes
		}
	case "message/feedback-report":
		if !w.haveFeedbackReport {
			w.haveFeedbackReport, keep, limit = true, &w.feedbackReport, maxReportBytes
		}
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		if !w.haveOriginal {
			w.haveOriginal, keep, limit = true, &data, MaxHeaderBytes
		}
	case "text/plain":
		if !w.havePlain && !attachment {
			w.havePlain, keep, limit = true, &data, MaxTextScan
		}
	case "text/html":
		if !w.haveHTML && !attachment {
			w.haveHTML, keep, limit = true, &data, MaxTextScan
		}
	}
	if keep != nil {
		decoded := transferDecoder(header, body)
		if strings.HasPrefix(mediaType, "text/") && mediaType != "text/rfc822-headers" {
			decoded = charsetDecoder(params["charset"], decoded, w.problems)
		}
		read, err := io.ReadAll(io.LimitReader(decoded, limit))
		*keep = read
		// What was read before an error still counts: a truncated text is still text.
		switch {
		case mediaType == "text/plain":
			w.plain = strings.ToValidUTF8(string(data), "\uFFFD")
		case mediaType == "text/html":
			w.html = strings.ToValidUTF8(string(data), "\uFFFD")
		case keep == &data:
			w.originalID, w.originalTo = originalHeader(data)
		}
		if err != nil {
			w.readError(mediaType, err)
			return
		}
	}
	// Read the rest so that a truncated part is noticed where it ends.
	if _, err := io.Copy(io.Discard, body); err != nil {
		w.readError(mediaType, err)
	}
}

func (w *walked) multipart(mediaType string, params map[string]string, body io.Reader, depth int) {
	if depth >= MaxDepth {
		w.problems.add("MIME nesting deeper than MaxDepth: inner parts not read")
		return
	}
	boundary := params["boundary"]
	if boundary == "" {
		w.problems.add(mediaType + " without a boundary: parts not read")
		return
	}
	reader := multipart.NewReader(body, boundary)
	for count := 0; !w.stopped; count++ {
		part, err := reader.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			if count == 0 {
				w.stop(mediaType + " without any part")
			} else {
				w.readError(mediaType, err)
			}
			return
		}
		w.part(part.Header, part, depth+1)
	}
}

// readError ends the walk: what was read so far still counts.
func (w *walked) readError(mediaType string, err error) {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		w.stop("message truncated: " + mediaType + " part ends early")
		return
	}
	w.stop(mediaType + " part unreadable: " + oneLine(err.Error(), 120))
}

func (w *walked) stop(problem string) {
	w.problems.add(problem)
	w.stopped = true
}

// contentType is the media type of a part, text/plain when absent (RFC 2045) or unreadable.
func contentType(header textproto.MIMEHeader, problems *problems) (string, map[string]string) {
	value := header.Get("Content-Type")
	if strings.TrimSpace(value) == "" {
		return "text/plain", map[string]string{}
	}
	mediaType, params, err := mime.ParseMediaType(value)
	if mediaType == "" {
		problems.add("Content-Type unreadable: read as text/plain")
		return "text/plain", map[string]string{}
	}
	if err != nil && params == nil {
		params = map[string]string{}
	}
	return mediaType, params
}

// transferDecoder undoes the Content-Transfer-Encoding of a part.
func transferDecoder(header textproto.MIMEHeader, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &spaceDropper{body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return body
}

// spaceDropper drops the spaces and tabs some mailers leave in base64 lines; the base64
// decoder already drops line ends.
type spaceDropper struct{ r io.Reader }

func (s *spaceDropper) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		kept := 0
		for _, c := range p[:n] {
			if c != ' ' && c != '\t' {
				p[kept] = c
				kept++
			}
		}
		if kept > 0 || err != nil || n == 0 {
			return kept, err
		}
	}
}
