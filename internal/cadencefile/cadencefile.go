// Package cadencefile reads cadence files: YAML pipelines that sales ops write, with their
// email templates beside them, into the cadence model.
//
// Loading checks everything that can be known without a deal: the YAML itself (syntax, keys,
// types), durations, calendars and their windows, stage references, template files and that
// they render with sample data, steps that can never run, and the model's own rules
// (cadence.Pipeline.Validate). Every problem is reported at once, as file:line:col with an
// excerpt of the source and a caret, in an *Error.
package cadencefile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zone checks must not depend on the machine's zoneinfo (scratch images have none)

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
)

// TemplateDir is where a cadence's templates live, relative to the cadence file.
const TemplateDir = "templates"

// Load reads the cadence file at path, and its templates from the templates directory
// beside it.
func Load(path string) (cadence.Pipeline, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return cadence.Pipeline{}, err
	}
	return Parse(path, src, os.DirFS(filepath.Dir(path)))
}

// Parse reads a cadence from src. filename names it in problems; fsys is the directory that
// holds the file, from which templates/<name>.* are read (nil: a directory without
// templates). The error, if any, is an *Error listing every problem found.
func Parse(filename string, src []byte, fsys fs.FS) (cadence.Pipeline, error) {
	l := &loader{filename: filename, src: src, fsys: fsys}
	p := l.load()
	if len(l.problems) > 0 {
		sortProblems(l.problems, filename)
		return cadence.Pipeline{}, &Error{Problems: l.problems}
	}
	return p, nil
}

// loader carries one load: the source, where templates come from, and the problems found.
type loader struct {
	filename string
	src      []byte
	fsys     fs.FS
	loc      locator
	problems []Problem
	reported map[string]bool // YAML paths with a problem, so the model's checks do not repeat it
}

func (l *loader) load() cadence.Pipeline {
	var f fileCadence
	if err := yaml.UnmarshalWithOptions(l.src, &f, yaml.DisallowUnknownField()); err != nil {
		// The decoder stops at its first error; nothing after it can be trusted.
		line, col, msg := decodeProblem(err)
		l.add(l.filename, l.src, line, col, msg)
		return cadence.Pipeline{}
	}
	if file, err := parser.ParseBytes(l.src, 0); err == nil {
		l.loc = locator{file: file}
	}
	if l.loc.empty() {
		l.add(l.filename, l.src, 1, 1, "the file is empty: a cadence needs at least pipeline: and stages:")
		return cadence.Pipeline{}
	}
	p := l.pipeline(f)
	p.Templates = l.templates(f)
	l.checkNeverRun(p, f)
	l.checkModel(p, f)
	return p
}

// add records a problem at a position of a file whose source is src.
func (l *loader) add(file string, src []byte, line, col int, msg string) {
	l.problems = append(l.problems, Problem{File: file, Line: line, Col: col, Message: msg, Excerpt: excerpt(src, line, col)})
}

// addAt records a problem at a YAML path of the cadence file.
func (l *loader) addAt(path, format string, args ...any) {
	if l.reported == nil {
		l.reported = map[string]bool{}
	}
	l.reported[path] = true
	line, col := l.loc.locate(path)
	l.add(l.filename, l.src, line, col, fmt.Sprintf(format, args...))
}

func stagePath(i int) string          { return fmt.Sprintf("$.stages[%d]", i) }
func stepPath(i, j int) string        { return fmt.Sprintf("$.stages[%d].steps[%d]", i, j) }
func rulePath(i int, r string) string { return fmt.Sprintf("$.stages[%d].%s", i, r) }

func (l *loader) pipeline(f fileCadence) cadence.Pipeline {
	p := cadence.Pipeline{ID: f.Pipeline, Initial: f.Initial, Calendar: l.calendar(f.Calendar)}
	if p.Initial == "" && len(f.Stages) > 0 {
		p.Initial = f.Stages[0].ID
	}
	for i, s := range f.Stages {
		p.Stages = append(p.Stages, l.stage(i, s))
	}
	return p
}

func (l *loader) stage(i int, s fileStage) cadence.Stage {
	st := cadence.Stage{
		ID:        s.ID,
		Terminal:  s.Terminal,
		TimeLimit: l.duration(stagePath(i)+".time_limit", s.TimeLimit, cadence.Duration{}),
	}
	for j, fs := range s.Steps {
		if step, ok := l.step(stepPath(i, j), fs); ok {
			st.Steps = append(st.Steps, step)
		}
	}
	if r := s.OnStale; r != nil {
		path := rulePath(i, "on_stale")
		st.OnStale = &cadence.Move{MoveTo: r.MoveTo, Reason: r.Reason, Task: l.task(path+".task", r.Task)}
	}
	if r := s.OnExhausted; r != nil {
		path := rulePath(i, "on_exhausted")
		st.OnExhausted = &cadence.Move{MoveTo: r.MoveTo, Reason: r.Reason, Task: l.task(path+".task", r.Task),
			After: l.duration(path+".after", r.After, cadence.Duration{})}
	}
	return st
}

// step converts one step. A step that is not one clear email or task is reported and left
// out of the model, so the model's checks do not report it again in other words.
func (l *loader) step(path string, s fileStep) (cadence.Step, bool) {
	st := cadence.Step{ID: s.ID, After: l.duration(path+".after", s.After, cadence.Zero)}
	if s.Times != nil {
		if *s.Times < 1 {
			l.addAt(path+".times", "times: want 1 or more, got %d", *s.Times)
		} else if *s.Times > 1 {
			st.Times = *s.Times
		}
	}
	switch {
	case s.Email != "" && s.Task != nil:
		l.addAt(path+".task", "a step is either email: or task:, not both")
		return st, false
	case s.Email != "":
		st.Kind, st.Template = cadence.StepEmail, s.Email
		if st.ID == "" {
			if !namePattern.MatchString(s.Email) {
				return st, false // reported with the template, and the id would repeat it
			}
			st.ID = s.Email
		}
	case s.Task != nil:
		st.Kind, st.Task = cadence.StepTask, l.task(path+".task", s.Task)
		if st.ID == "" {
			// A title is prose; ids must stay put across versions so deals can migrate.
			l.addAt(path, "a task step needs an id (only email steps default to their template name)")
			return st, false
		}
	default:
		l.addAt(path, "a step needs email: <template> or task: {kind, title, due_in}")
		return st, false
	}
	return st, true
}

func (l *loader) task(path string, t *fileTask) *cadence.TaskSpec {
	if t == nil {
		return nil
	}
	l.checkTitle(path+".title", t.Title)
	return &cadence.TaskSpec{Kind: t.Kind, Title: t.Title, DueIn: l.duration(path+".due_in", t.DueIn, cadence.Duration{})}
}

// duration parses the duration at path; absent or zero gives def, the model's spelling of
// "none" at that place, so equal files give equal models (and hashes). A bad duration is
// reported and read as def, so it is reported once.
func (l *loader) duration(path string, text durationText, def cadence.Duration) cadence.Duration {
	if strings.TrimSpace(string(text)) == "" {
		return def
	}
	d, err := cadence.ParseDuration(string(text))
	if err != nil {
		if unit, meant, ok := nearUnit(string(text)); ok {
			l.addAt(path, "duration %q: unknown unit %q (did you mean %q?)", string(text), unit, meant)
		} else {
			l.addAt(path, "%v", err)
		}
		return def
	}
	if d.IsZero() {
		return def
	}
	return d
}

var units = []string{"second", "seconds", "minute", "minutes", "hour", "hours", "day", "days",
	"business hour", "business hours", "business day", "business days"}

// nearUnit finds the duration a bad one probably meant ("3 busines days").
func nearUnit(text string) (unit, meant string, ok bool) {
	fields := strings.Fields(strings.ToLower(text))
	if len(fields) < 2 {
		return "", "", false
	}
	unit = strings.Join(fields[1:], " ")
	near := closest(unit, units)
	if near == "" || near == unit {
		return "", "", false
	}
	return unit, fields[0] + " " + near, true
}

// namePattern is the model's id rule; template names follow it too, as they name files.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// calendar converts the calendar block and checks it with the calendar package, the one
// that will run it, so a file is refused exactly when its calendar could not be built.
func (l *loader) calendar(c *fileCalendar) *cadence.CalendarSpec {
	if c == nil {
		return nil
	}
	spec := &cadence.CalendarSpec{
		Zone:          strings.TrimSpace(c.Zone),
		BusinessHours: strings.TrimSpace(string(c.BusinessHours)),
		EmailWindow:   strings.TrimSpace(string(c.EmailWindow)),
	}
	before := len(l.problems)
	if spec.Zone != "" {
		// "Local" would mean the worker's zone, which differs between machines.
		if _, err := time.LoadLocation(spec.Zone); err != nil || spec.Zone == "Local" {
			l.addAt("$.calendar.zone", "unknown time zone %q (want an IANA name like Europe/Berlin)", spec.Zone)
		}
	}
	for i, h := range c.Holidays {
		code := strings.ToLower(strings.TrimSpace(h))
		spec.Holidays = append(spec.Holidays, code)
		if !calendar.Known(code) {
			l.addAt(fmt.Sprintf("$.calendar.holidays[%d]", i), "%s", unknownHolidays(h))
		}
	}
	if spec.BusinessHours != "" {
		if _, err := calendar.ParseHours(spec.BusinessHours); err != nil {
			l.addAt("$.calendar.business_hours", "%v", err)
		}
	}
	if spec.EmailWindow != "" {
		if _, err := calendar.ParseWindow(spec.EmailWindow); err != nil {
			l.addAt("$.calendar.email_window", "%v", err)
		}
	}
	if len(l.problems) == before {
		// What only the whole calendar can tell: an email window that never opens.
		if _, err := calendar.New(calendar.SpecOf(*spec)); err != nil {
			where := "$.calendar"
			if spec.EmailWindow != "" {
				where = "$.calendar.email_window"
			}
			l.addAt(where, "%v", err)
		}
	}
	return spec
}

// unknownHolidays lists the countries there are: codes are two letters, so a "did you
// mean" would guess a wrong country for almost any typo.
func unknownHolidays(code string) string {
	national := slices.DeleteFunc(calendar.Countries(), func(c string) bool { return strings.Contains(c, "-") })
	return fmt.Sprintf("holidays: unknown country code %q (want a country: %s; or a region such as de-by)", code, strings.Join(national, ", "))
}
