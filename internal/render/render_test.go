package render_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/render"
)

func TestDefaultFallsBackOnBlankValues(t *testing.T) {
	t.Parallel()
	src := `Hi {{.Contact.FirstName | default "there"}} at {{.Contact.Company | default "your team"}}`
	got, err := render.Execute("greeting", src, render.Text, render.Sample)
	require.NoError(t, err)
	require.Equal(t, "Hi Ada at Analytical Engines Ltd", got)

	got, err = render.Execute("greeting", src, render.Text, render.Blank)
	require.NoError(t, err)
	require.Equal(t, "Hi there at your team", got)

	spaces := render.Blank
	spaces.Contact.FirstName = "   "
	got, err = render.Execute("greeting", src, render.Text, spaces)
	require.NoError(t, err)
	require.Equal(t, "Hi there at your team", got, "only spaces count as blank")

	got, err = render.Execute("greeting", `{{.Contact.Name | default .Contact.Email}}`, render.Text, render.Blank)
	require.NoError(t, err)
	require.Equal(t, "someone@example.com", got, "a fallback can be another value")
}

func TestUnknownFieldsAndFunctionsFail(t *testing.T) {
	t.Parallel()
	_, err := render.Execute("t", `{{.Contact.Compnay}}`, render.Text, render.Sample)
	require.ErrorContains(t, err, "Compnay")
	_, err = render.Execute("t", `{{.Contact.FirstName | defualt "x"}}`, render.HTML, render.Sample)
	require.ErrorContains(t, err, `function "defualt" not defined`)
}

// hostile is prospect data as a hostile or broken CRM would send it.
func hostile() render.Data {
	d := render.Sample
	d.Contact.FirstName = "<script>alert(1)</script>"
	d.Contact.Company = "Evil\r\nBcc: victim@example.com"
	d.Contact.LastName = "{{.Owner.Email}}"
	d.Deal.Title = "bad \xff\xfe utf-8 \x00 and \x1b[31m"
	return d.Cleaned()
}

func TestHostileDataStaysData(t *testing.T) {
	t.Parallel()
	d := hostile()

	html, err := render.Execute("t", `<p>Hi {{.Contact.FirstName}} {{.Contact.LastName}}</p><a href="https://x.example/?c={{.Contact.Company}}">x</a>`, render.HTML, d)
	require.NoError(t, err)
	require.NotContains(t, html, "<script>", "HTML escapes data")
	require.Contains(t, html, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, html, "{{.Owner.Email}}", "data is never parsed as a template")
	require.NotContains(t, html, "grace@example.com")
	require.Contains(t, html, "c=Evil%0d%0aBcc", "a URL attribute gets the value URL-escaped")

	subject, err := render.Execute("t", `Note for {{.Contact.Company}}: {{.Deal.Title}}`, render.Subject, d)
	require.NoError(t, err)
	require.NotContains(t, subject, "\r")
	require.NotContains(t, subject, "\n")
	require.Equal(t, "Note for Evil Bcc: victim@example.com: bad \uFFFD utf-8 and [31m", subject,
		"one line, a run of invalid UTF-8 replaced once, NUL and escape dropped")

	text, err := render.Execute("t", `{{.Contact.LastName}}`, render.Text, d)
	require.NoError(t, err)
	require.Equal(t, "{{.Owner.Email}}", text)
}

func TestCleanKeepsOrdinaryText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Zoë Ångström", "O'Brien & Söhne", "line one\nline two\ttab", "日本語"} {
		require.Equal(t, s, render.Clean(s))
	}
}

// A reply's subject is "Re: " once and the thread's subject, whatever prefixes the parent
// carried; the reply's own subject stands in for a parent whose subject is unknown.
func TestReplySubject(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ parent, own, want string }{
		{"A quick idea for Prospect Inc", "Following up", "Re: A quick idea for Prospect Inc"},
		{"Re: A quick idea", "Following up", "Re: A quick idea"},
		{"RE: re:Re :  A quick idea", "Following up", "Re: A quick idea"},
		{"  A quick idea  ", "Following up", "Re: A quick idea"},
		{"Ana from Vendor: an idea", "Following up", "Re: Ana from Vendor: an idea"},
		{"", "Following up", "Re: Following up"},
		{"   ", "Re: Following up", "Re: Following up"},
		{"Regarding: budget", "x", "Re: Regarding: budget"},
	} {
		require.Equal(t, c.want, render.ReplySubject(c.parent, c.own), "%q, %q", c.parent, c.own)
	}
}

// Echo cuts a long value at a rune boundary and marks the cut; a short one stays whole.
func TestEchoBoundsAValueQuotedBack(t *testing.T) {
	t.Parallel()
	require.Equal(t, "EURO", render.Echo("EURO"))
	long := strings.Repeat("é", 30) // 60 bytes
	got := render.Echo(long)
	require.True(t, utf8.ValidString(got), got)
	require.Equal(t, strings.Repeat("é", 20)+"…", got)
}
