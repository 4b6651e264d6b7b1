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
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zone checks must not depend on the machine's zoneinfo (scratch images have none)

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
)

// TemplateDir is where a cadence's templates live, relative to the cadence file.
const TemplateDir = "templates"

// Load reads the cadence file at path, and its templates from the templates directory
// beside it. A file over MaxFileBytes is refused after reading just over the bound.
func Load(path string) (cadence.Pipeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return cadence.Pipeline{}, err
	}
	defer f.Close()
	src, size, err := readAtMost(f, MaxFileBytes)
	if err != nil {
		return cadence.Pipeline{}, err
	}
	if len(src) > MaxFileBytes {
		l := &loader{filename: path}
		l.addOverRaw(path, src, size, MaxFileBytes, "a cadence file", "")
		return cadence.Pipeline{}, &Error{Problems: l.problems}
	}
	return Parse(path, src, os.DirFS(filepath.Dir(path)))
}

// Parse reads a cadence from src. filename names it in problems; fsys is the directory that
// holds the file, from which templates/<name>.* are read (nil: a directory without
// templates). The error, if any, is an *Error listing every problem found.
func Parse(filename string, src []byte, fsys fs.FS) (cadence.Pipeline, error) {
	l := &loader{filename: filename, src: src, fsys: fsys}
	var p cadence.Pipeline
	switch {
	case len(src) > MaxFileBytes:
		l.addOverRaw(filename, src, int64(len(src)), MaxFileBytes, "a cadence file", "")
	case l.scan():
		p = l.load()
	}
	if len(l.problems) > 0 {
		sortProblems(l.problems, filename)
		return cadence.Pipeline{}, &Error{Problems: l.problems, Omitted: l.omitted}
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
	omitted  int             // problems past MaxProblems
	reported map[string]bool // YAML paths with a problem, so the model's checks do not repeat it
	// templateRefs is, per template, the YAML path of the first step that names it.
	templateRefs map[string]string
}

// load decodes the file, which scan has let through, and checks it.
func (l *loader) load() cadence.Pipeline {
	var f fileCadence
	strict := []yaml.DecodeOption{yaml.DisallowUnknownField()}
	var file *ast.File
	err := guard(func() (err error) {
		file, err = parser.ParseBytes(l.src, 0)
		return err
	})
	if errors.Is(err, errReaderPanic) {
		l.add(l.filename, l.src, 1, 1, err.Error())
		return cadence.Pipeline{}
	}
	if err == nil {
		// Every unknown key at once; the decoder then reads the rest without stopping at them.
		if keys := unknownKeys(file); len(keys) > 0 {
			for _, tk := range keys {
				if l.full() {
					l.omitted++
					continue
				}
				l.add(l.filename, l.src, tk.Position.Line, tk.Position.Column, unknownKeyMessage(tk.Value))
			}
			strict = nil
		}
	}
	if err := guard(func() error { return yaml.UnmarshalWithOptions(l.src, &f, strict...) }); err != nil {
		// The decoder stops at its first error; nothing after it can be trusted.
		line, col, msg := decodeProblem(err)
		l.add(l.filename, l.src, line, col, msg)
		return cadence.Pipeline{}
	}
	if err == nil {
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
	l.checkVersionSize(p)
	return p
}

// add records a problem at a position of a file whose source is src.
// Past MaxProblems, problems are counted, not placed: each costs time in the file's size,
// and nobody reads the thousandth.
func (l *loader) add(file string, src []byte, line, col int, msg string) {
	if l.full() {
		l.omitted++
		return
	}
	l.problems = append(l.problems, Problem{File: file, Line: line, Col: col, Message: msg, Excerpt: excerpt(src, line, col)})
}

// full reports whether the load has found MaxProblems problems, so that the next ones are
// only counted (and need not be worded).
func (l *loader) full() bool { return len(l.problems) >= MaxProblems }

// addAt records a problem at a YAML path of the cadence file.
func (l *loader) addAt(path, format string, args ...any) {
	l.cover(path)
	if l.full() {
		l.omitted++
		return
	}
	line, col := l.loc.locate(path)
	l.add(l.filename, l.src, line, col, fmt.Sprintf(format, args...))
}

func stagePath(i int) string          { return fmt.Sprintf("$.stages[%d]", i) }
func stepPath(i, j int) string        { return fmt.Sprintf("$.stages[%d].steps[%d]", i, j) }
func rulePath(i int, r string) string { return fmt.Sprintf("$.stages[%d].%s", i, r) }

// cover marks a YAML path as reported, so the model's checks add nothing there: addAt does
// it with its message; alone, it covers a path where a problem reported elsewhere already
// explains what the model's checks would say.
func (l *loader) cover(path string) {
	if l.reported == nil {
		l.reported = map[string]bool{}
	}
	l.reported[path] = true
}

func (l *loader) pipeline(f fileCadence) cadence.Pipeline {
	p := cadence.Pipeline{ID: f.Pipeline, Initial: f.Initial, Calendar: l.calendar(f.Calendar), Sender: l.sender(f.Sender), Exits: l.exits(f.Exits)}
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
		ID:          s.ID,
		Terminal:    s.Terminal,
		Probability: s.Probability,
		TimeLimit:   l.duration(stagePath(i)+".time_limit", s.TimeLimit, cadence.Duration{}),
	}
	for j, fs := range s.Steps {
		if step, ok := l.step(stepPath(i, j), fs); ok {
			st.Steps = append(st.Steps, step)
		}
	}
	if r := s.OnStale; r != nil {
		path := rulePath(i, "on_stale")
		if r.Move != nil {
			st.OnStale = &cadence.Move{MoveTo: r.Move.MoveTo, Reason: r.Move.Reason, Task: l.task(path+".task", r.Move.Task)}
		} else {
			l.ladder(i, s, &st)
		}
	}
	if r := s.OnExhausted; r != nil {
		path := rulePath(i, "on_exhausted")
		st.OnExhausted = &cadence.Move{MoveTo: r.MoveTo, Reason: r.Reason, Task: l.task(path+".task", r.Task),
			After: l.duration(path+".after", r.After, cadence.Duration{})}
	}
	if e := s.OnEngaged; e != nil {
		st.OnEngaged = l.onEngaged(i, s, e)
	}
	return st
}

func rungPath(i, k int) string { return fmt.Sprintf("$.stages[%d].on_stale[%d]", i, k) }

// ladder converts an on_stale ladder: warning rungs below 100% become the stage's
// StaleTasks, the rung at 100% its OnStale move. A rung that is out of place (a bad or
// repeated share, out of order, after the move, a warning without a task) is reported and
// left out of the model, so the model's checks do not report it again in other words.
func (l *loader) ladder(i int, s fileStage, st *cadence.Stage) {
	path := rulePath(i, "on_stale")
	rungs := s.OnStale.Ladder
	if len(rungs) > 0 && strings.TrimSpace(string(s.TimeLimit)) == "" {
		// The model says it twice (the rungs, the move); once, at the ladder, says it all.
		l.addAt(rungPath(i, 0)+".at", "on_stale: stage %q has no time_limit, so no rung of its on_stale ladder can ever fire (add time_limit: <duration>; the rungs are shares of it)", s.ID)
	}
	prev, move, unsure := 0, -1, false
	for k, r := range rungs {
		rp := rungPath(i, k)
		at, ok := l.percent(rp, r.At)
		if !ok {
			unsure = unsure || r.MoveTo != "" // the move, with its share mistyped
			continue
		}
		switch {
		case move >= 0 && at == 100:
			l.addAt(rp+".at", "on_stale: a second rung at 100%% (the ladder has one move, at 100%%, and it is the last rung)")
			continue
		case move >= 0:
			l.addAt(rp+".at", "on_stale at %d%%: this rung comes after the move at 100%%, which ends the stage visit (rungs go in ascending order, the move last)", at)
			continue
		case at == prev:
			l.addAt(rp+".at", "on_stale: a second rung at %d%% (each rung is at a different share of the time limit)", at)
			continue
		case at < prev:
			l.addAt(rp+".at", "on_stale at %d%% comes after the rung at %d%% (rungs go in ascending order)", at, prev)
			continue
		}
		prev = at
		if at == 100 {
			move = k
			if r.MoveTo == "" {
				needs := "move_to: <stage>"
				if strings.TrimSpace(r.Reason) == "" {
					needs += " and reason:"
					l.cover(rp + ".reason")
				}
				l.addAt(rp+".move_to", "on_stale at 100%%: the rung at 100%% moves the deal when the time limit passes: it needs %s (a task alone goes on a rung below 100%%)", needs)
			}
			st.OnStale = &cadence.Move{MoveTo: r.MoveTo, Reason: r.Reason, Task: l.task(rp+".task", r.Task)}
			continue
		}
		misplaced := true // a move written below 100%: saying so says what to fix
		switch {
		case r.MoveTo != "":
			l.addAt(rp+".move_to", "on_stale at %d%%: only the rung at 100%% moves the deal; a rung below it gives the owner a task (put move_to and reason on the rung at 100%%)", at)
		case r.Reason != "":
			l.addAt(rp+".reason", "on_stale at %d%%: only the move at 100%% has a reason; a rung below it gives the owner a task", at)
		default:
			misplaced = false
		}
		if r.Task == nil {
			if !misplaced {
				l.addAt(rp, "on_stale at %d%%: a warning rung needs task: {kind, title, due_in}, the owner's task at %d%% of the time limit", at, at)
			}
			continue
		}
		st.StaleTasks = append(st.StaleTasks, cadence.StaleTask{At: at, Task: *l.task(rp+".task", r.Task)})
	}
	if move < 0 {
		if !unsure {
			l.addAt(path, "on_stale: the ladder has no rung at 100%%: end it with the move when the time limit passes (- at: 100%%, move_to: <stage>, reason: ...)")
		}
		// The model would add that the time_limit has no on_stale rule; there is one.
		l.cover(stagePath(i) + ".time_limit")
	}
}

var percentPattern = regexp.MustCompile(`^\s*([0-9]+)\s*%?\s*$`)

// parsePercent reads a share written as a whole number with an optional %, "80%" or "80";
// false when it is not one. A number too large for an int reads as the largest int.
func parsePercent(text percentText) (int, bool) {
	m := percentPattern.FindStringSubmatch(string(text))
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1]) // only digits: the one error is a range error, with n clamped
	return n, true
}

// percent reads a rung's at; a missing, malformed or out-of-range share is reported.
func (l *loader) percent(rungPath string, text percentText) (int, bool) {
	if strings.TrimSpace(string(text)) == "" {
		l.addAt(rungPath+".at", "on_stale: a rung needs at: <share of the time limit>, e.g. at: 80%%")
		return 0, false
	}
	n, ok := parsePercent(text)
	if !ok {
		l.addAt(rungPath+".at", "at: want a whole share of the time limit like \"80%%\", got %q", string(text))
		return 0, false
	}
	if n < 1 || n > 100 {
		l.addAt(rungPath+".at", "at: %s is out of range: a warning rung is at 1%% to 99%% of the time limit, the move at 100%%", strings.TrimSpace(string(text)))
		return 0, false
	}
	return n, true
}

// reEngagers are the engagements on_engaged takes, in the order messages name them: the
// model's default list, which is all of them.
var reEngagers = func() []string {
	names := make([]string, len(cadence.DefaultEngagedOn))
	for i, e := range cadence.DefaultEngagedOn {
		names[i] = string(e)
	}
	return names
}()

// wantEngagers names them in prose: "reply, meeting_booked or click".
var wantEngagers = strings.Join(reEngagers[:len(reEngagers)-1], ", ") + " or " + reEngagers[len(reEngagers)-1]

// onEngaged converts a stage's on_engaged. Engagements it cannot take are reported and left
// out of the model.
func (l *loader) onEngaged(i int, s fileStage, e *fileOnEngaged) *cadence.OnEngaged {
	path := rulePath(i, "on_engaged")
	if s.Terminal {
		l.addAt(path, "on_engaged: %q is a terminal stage, and a closed deal cannot be re-engaged (take on_engaged out; a rep brings a closed deal back with starter deal reopen)", s.ID)
	}
	out := &cadence.OnEngaged{MoveTo: e.MoveTo, Reason: e.Reason, Task: l.task(path+".task", e.Task)}
	seen := map[cadence.Engagement]bool{}
	for k, text := range e.On {
		kp := fmt.Sprintf("%s.on[%d]", path, k)
		eng := cadence.Engagement(strings.TrimSpace(string(text)))
		switch {
		case slices.Contains(reEngagers, string(eng)) && seen[eng]:
			l.addAt(kp, "on_engaged: %s is listed twice", eng)
		case slices.Contains(reEngagers, string(eng)):
			seen[eng] = true
			out.On = append(out.On, eng)
		case eng.Valid():
			l.addAt(kp, "on_engaged: %s cannot re-engage a deal (want %s)%s", eng, wantEngagers, exitsHint(eng))
		default:
			msg := fmt.Sprintf("on_engaged: unknown engagement %q", string(text))
			if near := closest(string(eng), reEngagers); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			} else {
				msg += fmt.Sprintf(" (want %s)", wantEngagers)
			}
			l.addAt(kp, "%s", msg)
		}
	}
	return out
}

func exitsHint(e cadence.Engagement) string {
	switch e {
	case cadence.EngagedBounce, cadence.EngagedUnsubscribe:
		return fmt.Sprintf(": what a %s does is fixed, and exits: %s sets the owner's task", e, e)
	}
	return ""
}

// exits converts the pipeline's exit rules.
// sender checks the pipeline's sender addresses: each must parse as one address, so that no
// email of the pipeline fails at send time for it.
func (l *loader) sender(f *fileSender) *cadence.Sender {
	if f == nil {
		return nil
	}
	ok := true
	for _, a := range []struct{ key, value string }{{"from", f.From}, {"reply_to", f.ReplyTo}} {
		if a.value == "" {
			continue
		}
		if err := cadence.CheckAddress(a.value); err != nil {
			l.addAt("$.sender."+a.key, "sender.%s: %v", a.key, err)
			ok = false
		}
	}
	if f.From == "" && f.ReplyTo == "" {
		l.addAt("$.sender", "sender: set from, reply_to or both (leave sender out to use the owner's identity)")
		ok = false
	}
	if !ok {
		return nil
	}
	return &cadence.Sender{From: f.From, ReplyTo: f.ReplyTo}
}

func (l *loader) exits(e *fileExits) *cadence.Exits {
	if e == nil {
		return nil
	}
	rule := func(name string, kind cadence.Engagement, r *fileExitRule) *cadence.ExitRule {
		if r == nil {
			return nil
		}
		path := "$.exits." + name
		if r.Task == nil {
			otherwise := "no task"
			if _, ok := cadence.DefaultExitTasks[kind]; ok {
				otherwise = "the default task"
			}
			l.addAt(path, "exits.%s: an exit rule needs task: {kind, title, due_in}, the owner's task when it happens (leave %s out for %s)", name, name, otherwise)
			return nil
		}
		return &cadence.ExitRule{Task: l.task(path+".task", r.Task)}
	}
	return &cadence.Exits{
		Reply:         rule("reply", cadence.EngagedReply, e.Reply),
		MeetingBooked: rule("meeting_booked", cadence.EngagedMeetingBooked, e.MeetingBooked),
		Bounce:        rule("bounce", cadence.EngagedBounce, e.Bounce),
		Unsubscribe:   rule("unsubscribe", cadence.EngagedUnsubscribe, e.Unsubscribe),
	}
}

// step converts one step. A step that is not one clear email, task or wait is reported and
// left out of the model, so the model's checks do not report it again in other words.
func (l *loader) step(path string, s fileStep) (cadence.Step, bool) {
	st := cadence.Step{ID: s.ID, After: l.duration(path+".after", s.After, cadence.Zero)}
	if s.Times != nil {
		switch {
		case *s.Times < 1:
			l.addAt(path+".times", "times: want 1 or more, got %d", *s.Times)
		case *s.Times > MaxTimes:
			l.addAt(path+".times", "times: want at most %d, got %d", MaxTimes, *s.Times)
		case *s.Times > 1:
			st.Times = *s.Times
		}
	}
	var shapes []string
	for _, k := range []struct {
		key string
		set bool
	}{{"email", s.Email != ""}, {"task", s.Task != nil}, {"wait", s.Wait != ""}} {
		if k.set {
			shapes = append(shapes, k.key)
		}
	}
	if len(shapes) > 1 {
		l.addAt(path+"."+shapes[1], "a step is one of email:, task: or wait:, not both %s: and %s:", shapes[0], shapes[1])
		return st, false
	}
	if s.Blocking && s.Task == nil && len(shapes) == 1 {
		what := "a wait step"
		if shapes[0] == "email" {
			what = "an email step"
		}
		l.addAt(path+".blocking", "blocking: only a task step blocks (later steps wait until the owner completes or skips it); %s never does", what)
	}
	if s.Thread && s.Email == "" && len(shapes) == 1 {
		l.addAt(path+".thread", "thread: only an email step threads (it replies to the deal's last sent email); a %s step sends nothing", shapes[0])
	}
	switch {
	case s.Email != "":
		st.Kind, st.Template, st.Thread = cadence.StepEmail, s.Email, s.Thread
		if st.ID == "" {
			if !namePattern.MatchString(s.Email) {
				return st, false // reported with the template, and the id would repeat it
			}
			st.ID = s.Email
		}
	case s.Task != nil:
		st.Kind, st.Task, st.Blocking = cadence.StepTask, l.task(path+".task", s.Task), s.Blocking
		if st.ID == "" {
			// A title is prose; ids must stay put across versions so deals can migrate.
			l.addAt(path, "a task step needs an id (only email steps default to their template name)")
			return st, false
		}
	case s.Wait != "":
		return l.wait(path, s, st)
	default:
		l.addAt(path, "a step needs email: <template>, task: {kind, title, due_in} or wait: <duration>")
		return st, false
	}
	return st, true
}

// wait converts a wait step: its duration is its wait, which it waits once.
func (l *loader) wait(path string, s fileStep, st cadence.Step) (cadence.Step, bool) {
	if !st.After.IsZero() {
		l.addAt(path+".after", "after: a wait step waits for its wait: only (drop after:, or add it to the wait)")
	}
	st.Kind = cadence.StepWait
	st.After = l.duration(path+".wait", s.Wait, cadence.Zero)
	if _, err := cadence.ParseDuration(string(s.Wait)); err == nil && st.After.IsZero() {
		l.addAt(path+".wait", "wait: %s waits for nothing: give a duration like \"5 business days\" (or drop the step)", strings.TrimSpace(string(s.Wait)))
	}
	if st.Times > 1 {
		l.addAt(path+".times", "times: a wait step does not repeat (drop times:, or wait longer)")
	}
	if st.ID == "" {
		l.addAt(path, "a wait step needs an id (only email steps default to their template name)")
		return st, false
	}
	return st, true
}

func (l *loader) task(path string, t *fileTask) *cadence.TaskSpec {
	if t == nil {
		return nil
	}
	l.checkTitle(path+".title", t.Title)
	spec := &cadence.TaskSpec{Kind: t.Kind, Title: t.Title, DueIn: l.duration(path+".due_in", t.DueIn, cadence.Duration{})}
	if e := t.Escalate; e != nil {
		ep := path + ".escalate"
		before := len(l.problems)
		after := l.duration(ep+".after", e.After, cadence.Duration{})
		switch {
		case strings.TrimSpace(string(e.After)) == "":
			l.addAt(ep+".after", "escalate: needs after: how long past the due date, like \"1 business day\"")
		case after.IsZero() && len(l.problems) == before:
			l.addAt(ep+".after", "escalate after 0: the task would escalate the moment it falls due; give a duration like \"1 business day\"")
		}
		if e.Title != "" {
			l.checkTitle(ep+".title", e.Title)
		}
		spec.Escalate = &cadence.Escalation{After: after, Title: e.Title, Kind: e.Kind}
	}
	return spec
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
		if !calendar.Known(code) && l.full() {
			l.omitted++
		} else if !calendar.Known(code) {
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
