package cadencefile

import (
	"errors"
	"flag"
	"fmt"
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

// Every construct of the model's engagement and stale rules, written as sales ops write
// them, loads into exactly the model's values.
func TestParseMapsLaddersWaitsAndEngagementRules(t *testing.T) {
	t.Parallel()
	src := `
pipeline: rules
exits:
  reply:
    task: { kind: email, title: "Answer {{.Contact.FirstName}}", due_in: 2 business hours }
  meeting_booked:
    task: { kind: todo, title: "Prepare the meeting", due_in: 1 business day }
  bounce:
    task: { kind: todo, title: "Find a new address for {{.Contact.Name}}" }
  unsubscribe:
    task: { kind: todo, title: "{{.Contact.Name}} unsubscribed: call instead?", due_in: 3 business days }
stages:
  - id: qualification
    time_limit: 10 business days
    steps:
      - id: send-notes
        task: { kind: email, title: "Send the notes", due_in: 1 business day }
        blocking: true
      - id: cool-off
        wait: 2 business days
      - email: hello
        after: 1 business day
    on_stale:
      - at: 50
        task: { kind: call, title: "Halfway: call {{.Contact.FirstName}}", due_in: 1 business day }
      - at: " 80 % "
        task: { kind: todo, title: "Going stale: decide", due_in: 4 business hours }
      - at: 100%
        move_to: nurturing
        reason: no progress
        task: { kind: todo, title: "Moved to nurturing" }
  - id: proposal
    time_limit: 5 business days
    on_stale:
      - at: 100
        move_to: nurturing
        reason: unanswered
  - id: nurturing
    steps:
      - email: hello
        after: 21 days
        times: 3
    on_engaged:
      on: [reply, click]
      move_to: qualification
      reason: re-engaged
      task: { kind: call, title: "{{.Contact.FirstName}} is back: call", due_in: 1 business day }
  - id: dormant
    on_engaged: { move_to: qualification, reason: woke up }
`
	fsys := fstest.MapFS{
		"templates/hello.subject": {Data: []byte("Hello\n")},
		"templates/hello.txt":     {Data: []byte("Hi\n")},
	}
	got, err := Parse("rules.yaml", []byte(src), fsys)
	require.NoError(t, err)
	require.NoError(t, got.Validate())
	require.Equal(t, cadence.Pipeline{
		ID:      "rules",
		Initial: "qualification",
		Exits: &cadence.Exits{
			Reply:         &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "email", Title: "Answer {{.Contact.FirstName}}", DueIn: cadence.Of(2, cadence.BusinessHours)}},
			MeetingBooked: &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "todo", Title: "Prepare the meeting", DueIn: cadence.Of(1, cadence.BusinessDays)}},
			Bounce:        &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "todo", Title: "Find a new address for {{.Contact.Name}}"}},
			Unsubscribe:   &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "todo", Title: "{{.Contact.Name}} unsubscribed: call instead?", DueIn: cadence.Of(3, cadence.BusinessDays)}},
		},
		Stages: []cadence.Stage{
			{
				ID: "qualification", TimeLimit: cadence.Of(10, cadence.BusinessDays),
				Steps: []cadence.Step{
					{ID: "send-notes", Kind: cadence.StepTask, After: cadence.Zero, Blocking: true,
						Task: &cadence.TaskSpec{Kind: "email", Title: "Send the notes", DueIn: cadence.Of(1, cadence.BusinessDays)}},
					{ID: "cool-off", Kind: cadence.StepWait, After: cadence.Of(2, cadence.BusinessDays)},
					{ID: "hello", Kind: cadence.StepEmail, After: cadence.Of(1, cadence.BusinessDays), Template: "hello"},
				},
				StaleTasks: []cadence.StaleTask{
					{At: 50, Task: cadence.TaskSpec{Kind: "call", Title: "Halfway: call {{.Contact.FirstName}}", DueIn: cadence.Of(1, cadence.BusinessDays)}},
					{At: 80, Task: cadence.TaskSpec{Kind: "todo", Title: "Going stale: decide", DueIn: cadence.Of(4, cadence.BusinessHours)}},
				},
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "no progress", Task: &cadence.TaskSpec{Kind: "todo", Title: "Moved to nurturing"}},
			},
			{
				ID: "proposal", TimeLimit: cadence.Of(5, cadence.BusinessDays),
				OnStale: &cadence.Move{MoveTo: "nurturing", Reason: "unanswered"},
			},
			{
				ID:    "nurturing",
				Steps: []cadence.Step{{ID: "hello", Kind: cadence.StepEmail, After: cadence.Of(21, cadence.Days), Times: 3, Template: "hello"}},
				OnEngaged: &cadence.OnEngaged{On: []cadence.Engagement{cadence.EngagedReply, cadence.EngagedClick}, MoveTo: "qualification", Reason: "re-engaged",
					Task: &cadence.TaskSpec{Kind: "call", Title: "{{.Contact.FirstName}} is back: call", DueIn: cadence.Of(1, cadence.BusinessDays)}},
			},
			{ID: "dormant", OnEngaged: &cadence.OnEngaged{MoveTo: "qualification", Reason: "woke up"}},
		},
		Templates: map[string]cadence.Template{"hello": {Subject: "Hello", Text: "Hi\n"}},
	}, got)
}

// A ladder and its single-mapping form are the same rule: equal models, equal hashes.
func TestLadderOfOneIsTheMapping(t *testing.T) {
	t.Parallel()
	const head = "pipeline: same\nstages:\n  - id: a\n    time_limit: 3 days\n"
	const tail = "  - id: b\n"
	mapping, err := Parse("m.yaml", []byte(head+"    on_stale: { move_to: b, reason: slow }\n"+tail), nil)
	require.NoError(t, err)
	ladder, err := Parse("l.yaml", []byte(head+"    on_stale:\n      - { at: 100%, move_to: b, reason: slow }\n"+tail), nil)
	require.NoError(t, err)
	require.Equal(t, mapping, ladder)
}

// Decoding a rung goes through the same decoder as the rest of the file: unknown keys and
// wrong types inside a rung are reported where they are.
func TestRungsAreDecodedStrictly(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"pipeline: x\nstages:\n  - id: a\n    time_limit: 3 days\n    on_stale:\n      - at: 80%\n        tsak: { kind: todo, title: t }\n":              `x.yaml:7:9: unknown key "tsak" (did you mean "task"?)`,
		"pipeline: x\nstages:\n  - id: a\n    time_limit: 3 days\n    on_stale:\n      - at: 80%\n        task: { kind: todo, title: t, due_in: [1] }\n": `x.yaml:7:47: due_in: want a duration like "2 business days", got a list`,
		"pipeline: x\nstages:\n  - id: a\n    time_limit: 3 days\n    on_stale:\n      - 80%\n":                                                          `x.yaml:6:9: want a mapping of keys to values, got a string`,
		"pipeline: x\nstages:\n  - id: a\n    time_limit: 3 days\n    on_stale: [80%, 100%]\n":                                                           `x.yaml:5:16: want a mapping of keys to values, got a string`,
	} {
		_, err := Parse("x.yaml", []byte(src), nil)
		var perr *Error
		require.True(t, errors.As(err, &perr), "%v", err)
		var got []string
		for _, p := range perr.Problems {
			got = append(got, fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message))
		}
		// An unknown key no longer stops the load: the rung's other problems are listed too.
		require.Contains(t, got, want)
	}
}

// Every unknown key is reported in one run, wherever it is, and the rest of the file is
// still checked.
func TestEveryUnknownKeyIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	src := "pipeline: x\ncolour: red\nstages:\n  - id: a\n    tme_limit: 3 days\n    steps:\n      - email: intro\n        aftr: 1 day\n  - id: b\n    terminal: true\n    on_stale: { move_to: a, reason: r, taks: {kind: todo, title: t} }\n"
	_, err := Parse("x.yaml", []byte(src), nil)
	var perr *Error
	require.True(t, errors.As(err, &perr), "%v", err)
	var got []string
	for _, p := range perr.Problems {
		got = append(got, fmt.Sprintf("%d:%d: %s", p.Line, p.Col, p.Message))
	}
	for _, want := range []string{
		`2:1: unknown key "colour"`,
		`5:5: unknown key "tme_limit" (did you mean "time_limit"?)`,
		`8:9: unknown key "aftr" (did you mean "after"?)`,
		`11:40: unknown key "taks" (did you mean "task"?)`,
	} {
		require.Contains(t, got, want)
	}
	require.Greater(t, len(got), 4, "the rest of the file was checked too (the missing template): %v", got)
}

func TestEscalationLoadsOntoTheTask(t *testing.T) {
	t.Parallel()
	p, err := Load(filepath.Join("..", "..", "cadences", "b2b.yaml"))
	require.NoError(t, err)
	proposal, ok := p.Stage("proposal")
	require.True(t, ok)
	var call *cadence.TaskSpec
	for _, st := range proposal.Steps {
		if st.ID == "proposal-call" {
			call = st.Task
		}
	}
	require.NotNil(t, call)
	require.Equal(t, &cadence.Escalation{After: cadence.Of(1, cadence.BusinessDays),
		Title: "Proposal call with {{.Contact.FirstName}} is overdue: call today or reschedule"}, call.Escalate)
	require.Equal(t, "todo", call.Escalate.Task(*call).Kind)
}
