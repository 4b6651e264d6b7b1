package cadencefile

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Problem is one thing wrong with a cadence, located in the file where it was found: the
// cadence file itself or one of its templates.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"` // 1-based
	Col     int    `json:"col"`  // 1-based, in characters
	Message string `json:"message"`
	Excerpt string `json:"excerpt,omitempty"` // the source lines up to Line, a caret under Col
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	if p.Excerpt != "" {
		s += "\n" + strings.TrimSuffix(p.Excerpt, "\n")
	}
	return s
}

// Error is every problem found in a cadence, so ops fix them in one pass; past
// MaxProblems, the rest are counted in Omitted.
type Error struct {
	Problems []Problem
	Omitted  int `json:",omitempty"`
}

// Error prints each problem as file:line:col: message, then its excerpt.
func (e *Error) Error() string {
	parts := make([]string, len(e.Problems), len(e.Problems)+1)
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	if e.Omitted > 0 {
		parts = append(parts, fmt.Sprintf("… and %d more problems, not shown: fix these first", e.Omitted))
	}
	return strings.Join(parts, "\n\n")
}

// sortProblems orders problems by where they are, the cadence file first, so the output
// reads top to bottom.
func sortProblems(ps []Problem, mainFile string) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.File == mainFile) != (b.File == mainFile) {
			if a.File == mainFile {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// excerpt shows up to two lines before line, the line itself marked with >, and a caret
// under col. It is computed from the source rather than goccy's token printer so that YAML
// and template files look alike. Lines longer than excerptWidth characters (a minified
// template, an inlined image) are shown as a window of that width around the caret.
func excerpt(src []byte, line, col int) string {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	start := 0 // the first character shown of each line: moved only to keep the caret in view
	if n := utf8.RuneCountInString(lines[line-1]); n > excerptWidth && col > excerptWidth-excerptWidth/8 {
		start = min(col-1-excerptWidth/2, n-excerptWidth)
	}
	first := max(1, line-2)
	width := len(strconv.Itoa(line))
	var b strings.Builder
	for n := first; n <= line; n++ {
		mark := " "
		if n == line {
			mark = ">"
		}
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(fmt.Sprintf("%s %*d | %s", mark, width, n, clipLine(lines[n-1], start)), " \t"))
	}
	caretCol := col - start
	if start > 0 {
		caretCol++ // the … before the window
	}
	fmt.Fprintf(&b, "  %s | %s^\n", strings.Repeat(" ", width), caretIndent(clipLine(lines[line-1], start), caretCol))
	return b.String()
}

// excerptWidth is the most characters of a line an excerpt shows.
const excerptWidth = 160

// clipLine is the excerptWidth characters of line from start, with … where it is cut.
func clipLine(line string, start int) string {
	if start == 0 && utf8.RuneCountInString(line) <= excerptWidth {
		return line
	}
	r := []rune(line)
	prefix, suffix := "", ""
	if start > 0 {
		if len(r) <= start {
			return "" // a line before the window: nothing of it is in view
		}
		prefix, r = "…", r[start:]
	}
	if len(r) > excerptWidth {
		r, suffix = r[:excerptWidth], "…"
	}
	return prefix + string(r) + suffix
}

// caretIndent is the blank prefix that puts a caret under rune column col, keeping tabs so
// the caret lines up however the terminal renders them.
func caretIndent(line string, col int) string {
	var b strings.Builder
	for i, r := range []rune(line) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			b.WriteRune('\t')
		} else {
			b.WriteRune(' ')
		}
	}
	return b.String()
}

// locator turns YAML paths such as $.stages[2].steps[1].after into positions.
type locator struct {
	file *ast.File
}

// locate returns the position of the node at path. A path that names a key the file does
// not have (a missing reason, a defaulted id) falls back to the nearest enclosing node, so a
// problem always points somewhere sensible.
func (l locator) locate(path string) (line, col int) {
	for p := path; p != ""; p = parentPath(p) {
		if tk := l.token(p); tk != nil {
			return tk.Position.Line, tk.Position.Column
		}
	}
	return 1, 1
}

// empty reports a file with no YAML content (nothing, or only comments).
func (l locator) empty() bool {
	if l.file == nil {
		return false
	}
	for _, doc := range l.file.Docs {
		if doc.Body != nil {
			if _, comment := doc.Body.(*ast.CommentGroupNode); !comment {
				return false
			}
		}
	}
	return true
}

func (l locator) token(path string) *token.Token {
	if l.file == nil {
		return nil
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(l.file)
	if err != nil || n == nil {
		return nil
	}
	// A block mapping's own token is the first key's colon; its first key reads better.
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return m.Values[0].Key.GetToken()
	}
	return n.GetToken()
}

// parentPath drops the last selector of a path: $.a.b[2] → $.a.b → $.a → $ → "".
func parentPath(p string) string {
	if p == "$" {
		return ""
	}
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return "$"
	}
	return p[:i]
}

// decodeProblem turns the decoder's error (it stops at the first) into a problem worded for
// the people who write cadences, not for Go programmers.
func decodeProblem(err error) (line, col int, msg string) {
	var yerr yaml.Error
	if !errors.As(err, &yerr) || yerr.GetToken() == nil {
		return 1, 1, err.Error()
	}
	tk := yerr.GetToken()
	line, col = tk.Position.Line, tk.Position.Column
	var (
		syntax   *yaml.SyntaxError
		unknown  *yaml.UnknownFieldError
		typ      *yaml.TypeError
		nodeType *yaml.UnexpectedNodeTypeError
		overflow *yaml.OverflowError
		dupKey   *yaml.DuplicateKeyError
	)
	switch {
	case errors.As(err, &unknown):
		return line, col, unknownKeyMessage(tk.Value)
	case errors.As(err, &typ):
		return line, col, keyPrefix(tk) + fmt.Sprintf("want %s, got %s", describeType(typ.DstType), describeValue(typ.SrcType, tk))
	case errors.As(err, &nodeType):
		return line, col, keyPrefix(tk) + fmt.Sprintf("want %s, got %s", describeNode(nodeType.Expected), describeNode(nodeType.Actual))
	case errors.As(err, &overflow):
		return line, col, keyPrefix(tk) + fmt.Sprintf("%s is too large", tk.Value)
	case errors.As(err, &dupKey):
		return line, col, dupKey.Message
	case errors.As(err, &syntax):
		return line, col, syntaxMessage(syntax.Message)
	}
	return line, col, yerr.GetMessage()
}

// shapeError is a problem one of the format's own unmarshalers finds (a value of neither
// shape it takes), at the token it is about, worded for cadence authors like the rest.
type shapeError struct {
	token   *token.Token
	message string
}

func (e *shapeError) Error() string          { return e.message }
func (e *shapeError) GetToken() *token.Token { return e.token }
func (e *shapeError) GetMessage() string     { return e.message }
func (e *shapeError) FormatError(colored, inclSource bool) string {
	return yaml.FormatErrorWithToken(e.message, e.token, colored, inclSource)
}

func unknownKeyMessage(key string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if near := closest(key, formatKeys()); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return msg
}

// syntaxMessage rewords the one syntax error people hit most, a key given twice.
func syntaxMessage(msg string) string {
	var key string
	var line, col int
	if _, err := fmt.Sscanf(msg, "mapping key %q already defined at [%d:%d]", &key, &line, &col); err == nil {
		return fmt.Sprintf("key %q is given twice (first on line %d)", key, line)
	}
	return "syntax error: " + msg
}

// keyPrefix names the key whose value is wrong, "times: ", when the token follows one.
func keyPrefix(tk *token.Token) string {
	if tk.Prev != nil && tk.Prev.Type == token.MappingValueType && tk.Prev.Prev != nil {
		return tk.Prev.Prev.Value + ": "
	}
	return ""
}

var (
	durationType   = reflect.TypeFor[durationText]()
	weeklyType     = reflect.TypeFor[weeklyText]()
	percentType    = reflect.TypeFor[percentText]()
	engagementType = reflect.TypeFor[engagementText]()
)

func describeType(t reflect.Type) string {
	switch t {
	case durationType:
		return `a duration like "2 business days"`
	case weeklyType:
		return `days and hours like "Mon-Fri 09:00-17:00"`
	case percentType:
		return `a share of the time limit like "80%"`
	case engagementType:
		return wantEngagers
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "a mapping of keys to values"
	}
}

func describeValue(t reflect.Type, tk *token.Token) string {
	if t != nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			return "a list"
		case reflect.Map, reflect.Struct:
			return "a mapping"
		}
	}
	return strconv.Quote(tk.Value)
}

func describeNode(t ast.NodeType) string {
	switch t {
	case ast.SequenceType:
		return "a list"
	case ast.MappingType, ast.MappingValueType:
		return "a mapping of keys to values"
	default:
		return "a " + t.YAMLName()
	}
}

// formatKeys lists every key of the file format, for "did you mean" hints.
func formatKeys() []string {
	var keys []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && !slices.Contains(keys, name) {
				keys = append(keys, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[fileCadence]())
	return keys
}

// closest returns the candidate nearest to s when it is close enough to be a typo.
func closest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestDist && d < len(c) {
			best, bestDist = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range ra {
		cur := make([]int, len(rb)+1)
		cur[0] = i + 1
		for j := range rb {
			cost := 1
			if ra[i] == rb[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j+1]+1, cur[j]+1, prev[j]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}
