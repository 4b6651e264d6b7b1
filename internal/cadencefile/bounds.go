package cadencefile

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"

	"github.com/followup-engine/followup/internal/cadence"
)

// Bounds of what the loader reads, so that any file loads in time and memory that follow
// its size. The version's own bounds (cadence.MaxTemplateBytes, cadence.MaxVersionBytes) are
// checked on the canonical form, the bytes that are published and loaded into each deal.
const (
	// MaxFileBytes bounds a cadence file; a larger one is refused before it is parsed. The
	// largest example is 8 KB; a file this size parses in well under a second.
	MaxFileBytes = 128 << 10
	// MaxTemplateFileBytes bounds each template file, refused before it is parsed: no file
	// over it could make a template under cadence.MaxTemplateBytes.
	MaxTemplateFileBytes = cadence.MaxTemplateBytes
	// MaxDepth bounds how deep a cadence file nests, counting indentation, lists and
	// mappings. The format needs about 10; the YAML parser's memory grows with the square of
	// the depth (a file of 100,000 nested brackets takes gigabytes).
	MaxDepth = 100
	// MaxTimes bounds a step's times: a weekly email for two years is 104.
	MaxTimes = 1000
	// MaxProblems bounds the problems a load places and words; the rest are counted.
	MaxProblems = 100
	// MaxKeys bounds the keys of one mapping, which the format has at most 8 of; the YAML
	// parser takes time in the square of a block mapping's keys (20,000 take seconds).
	MaxKeys = 100
)

// readAtMost reads r up to bound bytes. Over the bound it stops after bound+1 bytes and
// returns them with the whole size when r can tell it (an fs.File), else -1.
func readAtMost(r io.Reader, bound int) (src []byte, size int64, err error) {
	src, err = io.ReadAll(io.LimitReader(r, int64(bound)+1))
	if err != nil {
		return nil, 0, err
	}
	size = int64(len(src))
	if len(src) > bound {
		size = -1
		if f, ok := r.(fs.File); ok {
			if fi, err := f.Stat(); err == nil {
				size = fi.Size()
			}
		}
	}
	return src, size, nil
}

// readFileAtMost reads the file name of fsys up to bound bytes, as readAtMost.
func readFileAtMost(fsys fs.FS, name string, bound int) ([]byte, int64, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return readAtMost(f, bound)
}

// addOverRaw reports a file over its raw bound, where the bound falls in it; prefix is what
// was read of it (more than bound bytes), size its whole size (-1: unknown).
func (l *loader) addOverRaw(file string, prefix []byte, size int64, bound int, what, hint string) {
	line, col := offsetPosition(prefix, bound)
	is := "over " + cadence.FormatBytes(bound)
	if size > 0 {
		is = cadence.FormatBytes(int(min(size, 1<<50)))
	}
	l.add(file, prefix, line, col, fmt.Sprintf("the file is %s, over the %s bound of %s, and was not read further (the bound falls here)%s",
		is, cadence.FormatBytes(bound), what, hint))
}

// offsetPosition is the line and column (in characters) of byte offset off in src.
func offsetPosition(src []byte, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	nl := bytes.LastIndexByte(before, '\n')
	return 1 + bytes.Count(before, []byte("\n")), 1 + utf8.RuneCount(before[nl+1:])
}

// scan refuses, before anything parses the file, what would make parsing or decoding cost
// more than the file's size: anchors and aliases, since an alias stands for a copy of its
// anchor's value and nested ones multiply (a 2 KB file of them decodes into gigabytes), and
// nesting deeper than MaxDepth. It also refuses tags (!name), which the format has no use
// for and which make the YAML decoder panic where a list is expected. The lexer it uses
// runs in time linear in the file. It reports whether the file may be parsed.
func (l *loader) scan() bool {
	var (
		refs                      int
		firstRef, deep, tag, wide *token.Token
		line, indent, indicators  int
		flow                      int
		keys                      keyCounter
	)
	for _, tk := range lexer.Tokenize(string(l.src)) {
		if tk.Type == token.CommentType || tk.Position == nil {
			continue
		}
		// Depth: each level of a block collection is indented further or follows an
		// indicator (- ? :) on the same line, and each level of a flow collection opens a
		// bracket; their sum is at least the depth.
		if tk.Position.Line != line {
			line, indent, indicators = tk.Position.Line, tk.Position.Column-1, 0
		}
		switch tk.Type {
		case token.AnchorType, token.AliasType:
			refs++
			if firstRef == nil {
				firstRef = tk
			}
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			indicators++
			if flow > 0 {
				break
			}
			if k := keys.see(tk); k != nil && wide == nil {
				wide = k
			}
		case token.TagType:
			if tag == nil {
				tag = tk
			}
		}
		if deep == nil && flow+indent+indicators > MaxDepth {
			deep = tk
		}
	}
	if firstRef != nil {
		l.add(l.filename, l.src, firstRef.Position.Line, firstRef.Position.Column, refMessage(firstRef, refs))
	}
	if deep != nil {
		l.add(l.filename, l.src, deep.Position.Line, deep.Position.Column, fmt.Sprintf(
			"the file nests too deep: here it is over %d levels of indentation, lists and mappings deep (a cadence needs about 10), and it was not read further", MaxDepth))
	}
	if tag != nil {
		l.add(l.filename, l.src, tag.Position.Line, tag.Position.Column, fmt.Sprintf(
			"tag %s: cadence files have no tags (each key says what its value is): drop it, and quote text that starts with !", tag.Value))
	}
	if wide != nil {
		l.add(l.filename, l.src, wide.Position.Line, wide.Position.Column, fmt.Sprintf(
			"this mapping has over %d keys (a cadence's have at most 8), and the file was not read further", MaxKeys))
	}
	return firstRef == nil && deep == nil && tag == nil && wide == nil
}

// keyCounter counts the keys of block mappings from the indicators (- ? :) of a file's
// tokens, outside flow collections: a block mapping's keys share a column, and an entry or
// a key left of them ends it.
type keyCounter struct {
	open     []blockMapping // the block mappings open at this point, innermost last
	explicit bool           // a ? key waits for its :
}

// blockMapping is a block mapping: the column of its keys and how many it has had.
type blockMapping struct{ col, keys int }

// see takes the next indicator; it returns the key that takes its mapping past MaxKeys.
func (c *keyCounter) see(tk *token.Token) *token.Token {
	key := tk
	if tk.Type == token.MappingValueType && tk.Prev != nil && tk.Prev.Position != nil {
		key = tk.Prev
	}
	col := key.Position.Column
	for len(c.open) > 0 && c.open[len(c.open)-1].col > col {
		c.open = c.open[:len(c.open)-1]
	}
	switch {
	case tk.Type == token.MappingKeyType: // ? key: counted here, not at its :
		c.explicit = true
	case tk.Type == token.MappingValueType && c.explicit:
		c.explicit = false
		return nil
	case tk.Type != token.MappingValueType:
		return nil
	}
	if n := len(c.open); n > 0 && c.open[n-1].col == col {
		c.open[n-1].keys++
	} else {
		c.open = append(c.open, blockMapping{col: col, keys: 1})
	}
	if c.open[len(c.open)-1].keys > MaxKeys {
		return key
	}
	return nil
}

// errReaderPanic marks a panic of the YAML parser or decoder, turned into an error by
// guard so that a file the reader cannot cope with is a problem, not a crash.
var errReaderPanic = errors.New("the YAML reader failed on this file")

// guard runs a call into the YAML library, turning a panic into an errReaderPanic error.
func guard(call func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v): write the YAML more simply around unusual syntax", errReaderPanic, r)
		}
	}()
	return call()
}

// refMessage explains the first anchor or alias of a file that has refs of them.
func refMessage(tk *token.Token, refs int) string {
	name := ""
	if tk.Next != nil && tk.Next.Position != nil && tk.Next.Position.Line == tk.Position.Line {
		name = tk.Next.Value
	}
	what := "anchor &" + name
	if tk.Type == token.AliasType {
		what = "alias *" + name
	}
	count := ""
	if refs > 1 {
		count = fmt.Sprintf(" (%d anchors and aliases in the file; this is the first)", refs)
	}
	return fmt.Sprintf("%s: cadence files have no anchors or aliases (an alias is read as a copy of its value, and nested ones multiply): write the values out, and quote text that starts with & or *%s", what, count)
}

// checkTemplateSize refuses a template over cadence.MaxTemplateBytes in its canonical form,
// placing the problem where the bound falls in its files.
func (l *loader) checkTemplateSize(name string, t cadence.Template, subject, text, html *templateFile) {
	size := t.CanonicalSize()
	if size <= cadence.MaxTemplateBytes {
		return
	}
	// The canonical form is {"subject":"…","text":"…","html":"…"}: find the part, then the
	// byte of its file, at which the escaped strings so far pass the bound.
	type part struct {
		file  *templateFile
		value string // the part as the model holds it
		lead  int    // bytes of the file before value (a subject's leading blank space)
	}
	parts := []part{
		{subject, t.Subject, len(subject.src) - len(bytes.TrimLeft(subject.src, " \t\r\n"))},
		{text, t.Text, 0},
	}
	if t.HTML != "" {
		parts = append(parts, part{html, t.HTML, 0})
	}
	used := len(`{"subject":"`)
	at, off := parts[len(parts)-1], len(parts[len(parts)-1].value)
	for _, p := range parts {
		n := escapedLen(p.value)
		if used+n > cadence.MaxTemplateBytes {
			budget := cadence.MaxTemplateBytes - used
			at, off = p, sort.Search(len(p.value), func(k int) bool { return escapedLen(p.value[:k]) > budget })
			break
		}
		used += n + len(`","text":"`)
	}
	line, col := offsetPosition(at.file.src, at.lead+off)
	l.add(at.file.display, at.file.src, line, col, fmt.Sprintf(
		"template %q is %s in its canonical form (subject, text and HTML together, as published), over the %s bound of a template, which it passes here%s",
		name, cadence.FormatBytes(size), cadence.FormatBytes(cadence.MaxTemplateBytes), imageHint(at.value)))
}

// imageHint names the usual cause of a large HTML template.
func imageHint(html string) string {
	if strings.Contains(html, "data:image/") {
		return ": it inlines an image (data:image/…); link the image from a web server instead"
	}
	return ""
}

// escapedLen is the length of s as a JSON string's content, escapes included.
func escapedLen(s string) int {
	b, _ := json.Marshal(s) // a string: it cannot fail
	return len(b) - 2
}

// checkVersionSize refuses a version over cadence.MaxVersionBytes in its canonical form. It
// is placed at the largest part of the version (a stage, or the first step naming a
// template) and names the largest parts, which are what to make smaller.
func (l *loader) checkVersionSize(p cadence.Pipeline) {
	b, err := p.CanonicalJSON()
	if err != nil || len(b) <= cadence.MaxVersionBytes {
		return
	}
	type part struct {
		name, path string
		size       int
	}
	var parts []part
	for i, s := range p.Stages {
		sb, _ := json.Marshal(s)
		parts = append(parts, part{fmt.Sprintf("stage %q", s.ID), stagePath(i), len(sb)})
	}
	for name, t := range p.Templates {
		parts = append(parts, part{fmt.Sprintf("template %q", name), l.templateRefs[name], t.CanonicalSize()})
	}
	if p.Exits != nil {
		eb, _ := json.Marshal(p.Exits)
		parts = append(parts, part{"exits", "$.exits", len(eb)})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Or(b.size-a.size, strings.Compare(a.name, b.name)) })
	var largest []string
	for i, pt := range parts[:min(3, len(parts))] {
		here := ""
		if i == 0 {
			here = " (here)"
		}
		largest = append(largest, pt.name+" "+cadence.FormatBytes(pt.size)+here)
	}
	path := "$"
	if len(parts) > 0 && parts[0].path != "" {
		path = parts[0].path
	}
	line, col := l.loc.locate(path)
	l.add(l.filename, l.src, line, col, fmt.Sprintf(
		"the cadence is %s in its canonical form (model and templates, as published and loaded into each deal), over the %s bound of a version; the largest parts are %s",
		cadence.FormatBytes(len(b)), cadence.FormatBytes(cadence.MaxVersionBytes), strings.Join(largest, ", ")))
}
