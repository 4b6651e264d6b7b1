package cadencefile

import (
	"errors"
	"flag"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

var update = flag.Bool("update", false, "rewrite the golden files and cadences/cadence.schema.json")

const examples = "../../cadences"

// The demo pipeline of `make demo`: mail at once, and a stage that times out within a
// minute, on its own pipeline id.
func TestDemoFileIsFast(t *testing.T) {
	t.Parallel()
	p, err := Load(filepath.Join(examples, "demo.yaml"))
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	require.NotEqual(t, cadence.Default().ID, p.ID)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	items, err := cadence.Plan(p, cadence.Visit{Stage: p.Initial, Number: 1, EnteredAt: t0}, cadence.DefaultCalendars())
	require.NoError(t, err)
	require.Equal(t, t0, items[0].At, "mail at once")
	last := items[len(items)-1]
	require.Equal(t, cadence.ItemStale, last.Kind)
	require.LessOrEqual(t, last.At.Sub(t0), time.Minute, "a stage times out within a minute")
}

func TestExamplesLoadAndValidate(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"b2b.yaml", "short-cycle.yaml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Load(filepath.Join(examples, name))
			require.NoError(t, err)
			require.NoError(t, p.Validate())
			require.NotNil(t, p.Calendar)
			require.Equal(t, p.Stages[0].ID, p.Initial)
		})
	}
}

func TestParseMapsOntoTheModel(t *testing.T) {
	t.Parallel()
	src := `
pipeline: tiny
calendar:
  zone: Europe/Berlin
  holidays: [DE, au-nsw]
  business_hours: "Mon-Fri 09:00-17:00"
  email_window: "Tue-Thu 09:00-11:30"
stages:
  - id: open
    time_limit: 5 business days
    steps:
      - email: hello
      - id: ring
        task: { kind: call, title: "Call {{.Contact.FirstName}}" }
        after: 1 business day
      - email: hello
        id: hello-again
        after: 0 days
        times: 2
    on_stale: { move_to: closed, reason: too slow }
    on_exhausted: { move_to: closed, reason: done, after: 0 }
  - id: closed
    terminal: true
`
	fsys := fstest.MapFS{
		"templates/hello.subject": {Data: []byte("  Hello {{.Contact.FirstName}}\n")},
		"templates/hello.txt":     {Data: []byte("Hi {{.Contact.FirstName}},\n")},
		"templates/hello.html":    {Data: []byte("<p>Hi {{.Contact.FirstName}}</p>\n\n")},
		"templates/unused.txt":    {Data: []byte("{{.Nope}}")},
	}
	got, err := Parse("tiny.yaml", []byte(src), fsys)
	require.NoError(t, err)
	require.Equal(t, cadence.Pipeline{
		ID: "tiny",
		Calendar: &cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de", "au-nsw"},
			BusinessHours: "Mon-Fri 09:00-17:00", EmailWindow: "Tue-Thu 09:00-11:30"},
		Initial: "open",
		Stages: []cadence.Stage{
			{
				ID: "open", TimeLimit: cadence.Of(5, cadence.BusinessDays),
				Steps: []cadence.Step{
					{ID: "hello", Kind: cadence.StepEmail, After: cadence.Zero, Template: "hello"},
					{ID: "ring", Kind: cadence.StepTask, After: cadence.Of(1, cadence.BusinessDays),
						Task: &cadence.TaskSpec{Kind: "call", Title: "Call {{.Contact.FirstName}}"}},
					{ID: "hello-again", Kind: cadence.StepEmail, After: cadence.Zero, Times: 2, Template: "hello"},
				},
				OnStale:     &cadence.Move{MoveTo: "closed", Reason: "too slow"},
				OnExhausted: &cadence.Move{MoveTo: "closed", Reason: "done"},
			},
			{ID: "closed", Terminal: true},
		},
		Templates: map[string]cadence.Template{
			"hello": {Subject: "Hello {{.Contact.FirstName}}", Text: "Hi {{.Contact.FirstName}},\n", HTML: "<p>Hi {{.Contact.FirstName}}</p>"},
		},
	}, got)
}

func TestErrorListsEveryProblem(t *testing.T) {
	t.Parallel()
	src := `pipeline: two-problems
stages:
  - id: a
    time_limit: 3 fortnights
    on_stale: { move_to: b, reason: slow }
`
	_, err := Parse("two.yaml", []byte(src), fstest.MapFS{})
	var perr *Error
	require.True(t, errors.As(err, &perr), "%v", err)
	require.Len(t, perr.Problems, 2)
	require.Equal(t, Problem{File: "two.yaml", Line: 4, Col: 17,
		Message: `duration "3 fortnights": unknown unit "fortnights" (want seconds, minutes, hours, days, business hours or business days)`,
		Excerpt: "  2 | stages:\n  3 |   - id: a\n> 4 |     time_limit: 3 fortnights\n    |                 ^\n"},
		perr.Problems[0])
	require.Equal(t, 5, perr.Problems[1].Line)
	require.Contains(t, perr.Problems[1].Message, `move_to "b" names no stage`)
}
