package cadencefile

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

// fourEmails is a cadence with four email steps; template intro is named at line 6
// column 16.
const fourEmails = `pipeline: tiny
stages:
  - id: open
    steps:
      - email: outro
      - email: intro
      - email: other
      - email: extra
  - id: won
    terminal: true
`

// templatesFS holds the templates of fourEmails, with the given text and HTML for intro.
func templatesFS(introText, introHTML string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, name := range []string{"outro", "intro", "other", "extra"} {
		fsys["templates/"+name+".subject"] = &fstest.MapFile{Data: []byte("Hello {{.Contact.FirstName | default \"there\"}}\n")}
		fsys["templates/"+name+".txt"] = &fstest.MapFile{Data: []byte("Hi,\n")}
	}
	fsys["templates/intro.txt"] = &fstest.MapFile{Data: []byte(introText)}
	if introHTML != "" {
		fsys["templates/intro.html"] = &fstest.MapFile{Data: []byte(introHTML)}
	}
	return fsys
}

// problems is the loader's list of problems in err.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var perr *Error
	require.True(t, errors.As(err, &perr), "want *Error, got %v", err)
	return perr.Problems
}

// A template may take up to cadence.MaxTemplateBytes in its canonical form, exactly.
func TestTemplateAtTheBoundLoads(t *testing.T) {
	t.Parallel()
	subject := `Hello {{.Contact.FirstName | default "there"}}`
	overhead := cadence.Template{Subject: subject}.CanonicalSize()
	text := strings.Repeat("abcdefgh\n", (cadence.MaxTemplateBytes-overhead)/10)
	text += strings.Repeat("x", cadence.MaxTemplateBytes-overhead-escapedLen(text))
	p, err := Parse("c.yaml", []byte(fourEmails), templatesFS(text, ""))
	require.NoError(t, err)
	require.Equal(t, cadence.MaxTemplateBytes, p.Templates["intro"].CanonicalSize())

	_, err = Parse("c.yaml", []byte(fourEmails), templatesFS(text+"x", ""))
	ps := problems(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, filepath.Join("templates", "intro.txt"), ps[0].File)
	require.Contains(t, ps[0].Message, `template "intro" is 131073 bytes in its canonical form (subject, text and HTML together, as published), over the 128 KiB bound of a template`)
}

// The bound is on the canonical form, where HTML's < > & take six bytes each: a template
// under the bound on disk can be over it as published. The problem says where in which file
// the bound is passed.
func TestTemplateOverTheBoundInItsCanonicalForm(t *testing.T) {
	t.Parallel()
	row := "<tr><td>&nbsp;</td></tr>\n" // 25 bytes, 71 escaped
	html := strings.Repeat(row, 4000)   // 100,000 bytes on disk, 284,000 as JSON
	require.Less(t, len(html), MaxTemplateFileBytes)
	_, err := Parse("c.yaml", []byte(fourEmails), templatesFS("Hi,\n", html))
	ps := problems(t, err)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, filepath.Join("templates", "intro.html"), p.File)
	require.Contains(t, p.Message, `template "intro" is 277.4 KiB in its canonical form`)
	// Before the HTML: the subject, the text and the JSON around them.
	before := len(`{"subject":"Hello {{.Contact.FirstName | default \"there\"}}","text":"Hi,\n","html":"`)
	line := (cadence.MaxTemplateBytes-before)/escapedLen(row) + 1
	require.Equal(t, line, p.Line)
	require.Contains(t, p.Excerpt, fmt.Sprintf("> %d | <tr><td>&nbsp;</td></tr>", line))
}

// A 2.4 MB HTML template (an inlined image) is refused as it is read, before it is parsed
// or rendered, at the line and column where it passes the bound.
func TestTemplateFileOverTheBoundIsNotRead(t *testing.T) {
	t.Parallel()
	img := base64.StdEncoding.EncodeToString(make([]byte, 1_800_000))
	html := "<p>Hi {{.Contact.FirstName}},</p>\n<img src=\"data:image/png;base64," + img + "\">\n"
	start := time.Now()
	_, err := Parse("c.yaml", []byte(fourEmails), templatesFS("Hi,\n", html))
	require.Less(t, time.Since(start), time.Second)
	ps := problems(t, err)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, filepath.Join("templates", "intro.html"), p.File)
	require.Equal(t, 2, p.Line)
	require.Equal(t, MaxTemplateFileBytes-len("<p>Hi {{.Contact.FirstName}},</p>\n")+1, p.Col)
	require.Equal(t, "the file is 2.3 MiB, over the 128 KiB bound of a template file, and was not read further (the bound falls here): it inlines an image (data:image/…); link the image from a web server instead", p.Message)
	for _, line := range strings.Split(p.Excerpt, "\n") {
		require.LessOrEqual(t, len([]rune(line)), excerptWidth+10, "an excerpt shows a window of a long line")
	}
}

// A version whose templates are each under their bound can be over the version's: refused
// at the largest part, naming the largest parts.
func TestVersionOverTheBound(t *testing.T) {
	t.Parallel()
	fsys := templatesFS(strings.Repeat("lorem ", 21_800), "") // 130,800 bytes each, no escapes
	for name, n := range map[string]int{"outro": 20_000, "other": 19_000, "extra": 18_000} {
		fsys["templates/"+name+".txt"] = &fstest.MapFile{Data: []byte(strings.Repeat("ipsum ", n))}
	}
	_, err := Parse("c.yaml", []byte(fourEmails), fsys)
	ps := problems(t, err)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "c.yaml", p.File)
	require.Equal(t, 6, p.Line, "at the step naming the largest template")
	require.Equal(t, 16, p.Col)
	require.Equal(t, `the cadence is 462.6 KiB in its canonical form (model and templates, as published and loaded into each deal), over the 384 KiB bound of a version; the largest parts are template "intro" 127.8 KiB (here), template "outro" 117.3 KiB, template "other" 111.4 KiB`, p.Message)
}

// A cadence file over MaxFileBytes is refused having read just past the bound, whether from
// disk (Load, with its size) or given (Parse).
func TestFileOverTheBoundIsNotParsed(t *testing.T) {
	t.Parallel()
	src := []byte(fourEmails + strings.Repeat("# a comment to make the file large\n", 200_000)) // 7 MB
	path := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(path, src, 0o644))
	start := time.Now()
	_, err := Load(path)
	require.Less(t, time.Since(start), time.Second)
	ps := problems(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, path, ps[0].File)
	line, col := offsetPosition(src, MaxFileBytes)
	require.Equal(t, []int{line, col}, []int{ps[0].Line, ps[0].Col})
	require.Equal(t, "the file is 6.7 MiB, over the 128 KiB bound of a cadence file, and was not read further (the bound falls here)", ps[0].Message)

	_, err = Parse("big.yaml", src, nil)
	require.Equal(t, []int{line, col}, []int{problems(t, err)[0].Line, problems(t, err)[0].Col})

	// At the bound, the file is read.
	_, err = Parse("at.yaml", src[:MaxFileBytes], templatesFS("Hi,\n", ""))
	require.NoError(t, err)
}

// The alias bomb (testdata/invalid/alias-bomb.yaml, nine levels of nine aliases, which the
// decoder expanded until the process ran out of memory) is refused before anything parses
// it, in well under a second; so is any anchor, alias or merge key.
func TestAliasesAreRefusedFast(t *testing.T) {
	t.Parallel()
	bomb, err := os.ReadFile(filepath.Join("testdata", "invalid", "alias-bomb.yaml"))
	require.NoError(t, err)
	start := time.Now()
	_, err = Parse("bomb.yaml", bomb, nil)
	require.Less(t, time.Since(start), 100*time.Millisecond)
	require.ErrorContains(t, err, "bomb.yaml:7:35: anchor &a: cadence files have no anchors or aliases")

	for src, want := range map[string]string{
		"pipeline: x\nstages: [{id: a, steps: *steps}]\n":                                                 "2:25: alias *steps: ",
		"pipeline: x\nstages:\n  - &s {id: a}\n  - *s\n":                                                  "3:5: anchor &s: ",
		"pipeline: x\nstages:\n  - id: a\n    on_stale: {<<: *move, reason: r}\n":                         "4:20: alias *move: ",
		"pipeline: x\nstages:\n  - id: a\n    steps: [{id: t, task: {kind: todo, title: *bold* call}}]\n": "4:47: alias *bold*: ",
	} {
		_, err := Parse("x.yaml", []byte(src), nil)
		require.ErrorContains(t, err, "x.yaml:"+want, src)
	}
	// Text with & and * inside a value is text.
	_, err = Parse("x.yaml", []byte("pipeline: x\nstages:\n  - id: a\n    steps: [{id: t, task: {kind: todo, title: Q&A *now*, due_in: 1 day}}]\n  - {id: b, terminal: true}\n"), nil)
	require.NoError(t, err)
}

// Tags are refused before parsing: the format has no use for them, and on a key that takes
// a list the YAML decoder panicked on one (found by FuzzParse).
func TestTagsAreRefused(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"pipeline: a\nstages: !x\n":                            "x.yaml:2:9: tag !x: cadence files have no tags",
		"pipeline: a\ncalendar:\n  holidays: !t\nstages: []\n": "x.yaml:3:13: tag !t: ",
		"pipeline: !!str 12\nstages: []\n":                     "x.yaml:1:11: tag !!str: ",
	} {
		_, err := Parse("x.yaml", []byte(src), nil)
		require.ErrorContains(t, err, want, src)
	}
}

// Nesting the parser would need memory for (it grows with the square of the depth) is
// refused before parsing: brackets, block lists, indentation.
func TestDeepNestingIsRefusedFast(t *testing.T) {
	t.Parallel()
	n := MaxFileBytes / 8 // 16 KiB: 8,000 levels, hundreds of megabytes to the parser
	for name, src := range map[string]string{
		"brackets":    "pipeline: x\nstages: " + strings.Repeat("[", n/2) + strings.Repeat("]", n/2),
		"braces":      "pipeline: x\nstages: " + strings.Repeat("{a: ", n/4),
		"block lists": "pipeline: x\nstages:\n" + strings.Repeat("- ", n/2) + "x\n",
		"indentation": "pipeline: x\nstages:\n" + func() string {
			var b strings.Builder
			for i := 0; b.Len() < n; i++ {
				b.WriteString(strings.Repeat(" ", i) + "- a:\n")
			}
			return b.String()
		}(),
	} {
		start := time.Now()
		_, err := Parse("x.yaml", []byte(src), nil)
		require.Less(t, time.Since(start), time.Second, name)
		require.ErrorContains(t, err, "the file nests too deep: here it is over 100 levels", name)
	}
	// The examples are nowhere near.
	for _, name := range []string{"b2b.yaml", "short-cycle.yaml", "demo.yaml"} {
		src, err := os.ReadFile(filepath.Join(examples, name))
		require.NoError(t, err)
		l := &loader{filename: name, src: src}
		require.True(t, l.scan(), name)
	}
}

// A step repeats at most MaxTimes times, so checking when its occurrences run takes time
// that follows the file, not the number written.
func TestTimesIsBounded(t *testing.T) {
	t.Parallel()
	src := "pipeline: x\nstages:\n  - id: a\n    time_limit: 999999999 days\n    on_stale: {move_to: b, reason: r}\n" +
		"    steps:\n      - {id: t, task: {kind: todo, title: t, due_in: 1 day}, times: 2000000000}\n  - {id: b, terminal: true}\n"
	start := time.Now()
	_, err := Parse("x.yaml", []byte(src), nil)
	require.Less(t, time.Since(start), time.Second)
	require.ErrorContains(t, err, "x.yaml:7:69: times: want at most 1000, got 2000000000")
}

// A block mapping of more keys than any cadence has is refused before parsing (the parser
// takes seconds over 20,000 of them); lists of mappings count each mapping's keys.
func TestWideMappingIsRefused(t *testing.T) {
	t.Parallel()
	var keys strings.Builder
	for i := range MaxFileBytes / 12 {
		fmt.Fprintf(&keys, "k%d: 1\n", i)
	}
	start := time.Now()
	_, err := Parse("x.yaml", []byte("pipeline: x\nstages: []\n"+keys.String()), nil)
	require.Less(t, time.Since(start), time.Second)
	require.ErrorContains(t, err, "x.yaml:101:1: this mapping has over 100 keys (a cadence's have at most 8)")

	var stages strings.Builder
	for i := range 300 {
		fmt.Fprintf(&stages, "  - id: s%d\n    terminal: true\n", i)
	}
	_, err = Parse("x.yaml", []byte("pipeline: x\nstages:\n"+stages.String()), nil)
	require.NoError(t, err, "300 stages of two keys each")
}

// A load places and words its first MaxProblems problems and counts the rest: each costs
// time in the file's size.
func TestProblemsAreCapped(t *testing.T) {
	t.Parallel()
	var steps strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&steps, "      - {id: w%d, wait: %d fortnights}\n", i, i+1)
	}
	_, err := Parse("x.yaml", []byte("pipeline: x\nstages:\n  - id: a\n    steps:\n"+steps.String()), nil)
	require.Len(t, problems(t, err), MaxProblems)
	require.Equal(t, 2900, err.(*Error).Omitted)
	require.True(t, strings.HasSuffix(err.Error(), "\n\n… and 2900 more problems, not shown: fix these first"))
}
