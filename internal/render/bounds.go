package render

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// A template renders in time and memory in step with its length, so that loading a cadence
// (which renders every template twice) and sending from it always finish. Three things in
// text/template would not: {{range}} over a number loops as often as the number says,
// {{template}} and {{block}} calls can recurse and fan out, and the functions that make text
// longer (print, printf, println, html, js, urlquery) grow it exponentially when chained
// ({{$s = print $s $s}} thirty times is a gigabyte). Parse refuses the first two, the
// functions refuse results over MaxValueBytes, and Execute refuses output over
// MaxOutputBytes. Cadence data has no lists and a template is one file, so none of this
// takes anything away from what templates are for.
const (
	// MaxValueBytes bounds what one of those functions returns: far more than any value of
	// a subject, a greeting or a link.
	MaxValueBytes = 16 << 10
	// MaxOutputBytes bounds a rendered part: Gmail clips an email body over 102 KB.
	MaxOutputBytes = 1 << 20
)

// growers are text/template's built-ins that return longer text than they take, bounded.
func growers() map[string]any {
	return map[string]any{
		"print":    bounded("print", fmt.Sprint),
		"println":  bounded("println", fmt.Sprintln),
		"html":     bounded("html", texttemplate.HTMLEscaper),
		"js":       bounded("js", texttemplate.JSEscaper),
		"urlquery": bounded("urlquery", texttemplate.URLQueryEscaper),
		"printf":   printf,
	}
}

var errTooLong = fmt.Errorf("the result is over %d KiB", MaxValueBytes>>10)

// bounded wraps a built-in: arguments that are already too long are refused before it
// runs (it would make them longer), and so is a result over MaxValueBytes.
func bounded(name string, f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if argsLen(args) > MaxValueBytes {
			return "", fmt.Errorf("%s: %w", name, errTooLong)
		}
		s := f(args...)
		if len(s) > MaxValueBytes {
			return "", fmt.Errorf("%s: %w", name, errTooLong)
		}
		return s, nil
	}
}

// wideVerb finds a printf width or precision of four digits or more, or one taken from the
// arguments (*): fmt pads up to a million characters.
var wideVerb = regexp.MustCompile(`%[-+# 0]*(\[[0-9]+\])?(\*|[1-9][0-9]{3,})|%[-+# 0]*(\[[0-9]+\])?[0-9]*\.(\[[0-9]+\])?(\*|0*[1-9][0-9]{3,})`)

func printf(format string, args ...any) (string, error) {
	if wideVerb.MatchString(format) {
		return "", errors.New("printf: widths and precisions are at most 999, and not taken from the arguments (*)")
	}
	return bounded("printf", func(a ...any) string { return fmt.Sprintf(format, a...) })(args...)
}

// argsLen is about the length of args as text: exact for strings, the printed length for
// anything else (data fields are strings; the rest are small).
func argsLen(args []any) int {
	n := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			n += len(v)
		default:
			n += len(fmt.Sprint(v))
		}
	}
	return n
}

// checkTrees refuses {{range}}, {{template}}, {{block}} and {{define}}: a template is one
// file without loops. name is the template's own; trees are every template it defines.
func checkTrees(name string, trees []*parse.Tree) error {
	trees = slices.DeleteFunc(trees, func(t *parse.Tree) bool { return t == nil })
	slices.SortFunc(trees, func(a, b *parse.Tree) int { // the template itself first
		return cmp.Or(cmp.Compare(btoi(a.Name != name), btoi(b.Name != name)), strings.Compare(a.Name, b.Name))
	})
	for _, t := range trees {
		if t.Root == nil {
			continue
		}
		if t.Name != name {
			return treeError(t, t.Root, "{{define}}: a template is one file, and defines no others")
		}
		if err := checkNode(t, t.Root); err != nil {
			return err
		}
	}
	return nil
}

func checkNode(t *parse.Tree, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(t, c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return treeError(t, n, "{{range}}: templates have no loops (the data has no lists, and a range over a number runs as often as it says)")
	case *parse.TemplateNode:
		return treeError(t, n, "{{template}} and {{block}}: a template is one file, and calls no others")
	case *parse.IfNode:
		return checkBranch(t, &n.BranchNode)
	case *parse.WithNode:
		return checkBranch(t, &n.BranchNode)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkBranch(t *parse.Tree, b *parse.BranchNode) error {
	if err := checkNode(t, b.List); err != nil {
		return err
	}
	return checkNode(t, b.ElseList)
}

// treeError is an error at node n, worded like text/template's own parse errors
// ("template: intro.txt:3:14: …"), so that it is placed in the file as they are.
func treeError(t *parse.Tree, n parse.Node, msg string) error {
	location, _ := t.ErrorContext(n)
	return fmt.Errorf("template: %s: %s", location, msg)
}

// limitedBuffer is where Execute renders: it refuses to grow past MaxOutputBytes.
type limitedBuffer struct {
	b []byte
}

var errOutputTooLong = fmt.Errorf("the rendered text is over %d MiB", MaxOutputBytes>>20)

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > MaxOutputBytes {
		return 0, errOutputTooLong
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *limitedBuffer) String() string { return string(w.b) }
