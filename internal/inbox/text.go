package inbox

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/unicode/norm"
)

// problems collects the non-fatal problems met while reading, each once.
type problems struct{ list []string }

// maxProblems keeps Problem short whatever a hostile message does.
const maxProblems = 5

func (p *problems) add(problem string) {
	for _, known := range p.list {
		if known == problem {
			return
		}
	}
	if len(p.list) < maxProblems {
		p.list = append(p.list, problem)
	}
}

func (p *problems) String() string { return strings.Join(p.list, "; ") }

func newBufReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// charsetDecoder returns a reader that converts from charset to UTF-8. An unknown charset is
// read as UTF-8 (invalid bytes are replaced later) and noted, never refused.
func charsetDecoder(charset string, input io.Reader, problems *problems) io.Reader {
	charset = strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	switch charset {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return input
	}
	encoding, err := htmlindex.Get(charset)
	if err != nil {
		problems.add(fmt.Sprintf("charset %q unknown: read as UTF-8 with replacement", oneLine(charset, 40)))
		return input
	}
	return encoding.NewDecoder().Reader(input)
}

// newWordDecoder decodes RFC 2047 encoded words in any charset x/text knows.
func newWordDecoder(problems *problems) *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		return charsetDecoder(charset, input, problems), nil
	}}
}

// decodeHeader decodes the encoded words of a header value. What cannot be decoded is kept
// as it was; bytes that are not UTF-8 are read as Windows-1252, the usual mislabelled charset.
func decodeHeader(value string, decoder *mime.WordDecoder, problems *problems, field string) string {
	decoded, err := decoder.DecodeHeader(value)
	if err != nil {
		problems.add(field + " has undecodable encoded words: kept as sent")
		decoded = value
	}
	if !utf8.ValidString(decoded) {
		problems.add(field + " is not valid UTF-8: stray bytes read as Windows-1252")
		decoded = repairUTF8(decoded)
	}
	return decoded
}

// repairUTF8 keeps valid UTF-8 sequences and reads every stray byte as Windows-1252.
func repairUTF8(s string) string {
	var b strings.Builder
	table := charmap.Windows1252
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(table.DecodeByte(s[i]))
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// oneLine makes s safe to show and store as one line: control and line-separator characters
// become spaces, runs of white space one space, and at most max runes are kept.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	runes, space := 0, false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = b.Len() > 0
			continue
		}
		if space {
			if runes++; runes > max {
				break
			}
			b.WriteByte(' ')
			space = false
		}
		if runes++; runes > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// looseAddress finds something shaped like an address when the field does not parse.
var looseAddress = regexp.MustCompile(`[^\s<>"(),;:\[\]@]+@[^\s<>"(),;:\[\]@]+`)

// bareAddress is the lower-cased address of the first mailbox of a From-like field, or "".
func bareAddress(value string, decoder *mime.WordDecoder) string {
	value = strings.TrimSpace(value)
	if value == "" || value == "<>" {
		return ""
	}
	parser := mail.AddressParser{WordDecoder: decoder}
	if list, err := parser.ParseList(value); err == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address)
	}
	if open := strings.LastIndexByte(value, '<'); open >= 0 {
		if found := looseAddress.FindString(value[open:]); found != "" {
			return strings.ToLower(found)
		}
	}
	return strings.ToLower(looseAddress.FindString(value))
}

// addressList is every address of a To-like field, lower-cased.
func addressList(value string) []string {
	parser := mail.AddressParser{WordDecoder: newWordDecoder(&problems{})}
	var out []string
	if list, err := parser.ParseList(value); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, found := range looseAddress.FindAllString(value, maxReferences) {
		out = append(out, strings.ToLower(found))
	}
	return out
}

// fold prepares text for matching phrases and dates: lower case, accents removed, typographic
// apostrophes made plain, ß spelled ss, and every run of white space one space.
func fold(s string) string {
	s = norm.NFD.String(strings.ToValidUTF8(s, " "))
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		switch r {
		case '\u2019', '\u2018', '\u02bc', '`', '\u00b4':
			b.WriteByte('\'')
		case 'ß':
			b.WriteString("ss")
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// phrase is a subject phrase: its name as written, and a pattern over folded text.
type phrase struct {
	name    string
	pattern *regexp.Regexp
}

// phrases builds word-bounded, case- and accent-tolerant patterns for names.
func phrases(names ...string) []phrase {
	out := make([]phrase, 0, len(names))
	for _, name := range names {
		words := strings.FieldsFunc(fold(name), func(r rune) bool { return r == ' ' || r == '-' })
		for i, w := range words {
			words[i] = regexp.QuoteMeta(w)
		}
		body := strings.Join(words, `[\s_-]*`)
		out = append(out, phrase{name: name, pattern: regexp.MustCompile(`(?:^|[^\p{L}\p{N}])` + body + `(?:$|[^\p{L}\p{N}])`)})
	}
	return out
}

// matchPhrase is the name of the first phrase found in s, or "".
func matchPhrase(list []phrase, s string) string {
	folded := fold(s)
	for _, p := range list {
		if p.pattern.MatchString(folded) {
			return p.name
		}
	}
	return ""
}

// autoReplySubjects are subjects out-of-office and automatic replies use.
var autoReplySubjects = phrases(
	// English
	"Automatic reply", "Auto-Reply", "Autoreply", "Auto Response", "Autoresponse",
	"Automatic response", "Out of Office", "Out of the Office", "Away from the office",
	"Away from office", "On vacation", "Vacation reply", "Holiday reply",
	// German
	"Abwesenheitsnotiz", "Abwesenheitsnachricht", "Automatische Antwort", "Abwesend",
	"Nicht im Büro", "Außer Haus", "Urlaubsabwesenheit",
	// French
	"Réponse automatique", "Absence du bureau", "Absent du bureau", "Absente du bureau",
	"Message d'absence", "En congé", "En congés",
	// Spanish
	"Respuesta automática", "Fuera de la oficina", "Fuera de oficina", "Ausente",
	"Mensaje de ausencia", "De vacaciones",
	// Dutch
	"Automatisch antwoord", "Afwezig", "Niet aanwezig", "Buiten kantoor",
	// Italian
	"Risposta automatica", "Fuori sede", "Fuori ufficio", "Assente",
	// Portuguese
	"Resposta automática", "Fora do escritório", "Ausência",
)

// bounceSubjects are subjects of bounces sent without a delivery-status part.
var bounceSubjects = phrases(
	"Undelivered Mail Returned to Sender", "Undelivered Mail", "Undeliverable",
	"Delivery Status Notification", "Mail delivery failed", "Delivery failure",
	"Delivery has failed", "Returned mail", "Failure notice", "Mail System Error",
	"Unzustellbar", "Nicht zustellbar", "Non remis", "Non distribuable",
	"No se puede entregar", "No entregado", "Onbestelbaar", "Non recapitabile",
)

// htmlNoise is what carries no text in HTML: scripts, styles, comments and tags.
var htmlNoise = regexp.MustCompile(`(?is)<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>`)

// htmlText is the text of an HTML fragment, good enough to search for a date.
func htmlText(s string) string {
	return html.UnescapeString(htmlNoise.ReplaceAllString(s, " "))
}
