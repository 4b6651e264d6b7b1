package render_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/render"
)

// A template renders in time and memory in step with its length: loops and calls of other
// templates are refused when it is parsed, at their position; the built-ins that lengthen
// text refuse results over render.MaxValueBytes, and output over render.MaxOutputBytes is
// refused. Each case here ran for minutes or took gigabytes before.
func TestTemplatesRenderInBoundedTimeAndMemory(t *testing.T) {
	t.Parallel()
	doubling := `{{$s := "ab"}}` + strings.Repeat(`{{$s = print $s $s}}`, 40) + `{{len $s}}`
	for _, c := range []struct{ name, src, want string }{
		{"range", "Hi\n  {{range 2000000000}}{{end}}", "template: t:2:10: {{range}}: templates have no loops"},
		{"range in if", "{{if .Contact.Name}}{{range $i, $c := .Contact.Name}}{{end}}{{end}}", "t:1:28: {{range}}"},
		{"template call", `{{define "a"}}x{{template "a"}}{{end}}{{template "a"}}`, "t:1:49: {{template}} and {{block}}: a template is one file"},
		{"block", `{{block "b" .}}x{{end}}`, "{{template}} and {{block}}"},
		{"define", `x{{define "a"}}y{{end}}`, "{{define}}: a template is one file"},
		{"doubling", doubling, "print: the result is over 16 KiB"},
		{"escaper chain", `{{"\\" ` + strings.Repeat("| js ", 40) + `}}`, "js: the result is over 16 KiB"},
		{"wide printf", `{{printf "%01000000d" 0}}`, "printf: widths and precisions are at most 999"},
		{"star width", `{{printf "%*d" 1000000 0}}`, "printf: widths and precisions are at most 999"},
		{"long output", strings.Repeat(`{{printf "%0999d" 0}}`, 2000), "the rendered text is over 1 MiB"},
	} {
		for _, kind := range []render.Kind{render.Text, render.HTML} {
			start := time.Now()
			_, err := render.Execute("t", c.src, kind, render.Sample)
			require.Less(t, time.Since(start), time.Second, c.name)
			require.ErrorContains(t, err, c.want, c.name)
		}
	}
}

// What templates are for still works: the bounded built-ins, once or chained a little.
func TestBoundedBuiltinsStillWork(t *testing.T) {
	t.Parallel()
	src := `{{printf "%s <%s>" .Contact.Name .Contact.Email}} {{print "a" 1}} {{.Contact.Company | urlquery}} {{"<b>" | html}} {{js "it's"}} {{printf "%-8s|" "ab"}}`
	got, err := render.Execute("t", src, render.Text, render.Sample)
	require.NoError(t, err)
	require.Equal(t, `Ada Lovelace <ada@example.com> a1 Analytical+Engines+Ltd &lt;b&gt; it\'s ab      |`, got)
	got, err = render.Execute("t", `<a href="https://cal.example/?who={{.Contact.Email | urlquery}}">{{.Contact.FirstName | html}}</a>`, render.HTML, render.Sample)
	require.NoError(t, err)
	require.Equal(t, `<a href="https://cal.example/?who=ada%40example.com">Ada</a>`, got)
}

func TestPrintfWidths(t *testing.T) {
	t.Parallel()
	for format, ok := range map[string]bool{
		"%0999d": true, "%-999s": true, "%.999f": true, "%5.2f": true, "100%%": true, "%[1]s": true,
		"%1000d": false, "%01000d": false, "%.1000f": false, "%.01000f": false, "%*d": false, "%.*f": false, "%[1]*d": false, "%-+1000x": false,
	} {
		_, err := render.Execute("t", `{{printf "`+format+`" 1}}`, render.Text, render.Sample)
		if ok {
			require.NotContains(t, errString(err), "widths and precisions", format)
		} else {
			require.ErrorContains(t, err, "widths and precisions are at most 999", format)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
