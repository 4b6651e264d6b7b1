package doccheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// outside names documents that were cited once but are not in the repository.
var outside = regexp.MustCompile(`\bDESIGN\b|reliability\.md|performance\.md|libraries\.md|what-users-expect|style-anchors|docs/notes|\.\./shared`)

// sectionOf is a citation by section sign of something that is not an RFC (a document
// name, then "§" and a number); "RFC 8058 §3.2" and a bare "(§3.2)" after an RFC pass.
var sectionOf = regexp.MustCompile(`\b([A-Za-z][\w./-]*)\s*§`)

// mdFile is a Markdown file named in the text.
var mdFile = regexp.MustCompile(`[\w./-]+\.md\b`)

// mdLink is an inline Markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func TestCommentsCiteDocumentsInTheRepository(t *testing.T) {
	root := repoRoot(t)
	for _, path := range sources(t, root) {
		rel, _ := filepath.Rel(root, path)
		text := read(t, path)
		for i, line := range strings.Split(text, "\n") {
			where := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), i+1)
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s cites %q, which is not in the repository: cite ARCHITECTURE.md, the README or cadences/README.md, or say the fact\n\t%s", where, m, strings.TrimSpace(line))
			}
			for _, m := range sectionOf.FindAllStringSubmatch(line, -1) {
				if m[1] != "RFC" {
					t.Errorf("%s cites %q by section: name a document in the repository and its heading\n\t%s", where, m[0], strings.TrimSpace(line))
				}
			}
			for _, m := range mdFile.FindAllString(line, -1) {
				if !exists(filepath.Join(root, m)) && !exists(filepath.Join(filepath.Dir(path), m)) {
					t.Errorf("%s names %s, which is not in the repository\n\t%s", where, m, strings.TrimSpace(line))
				}
			}
		}
	}
}

func TestMarkdownLinksResolve(t *testing.T) {
	root := repoRoot(t)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(read(t, path))
		anchors[path] = a
		return a
	}
	for _, path := range sources(t, root) {
		if !strings.HasSuffix(path, ".md") {
			continue
		}
		rel, _ := filepath.Rel(root, path)
		for i, line := range outsideFences(read(t, path)) {
			if line == "" {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				}
				where := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), i+1)
				if !exists(dest) {
					t.Errorf("%s links to %s, which does not exist", where, target)
					continue
				}
				if anchor != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[anchor] {
					t.Errorf("%s links to %s: no heading there has the anchor #%s", where, target, anchor)
				}
			}
		}
	}
}

func TestHeadingAnchorsAreGitHubs(t *testing.T) {
	got := headingAnchors("# followup — a tool\n## The full stack: `docker compose up`\n```\n# not a heading\n```\n## Tests\n## Tests\n")
	for _, want := range []string{"followup--a-tool", "the-full-stack-docker-compose-up", "tests", "tests-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a line in a code block is not a heading: %v", got)
	}
}

// headingAnchors returns the anchors GitHub gives the headings of a Markdown text: lower
// case, punctuation dropped, spaces as hyphens, a repeated one suffixed -1, -2….
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range outsideFences(text) {
		level := len(line) - len(strings.TrimLeft(line, "#"))
		if level == 0 || level > 6 || !strings.HasPrefix(line[level:], " ") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(line[level:])) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '_', r == '-':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			seen[a]++
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		out[a] = true
	}
	return out
}

// outsideFences returns the lines of a Markdown text, with those inside fenced code blocks
// (and the fences) blanked, so line numbers stay right.
func outsideFences(text string) []string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return lines
}

// sources lists the files whose text may cite a document: Go, SQL, shell, YAML and Markdown
// files, the Makefile, the Dockerfile and the CI entry point. Dot folders other than .ci,
// testdata folders and this package are left out.
func sources(t *testing.T, root string) []string {
	t.Helper()
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata" || name == "node_modules" || path == self) {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".sql", ".sh", ".yaml", ".yml", ".md":
			files = append(files, path)
		default:
			if name == "Makefile" || name == "Dockerfile" || filepath.Base(filepath.Dir(path)) == ".ci" {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no source files under %s", root)
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for !exists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
