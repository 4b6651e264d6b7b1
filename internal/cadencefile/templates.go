package cadencefile

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/followup-engine/followup/internal/cadence"
	rendering "github.com/followup-engine/followup/internal/render"
)

// templates reads the templates the email steps name, each once, in the order the steps
// name them. A template that cannot be read or used is reported and stands in the model
// empty, so the model's checks do not also call it undefined.
func (l *loader) templates(f fileCadence) map[string]cadence.Template {
	var out map[string]cadence.Template
	for i, s := range f.Stages {
		for j, st := range s.Steps {
			if st.Email == "" || st.Task != nil || st.Wait != "" {
				continue
			}
			if _, done := out[st.Email]; done {
				continue
			}
			if out == nil {
				out = map[string]cadence.Template{}
				l.templateRefs = map[string]string{}
			}
			l.templateRefs[st.Email] = stepPath(i, j) + ".email"
			out[st.Email] = l.template(st.Email, stepPath(i, j)+".email")
		}
	}
	return out
}

// templateFile is one file of a template as read.
type templateFile struct {
	name    string // templates/intro.txt, relative to the cadence file's directory
	display string // the same, as problems name it
	src     []byte
	missing bool
}

func (l *loader) template(name, refPath string) cadence.Template {
	if !namePattern.MatchString(name) {
		l.addAt(refPath, "template name %q: want lower-case letters, digits, - or _ (it names files under %s/)", name, TemplateDir)
		return cadence.Template{}
	}
	subject, text, html := l.readPart(name, ".subject"), l.readPart(name, ".txt"), l.readPart(name, ".html")
	if subject == nil || text == nil || html == nil {
		return cadence.Template{} // an unreadable file, reported
	}
	switch {
	case subject.missing && text.missing:
		l.addAt(refPath, "%s", l.unknownTemplate(name))
		return cadence.Template{}
	case subject.missing || text.missing:
		absent := subject
		if text.missing {
			absent = text
		}
		l.addAt(refPath, "template %q: %s is missing (an email template needs a .subject and a .txt file)", name, absent.display)
		return cadence.Template{}
	}
	t := cadence.Template{Subject: l.subject(subject), Text: string(text.src)}
	l.checkTemplate(text, rendering.Text)
	if !html.missing {
		// Trailing newlines mean nothing in HTML; dropping them keeps an editor's habit
		// from making a new version.
		t.HTML = strings.TrimRight(string(html.src), "\r\n")
		l.checkTemplate(html, rendering.HTML)
	}
	l.checkTemplateSize(name, t, subject, text, html)
	return t
}

// readPart reads templates/<name><ext>; nil means a read error or a file over
// MaxTemplateFileBytes, already reported.
func (l *loader) readPart(name, ext string) *templateFile {
	rel := path.Join(TemplateDir, name+ext)
	tf := &templateFile{name: rel, display: filepath.Join(filepath.Dir(l.filename), filepath.FromSlash(rel))}
	if l.fsys == nil {
		tf.missing = true
		return tf
	}
	src, size, err := readFileAtMost(l.fsys, rel, MaxTemplateFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tf.missing = true
	case err != nil:
		l.add(tf.display, nil, 1, 1, err.Error())
		return nil
	case len(src) > MaxTemplateFileBytes:
		l.addOverRaw(tf.display, src, size, MaxTemplateFileBytes, "a template file", imageHint(string(src)))
		return nil
	}
	tf.src = src
	return tf
}

// unknownTemplate explains a template with no files, naming a close one if there is.
func (l *loader) unknownTemplate(name string) string {
	msg := fmt.Sprintf("unknown template %q: there is no %s/%s.subject or %s.txt beside %s",
		name, TemplateDir, name, name, filepath.Base(l.filename))
	if near := closest(name, l.templateNames()); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return msg
}

func (l *loader) templateNames() []string {
	if l.fsys == nil {
		return nil
	}
	entries, _ := fs.ReadDir(l.fsys, TemplateDir)
	var names []string
	for _, e := range entries {
		if base, ok := strings.CutSuffix(e.Name(), ".subject"); ok {
			names = append(names, base)
		}
	}
	return names
}

// subject checks and returns the subject line. Editors end files with a newline, so the
// text is trimmed; a second line would be a header injection, so it is refused.
func (l *loader) subject(f *templateFile) string {
	s := strings.TrimSpace(string(f.src))
	switch {
	case s == "":
		l.add(f.display, f.src, 1, 1, "the subject is empty")
	case strings.Contains(s, "\n"):
		lead := len(string(f.src)) - len(strings.TrimLeft(string(f.src), " \t\r\n"))
		line := 1 + strings.Count(string(f.src)[:lead+strings.Index(s, "\n")+1], "\n")
		l.add(f.display, f.src, line, 1, "a subject is one line")
	default:
		tf := &templateFile{name: f.name, display: f.display, src: []byte(s)}
		if blank, ok := l.checkTemplate(tf, rendering.Subject); ok && blank == "" {
			l.add(f.display, f.src, 1, 1, "the subject renders empty for a contact known only by email address: give it text or a fallback such as {{.Contact.Company | default \"your team\"}}")
		}
	}
	return s
}

// checkTemplate parses a template of the given kind as the send activity does (text/template
// for subjects and text, html/template for HTML, missingkey=error) and renders it with the
// sample data and a blank contact; it reports whether the template passed, and what the
// blank contact got.
func (l *loader) checkTemplate(f *templateFile, kind rendering.Kind) (blank string, ok bool) {
	name := path.Base(f.name)
	blank, note, err := render(name, string(f.src), kind)
	if err != nil {
		line, col, msg := templateProblem(err, string(f.src))
		l.add(f.display, f.src, line, col, msg+note)
		return "", false
	}
	return blank, true
}

// checkTitle checks a task title, a text/template in the cadence file itself, as the task
// activity renders it: a subject, folded onto one line.
func (l *loader) checkTitle(yamlPath, title string) {
	if title == "" {
		return // the model's checks say a task needs a title
	}
	if _, note, err := render("title", title, rendering.Subject); err != nil {
		_, _, msg := templateProblem(err, title)
		l.addAt(yamlPath, "title: %s%s", msg, note)
	}
}

// render checks a template as the send activity renders it (render.Execute): with the
// sample data, then with a contact known only by address, whose output it returns. A
// failure only the second shows comes with a note saying so.
func render(name, src string, kind rendering.Kind) (blank, note string, err error) {
	if _, err := rendering.Execute(name, src, kind, rendering.Sample); err != nil {
		return "", "", err
	}
	if blank, err = rendering.Execute(name, src, kind, rendering.Blank); err != nil {
		return "", " (with a contact known only by email address; give blank values a fallback such as {{.Contact.FirstName | default \"there\"}})", err
	}
	return blank, "", nil
}

var (
	// template: intro.txt:3: msg, template: intro.txt:3:15: msg, html/template:intro.html:1:11: msg
	templateErrPattern = regexp.MustCompile(`(?s)^(?:html/)?template: ?[^:]+:(\d+)(?::(\d+))?: (.*)$`)
	executingPattern   = regexp.MustCompile(`(?s)^executing "[^"]*" at <([^>]*)>: (.*)$`)
	noFieldPattern     = regexp.MustCompile(`^can't evaluate field (\w+) in type (\S+)$`)
	quotedPattern      = regexp.MustCompile(`"([^"]+)"`)
	contextPattern     = regexp.MustCompile(`:? ?\{state[^}]*\}(, \{state[^}]*\})*`)
)

// templateProblem turns a text/template or html/template error into a position in src and
// a message that names the sample data's fields rather than Go types.
func templateProblem(err error, src string) (line, col int, msg string) {
	if strings.Contains(err.Error(), htmlUnclosed) {
		line, col = endOf(src)
		return line, col, "the HTML ends inside a tag, an attribute or a script: close it"
	}
	m := templateErrPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, 1, err.Error()
	}
	line, _ = strconv.Atoi(m[1])
	msg = m[3]
	lineText := nthLine(src, line)
	if m[2] != "" {
		// text/template's error context gives a 0-based byte offset in the line.
		off, _ := strconv.Atoi(m[2])
		col = 1 + len([]rune(lineText[:min(max(off, 0), len(lineText))]))
	} else {
		col = guessColumn(lineText, msg)
	}
	if x := executingPattern.FindStringSubmatch(msg); x != nil {
		msg = executionMessage(x[1], x[2])
	}
	return line, col, stripContexts(msg)
}

// htmlUnclosed is html/template's error for HTML that stops inside a tag or attribute; it
// names no line, so it is placed at the end of the file, where the missing close belongs.
const htmlUnclosed = "ends in a non-text context"

// stripContexts drops html/template's internal parser states ("{stateURL delimDoubleQuote
// …}") from messages; they mean nothing to template authors.
func stripContexts(msg string) string {
	return strings.TrimSuffix(contextPattern.ReplaceAllString(msg, ""), ":")
}

func endOf(src string) (line, col int) {
	src = strings.TrimRight(src, "\r\n")
	line = 1 + strings.Count(src, "\n")
	return line, 1 + len([]rune(nthLine(src, line)))
}

// guessColumn places the caret for parse errors, which give only a line: at the quoted
// name the message complains about if the line has it, else at the line's first action.
func guessColumn(lineText, msg string) int {
	for _, q := range quotedPattern.FindAllStringSubmatch(msg, -1) {
		if i := strings.Index(lineText, q[1]); i >= 0 {
			return 1 + len([]rune(lineText[:i]))
		}
	}
	if i := strings.Index(lineText, "{{"); i >= 0 {
		return 1 + len([]rune(lineText[:i]))
	}
	return 1
}

func nthLine(s string, n int) string {
	lines := strings.Split(s, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSuffix(lines[n-1], "\r")
}

// executionMessage rewords "can't evaluate field Compnay in type render.Contact"
// into what a template author can act on.
func executionMessage(expr, rest string) string {
	m := noFieldPattern.FindStringSubmatch(rest)
	if m == nil {
		return fmt.Sprintf("{{%s}}: %s", expr, rest)
	}
	field, typeName := m[1], m[2]
	root := reflect.TypeFor[rendering.Data]()
	if typeName == root.String() {
		names := fieldNames(root)
		if near := closest(field, names); near != "" {
			return fmt.Sprintf("{{%s}}: there is no .%s (did you mean .%s?)", expr, field, near)
		}
		return fmt.Sprintf("{{%s}}: there is no .%s (templates can use .%s)", expr, field, strings.Join(names, ", ."))
	}
	for f := range root.Fields() {
		if f.Type.String() != typeName {
			continue
		}
		msg := fmt.Sprintf("{{%s}}: .%s has no field %s", expr, f.Name, field)
		names := fieldNames(f.Type)
		if near := closest(field, names); near != "" {
			return msg + fmt.Sprintf(" (did you mean %s?)", near)
		}
		return msg + fmt.Sprintf(" (it has %s)", strings.Join(names, ", "))
	}
	return fmt.Sprintf("{{%s}}: %s", expr, rest)
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		names = append(names, f.Name)
	}
	return names
}
