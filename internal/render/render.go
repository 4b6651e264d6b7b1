// Package render is the one template renderer of cadence emails and task titles. Loading a
// cadence checks every template with it against sample data, and the send activity renders
// with it against the deal's data, so what validation accepts is exactly what sending runs.
package render

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Data is what templates can use: the contract sales ops write against. A template that
// names anything else fails when its cadence is loaded, not when the email is due.
type Data struct {
	Contact Contact
	Owner   Owner
	Deal    Deal
}

// Contact is the prospect the email goes to.
type Contact struct{ FirstName, LastName, Name, Company, Email string }

// Owner is the rep who owns the deal.
type Owner struct{ FirstName, Name, Company, Email string }

// Deal is the deal the cadence runs for.
type Deal struct{ Title string }

// Sample is the data templates are checked with at load time: every field set.
var Sample = Data{
	Contact: Contact{FirstName: "Ada", LastName: "Lovelace", Name: "Ada Lovelace", Company: "Analytical Engines Ltd", Email: "ada@example.com"},
	Owner:   Owner{FirstName: "Grace", Name: "Grace Hopper", Company: "Followup GmbH", Email: "grace@example.com"},
	Deal:    Deal{Title: "Analytical Engines: 50 seats"},
}

// Blank is the other extreme templates are checked with: a contact we know nothing about
// but the address, as CRMs often send. A template must render for it too (with fallbacks).
// The owner and the deal are the team's own data, as in Sample.
var Blank = Data{Contact: Contact{Email: "someone@example.com"}, Owner: Sample.Owner, Deal: Sample.Deal}

// Kind says how a template's output is used.
type Kind int

const (
	Text    Kind = iota // plain text: the text part
	HTML                // the HTML part: data is escaped for its context
	Subject             // a header or a task title: rendered as text, folded onto one line
)

// funcs are the functions templates may call, beside text/template's built-ins (of which
// those that lengthen text are bounded: see growers).
//
//	{{.Contact.FirstName | default "there"}}  the value, or the fallback when it is blank
func funcs() map[string]any {
	f := growers()
	f["default"] = fallback
	return f
}

// fallback returns v, or def when v is blank (empty or only spaces). It takes any so that a
// pipeline of a non-string value still reads naturally.
func fallback(def string, v any) string {
	s := ""
	if v != nil {
		s = fmt.Sprint(v)
	}
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// Template is a parsed template of one kind, to execute any number of times; it is safe
// for concurrent use.
type Template struct {
	kind Kind
	text *texttemplate.Template // Text and Subject
	html *htmltemplate.Template // HTML
}

// Parse parses src, a template named name, of the given kind. A template with a loop or a
// call of another template is refused (see bounds.go).
func Parse(name, src string, kind Kind) (*Template, error) {
	t := &Template{kind: kind}
	var err error
	var trees []*parse.Tree
	if kind == HTML {
		t.html, err = htmltemplate.New(name).Funcs(funcs()).Option("missingkey=error").Parse(src)
		if err == nil {
			for _, d := range t.html.Templates() {
				trees = append(trees, d.Tree)
			}
		}
	} else {
		t.text, err = texttemplate.New(name).Funcs(funcs()).Option("missingkey=error").Parse(src)
		if err == nil {
			for _, d := range t.text.Templates() {
				trees = append(trees, d.Tree)
			}
		}
	}
	if err == nil {
		err = checkTrees(name, trees)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Execute renders t with data; output over MaxOutputBytes is an error.
func (t *Template) Execute(data Data) (string, error) {
	var b limitedBuffer
	if t.kind == HTML {
		if err := t.html.Execute(&b, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	if err := t.text.Execute(&b, data); err != nil {
		return "", err
	}
	if t.kind == Subject {
		return OneLine(b.String()), nil
	}
	return b.String(), nil
}

// Execute renders src (a template named name) of the given kind with data: Parse, then
// Template.Execute.
func Execute(name, src string, kind Kind, data Data) (string, error) {
	t, err := Parse(name, src, kind)
	if err != nil {
		return "", err
	}
	return t.Execute(data)
}

// OneLine folds text onto one line (runs of white space, CR and LF included, become one
// space): a rendered value never breaks a header.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Clean makes a data value safe to render: invalid UTF-8 becomes U+FFFD and NUL and other
// control characters but tab and line breaks are dropped. Values come from CRMs and forms.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// Cleaned returns d with every value cleaned.
func (d Data) Cleaned() Data {
	c := &d.Contact
	c.FirstName, c.LastName, c.Name, c.Company, c.Email = Clean(c.FirstName), Clean(c.LastName), Clean(c.Name), Clean(c.Company), Clean(c.Email)
	o := &d.Owner
	o.FirstName, o.Name, o.Company, o.Email = Clean(o.FirstName), Clean(o.Name), Clean(o.Company), Clean(o.Email)
	d.Deal.Title = Clean(d.Deal.Title)
	return d
}

// EchoMax bounds a value quoted back in an error message.
const EchoMax = 40

// Echo bounds a value a person or client sent before an error quotes it back: at most
// EchoMax bytes, cut at a rune boundary, with "…" when cut.
func Echo(s string) string {
	if len(s) <= EchoMax {
		return s
	}
	cut := EchoMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
