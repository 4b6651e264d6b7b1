package preview

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/render"
)

// Email is an email touch as the prospect would receive it, rendered with render.Sample by
// the renderer the send activity uses.
type Email struct {
	Template string `json:"template"`
	Thread   bool   `json:"thread"` // the step has thread: true
	// From and ReplyTo are the pipeline's sender, or a description of where the send takes
	// them from (the deal's owner, MAIL_FROM) when the pipeline names none.
	From    string `json:"from"`
	ReplyTo string `json:"reply_to"`
	Text    string `json:"text"` // the text part, before the footer the worker adds
	HTML    bool   `json:"html"` // the email has an HTML part too
	// A contact known only by address (render.Blank) gets this subject and greeting line
	// instead of the sample's; empty when they are the same.
	BlankSubject  string `json:"blank_subject,omitempty"`
	BlankGreeting string `json:"blank_greeting,omitempty"`
}

// What the send uses when the pipeline has no sender (activities' senderOf): From is the
// owner's sender identity, else MAIL_FROM; replies go to the owner's reply-to, else the
// owner's address, never to MAIL_FROM.
const (
	ownerFrom    = "the owner's identity or MAIL_FROM"
	ownerReplyTo = "the owner's reply-to or address"
)

// sent is an email the preview assumes sent: what a later threaded step replies to.
type sent struct {
	ref          string // "prospecting/intro#1"
	subject      string // as the sample contact saw it
	blankSubject string // as a contact known only by address saw it; only with Request.Emails
}

// rendered is a template rendered for the sample contact and, when the emails themselves are
// wanted, for a contact known only by address.
type rendered struct {
	subject, text           string // for render.Sample; text only when full
	blankSubject, blankText string // for render.Blank; only when full
}

// renderTemplate renders tpl (named name): its subject and, when full, the rest.
func renderTemplate(name string, tpl cadence.Template, full bool) (rendered, error) {
	var r rendered
	var err error
	r.subject, err = render.Execute(name+" subject", tpl.Subject, render.Subject, render.Sample)
	if err != nil || !full {
		return r, err
	}
	if r.blankSubject, err = render.Execute(name+" subject", tpl.Subject, render.Subject, render.Blank); err != nil {
		return r, err
	}
	if r.text, err = render.Execute(name+" text", tpl.Text, render.Text, render.Sample); err != nil {
		return r, err
	}
	r.blankText, err = render.Execute(name+" text", tpl.Text, render.Text, render.Blank)
	return r, err
}

// compose fills an email touch: its subject (a reply to parent, the deal's last email, for
// a threaded step, exactly as the send activity threads) and, when full, the Email. cache
// holds the templates already rendered, by name: a template renders once per timeline
// however often its step runs.
func compose(p cadence.Pipeline, t *Touch, stepID string, parent *sent, full bool, cache map[string]rendered) (sent, error) {
	stage, _ := p.Stage(t.Stage)
	step, ok := stage.Step(stepID)
	tpl, defined := p.Templates[step.Template]
	if !ok || !defined {
		return sent{}, fmt.Errorf("email %s/%s: template %q is not in the cadence", t.Stage, t.Item, step.Template)
	}
	name := step.Template
	r, done := cache[name]
	if !done {
		var err error
		if r, err = renderTemplate(name, tpl, full); err != nil {
			return sent{}, fmt.Errorf("email %s/%s: %w", t.Stage, t.Item, err)
		}
		cache[name] = r
	}
	threaded := step.Thread && parent != nil
	subject := r.subject
	if threaded {
		subject = render.ReplySubject(parent.subject, subject)
		t.InReplyTo = parent.ref
	}
	t.Subject = subject
	self := sent{ref: t.Stage + "/" + t.Item, subject: subject}
	if !full {
		return self, nil
	}
	blankSubject := r.blankSubject
	if threaded {
		blankSubject = render.ReplySubject(parent.blankSubject, blankSubject)
	}
	self.blankSubject = blankSubject
	e := &Email{Template: name, Thread: step.Thread, From: ownerFrom, ReplyTo: ownerReplyTo, Text: r.text, HTML: tpl.HTML != ""}
	if s := p.Sender; s != nil {
		e.From, e.ReplyTo = cmp.Or(s.From, ownerFrom), cmp.Or(s.ReplyTo, ownerReplyTo)
	}
	if blankSubject != subject {
		e.BlankSubject = blankSubject
	}
	if g := greeting(r.blankText); g != greeting(r.text) {
		e.BlankGreeting = g
	}
	t.Email = e
	return self, nil
}

// greeting is a text's first non-blank line ("Hi Ada,").
func greeting(text string) string {
	for line := range strings.Lines(text) {
		if l := strings.TrimSpace(line); l != "" {
			return l
		}
	}
	return ""
}

// WriteEmails writes each email of a timeline (computed with Request.Emails) as the
// prospect would receive it: sender, subject, the email it replies to, what a contact known
// only by address would see where that differs, and the text part, indented.
func WriteEmails(out io.Writer, touches []Touch) error {
	w := &stickyWriter{w: out}
	c := render.Sample.Contact
	fmt.Fprintf(w, "EMAILS to %s <%s>, sample data; the worker ends each with MAIL_POSTAL_ADDRESS and an unsubscribe link.\n", c.Name, c.Email)
	fmt.Fprintln(w, "Blank contact: what a contact known only by address gets, where it differs.")
	for _, t := range touches {
		e := t.Email
		if e == nil {
			continue
		}
		parts := "text part"
		if e.HTML {
			parts = "text and HTML parts"
		}
		fmt.Fprintf(w, "\n%s/%s  %s  template %s, %s\n", t.Stage, t.Item, t.Local, e.Template, parts)
		field := func(name, value string) { fmt.Fprintf(w, "  %-15s%s\n", name+":", value) }
		field("From", e.From)
		field("Reply-To", e.ReplyTo)
		field("Subject", t.Subject)
		switch {
		case t.InReplyTo != "":
			field("In-Reply-To", "reply to "+t.InReplyTo)
		case e.Thread:
			field("In-Reply-To", "none: nothing sent before it, so it starts the thread")
		default:
			field("In-Reply-To", "none: a new thread")
		}
		var blank []string
		if e.BlankSubject != "" {
			blank = append(blank, fmt.Sprintf("subject %q", e.BlankSubject))
		}
		if e.BlankGreeting != "" {
			blank = append(blank, fmt.Sprintf("greeting %q", e.BlankGreeting))
		}
		if len(blank) > 0 {
			field("Blank contact", strings.Join(blank, ", "))
		}
		fmt.Fprintln(w)
		for line := range strings.Lines(strings.TrimRight(e.Text, "\r\n")) {
			line = strings.TrimRight(line, "\r\n")
			if strings.TrimSpace(line) == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
	return w.err
}

// stickyWriter keeps the first write error and writes nothing after it.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}
