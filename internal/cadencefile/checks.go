package cadencefile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/followup-engine/followup/internal/cadence"
)

// checkNeverRun reports, per stage, the first step (or on_exhausted) planned after the
// stage's time limit. Such a step can never run: a step's after counts from the previous
// step's actual time, which is never earlier than planned (a blocking task only pushes the
// later steps further), and at the limit on_stale moves the deal to another stage. At the
// very instant of the limit a step still runs first (the planner orders steps before rules),
// so only a strictly later one is reported. A wait that ends after the limit is reported the
// same way: the steps after it never run.
func (l *loader) checkNeverRun(p cadence.Pipeline, f fileCadence) {
	for i, s := range f.Stages {
		if st := p.Stages[i]; st.OnStale != nil && !st.TimeLimit.IsZero() {
			l.checkStageNeverRun(i, s, st)
		}
	}
}

func (l *loader) checkStageNeverRun(i int, s fileStage, st cadence.Stage) {
	limit := measureOf(st.TimeLimit)
	var at measure
	earliest := "" // after a blocking task, later steps also wait for the owner
	for j, fs := range s.Steps {
		after := stepAfter(fs)
		for occ := 1; occ <= occurrences(fs); occ++ {
			if at = at.add(after); !at.exceeds(limit) {
				continue
			}
			what, verb, key := fmt.Sprintf("step %q can never run", stepID(fs)), "comes", ".after"
			switch {
			case isWait(fs):
				what, verb, key = fmt.Sprintf("wait %q never ends", stepID(fs)), "ends", ".wait"
			case occ > 1:
				what = fmt.Sprintf("occurrence %d of step %q can never run", occ, stepID(fs))
			}
			l.addAt(stepPath(i, j)+key, "%s: it %s%s %s after stage entry, but at the time_limit of %s on_stale moves the deal to %q%s",
				what, verb, earliest, at.format(st.TimeLimit.Unit), st.TimeLimit, st.OnStale.MoveTo, laterSteps(s.Steps[j+1:]))
			return
		}
		if fs.Blocking && fs.Task != nil {
			earliest = " at the earliest"
		}
	}
	if st.OnExhausted != nil && len(st.Steps) > 0 {
		if at = at.add(st.OnExhausted.After); at.exceeds(limit) {
			l.addAt(rulePath(i, "on_exhausted")+".after", "on_exhausted can never fire: it comes%s %s after stage entry, but at the time_limit of %s on_stale moves the deal to %q",
				earliest, at.format(st.TimeLimit.Unit), st.TimeLimit, st.OnStale.MoveTo)
		}
	}
}

func isWait(fs fileStep) bool { return fs.Wait != "" && fs.Email == "" && fs.Task == nil }

// stepAfter is the step's delay, a wait step's wait; a bad one counts as zero, as it is
// reported already.
func stepAfter(fs fileStep) cadence.Duration {
	text := fs.After
	if isWait(fs) {
		text = fs.Wait
	}
	d, err := cadence.ParseDuration(string(text))
	if err != nil {
		return cadence.Zero
	}
	return d
}

func stepID(fs fileStep) string {
	if fs.ID != "" {
		return fs.ID
	}
	return fs.Email
}

// occurrences is the step's times; one over MaxTimes, reported, counts as MaxTimes, so the
// checks take time that follows the file's size.
func occurrences(fs fileStep) int {
	if fs.Times == nil || *fs.Times < 1 {
		return 1
	}
	return min(*fs.Times, MaxTimes)
}

func laterSteps(rest []fileStep) string {
	switch len(rest) {
	case 0:
		return ""
	case 1:
		return " (nor can the step after it)"
	default:
		return fmt.Sprintf(" (nor can the %d steps after it)", len(rest))
	}
}

// measure is a sum of durations that can be compared with a time limit without a calendar:
// seconds, minutes and hours add up exactly; days, business hours and business days only
// with themselves (a day may have 23 hours, and a business day's length depends on the
// calendar). A sum mixing kinds is not comparable and never reported.
type measure struct {
	kind   string // "" while every part was zero
	amount int    // in the kind's base unit (seconds for clock time)
	mixed  bool
}

func measureOf(d cadence.Duration) measure { return measure{}.add(d) }

func unitKind(u cadence.Unit) (kind string, factor int) {
	switch u {
	case cadence.Seconds:
		return "clock", 1
	case cadence.Minutes:
		return "clock", 60
	case cadence.Hours:
		return "clock", 3600
	default:
		return string(u), 1
	}
}

func (m measure) add(d cadence.Duration) measure {
	if d.IsZero() {
		return m
	}
	kind, factor := unitKind(d.Unit)
	if m.kind != "" && m.kind != kind {
		m.mixed = true
	}
	m.kind = kind
	m.amount += d.Amount * factor
	return m
}

func (m measure) exceeds(limit measure) bool {
	return !m.mixed && !limit.mixed && m.kind == limit.kind && m.amount > limit.amount
}

// format writes the sum in the limit's unit when it divides evenly, so it reads like the file.
func (m measure) format(u cadence.Unit) string {
	_, factor := unitKind(u)
	if m.amount%factor == 0 {
		return cadence.Of(m.amount/factor, u).String()
	}
	return cadence.Of(m.amount, cadence.Seconds).String()
}

// checkModel runs the model's own checks, cadence.Pipeline.Validate, so a file is held to
// exactly the rules of built-in pipelines, and places each of its messages in the file.
func (l *loader) checkModel(p cadence.Pipeline, f fileCadence) {
	err := p.Validate()
	if err == nil {
		return
	}
	for _, msg := range validateMessages(err.Error()) {
		// With no stages the pipeline has no default initial stage either; say it once.
		if f.Initial == "" && len(f.Stages) == 0 && strings.HasPrefix(msg, "initial stage ") {
			continue
		}
		if l.full() {
			// Past MaxProblems the messages are only counted: their hints, which weigh
			// every stage name, go unwritten.
			p = cadence.Pipeline{}
		}
		path, hint := modelPath(msg, p, f)
		if l.reported[path] {
			continue // the file-level problem there says it better (a bad duration, a template)
		}
		// A stage without an id, reported as such, is named "" in the model's messages:
		// they are placed at that stage and drop the name.
		msg = strings.TrimPrefix(msg, `stage "" `)
		if strings.Contains(path, ".on_stale[") {
			// In a ladder the model's on_stale move is the rung at 100%: say so.
			msg = ladderMoveMsg.ReplaceAllString(msg, "$1 at 100%$2")
		}
		l.addAt(path, "%s%s", msg, hint)
	}
}

// validateMessages splits Validate's "pipeline "x" is invalid:\n  - a\n  - b".
func validateMessages(s string) []string {
	_, list, ok := strings.Cut(s, "\n  - ")
	if !ok {
		return []string{s}
	}
	return strings.Split(list, "\n  - ")
}

var (
	stageMsg      = regexp.MustCompile(`^stage "([^"]*)"`)
	stageIDMsg    = regexp.MustCompile(`^stage id "([^"]*)"`)
	stepMsg       = regexp.MustCompile(`^stage "([^"]*)" step "([^"]*)"(.*)$`)
	stepTaskMsg   = regexp.MustCompile(`^stage "([^"]*)" step ([^ :"]+)(.*)$`) // checkTask leaves the step id unquoted
	ruleMsg       = regexp.MustCompile(`^stage "([^"]*)" (on_stale|on_exhausted|on_engaged)(.*)$`)
	rungMsg       = regexp.MustCompile(`^ at ([0-9]+)%(.*)$`)
	ladderMoveMsg = regexp.MustCompile(`^(stage "[^"]*" on_stale)(:| due_in)`)
	exitMsg       = regexp.MustCompile(`^exits\.([a-z_]+)(.*)$`)
	unknownStage  = regexp.MustCompile(`move_to "([^"]*)" names no stage`)
)

// modelPath finds where in the file a Validate message belongs, and a hint to add to it.
// Messages it does not know land on their stage, or on the top of the file.
func modelPath(msg string, p cadence.Pipeline, f fileCadence) (path, hint string) {
	switch {
	case strings.HasPrefix(msg, "pipeline id "):
		return "$.pipeline", ""
	case strings.HasPrefix(msg, "pipeline ") && strings.HasSuffix(msg, "has no stages"):
		return "$.stages", ""
	case strings.HasPrefix(msg, "initial stage "):
		return "$.initial", ""
	}
	if m := exitMsg.FindStringSubmatch(msg); m != nil {
		return "$.exits." + m[1] + ".task" + taskField(m[2]), ""
	}
	if m := stageIDMsg.FindStringSubmatch(msg); m != nil {
		return stageIndexPath(f, m[1], 1) + ".id", ""
	}
	if m := stepMsg.FindStringSubmatch(msg); m != nil {
		return stepMessagePath(f, m[1], m[2], m[3])
	}
	if m := stepTaskMsg.FindStringSubmatch(msg); m != nil {
		return stepIndexPath(f, m[1], m[2], 1) + ".task" + taskField(m[3]), ""
	}
	if m := ruleMsg.FindStringSubmatch(msg); m != nil {
		return ruleMessagePath(f, p, m[1], m[2], m[3])
	}
	if m := stageMsg.FindStringSubmatch(msg); m != nil {
		base := stageIndexPath(f, m[1], 1)
		switch {
		case strings.HasSuffix(msg, "is defined twice"):
			return stageIndexPath(f, m[1], 2) + ".id", ""
		case strings.Contains(msg, " probability:"):
			return base + ".probability", ""
		case strings.Contains(msg, " time_limit:"), strings.Contains(msg, "has a time_limit but no on_stale"):
			return base + ".time_limit", ""
		case strings.Contains(msg, "has on_stale but no time_limit"), strings.Contains(msg, "has on_stale rungs but no time_limit"):
			// A ladder in a stage without a time_limit is reported at its first rung; else
			// where the fix goes, where a bad time_limit is reported.
			if i, ok := stageIndex(f, m[1], 1); ok && isLadder(f.Stages[i]) && strings.TrimSpace(string(f.Stages[i].TimeLimit)) == "" {
				return rungPath(i, 0) + ".at", ""
			}
			return base + ".time_limit", ""
		case strings.Contains(msg, "has on_exhausted but no steps"):
			return base + ".on_exhausted", ""
		}
		return base, ""
	}
	return "$", ""
}

func stepMessagePath(f fileCadence, stage, step, rest string) (string, string) {
	switch {
	case strings.Contains(rest, "step id used twice"):
		path := stepIndexPath(f, stage, step, 2)
		if fs, ok := fileStepAt(f, stage, step, 2); ok && fs.ID == "" {
			return path + ".email", " (an email step's id defaults to its template name: give one of them an id)"
		}
		return path + ".id", ""
	case strings.HasPrefix(rest, ": step id"):
		return stepIndexPath(f, stage, step, 1) + ".id", ""
	case strings.Contains(rest, "template "):
		return stepIndexPath(f, stage, step, 1) + ".email", ""
	case strings.Contains(rest, "times "):
		return stepIndexPath(f, stage, step, 1) + ".times", ""
	case strings.HasPrefix(rest, " after:"):
		return stepIndexPath(f, stage, step, 1) + ".after", ""
	// The loader reports a wait step's bad wait and times itself; placing the model's
	// messages at those keys lets checkModel drop them as repeats.
	case strings.Contains(rest, "a wait step needs a duration"):
		return stepIndexPath(f, stage, step, 1) + ".wait", ""
	case strings.Contains(rest, "does not repeat"):
		return stepIndexPath(f, stage, step, 1) + ".times", ""
	}
	return stepIndexPath(f, stage, step, 1), ""
}

func ruleMessagePath(f fileCadence, p cadence.Pipeline, stage, rule, rest string) (string, string) {
	base := stageIndexPath(f, stage, 1) + "." + rule
	if i, ok := stageIndex(f, stage, 1); ok && rule == "on_stale" && isLadder(f.Stages[i]) {
		// A ladder: "on_stale at 80%: ..." is about that rung, "on_stale: ..." about the move.
		at := 100
		if m := rungMsg.FindStringSubmatch(rest); m != nil {
			at, _ = strconv.Atoi(m[1])
			rest = m[2]
		}
		if k, ok := rungIndex(f.Stages[i], at); ok {
			base = rungPath(i, k)
		}
	}
	switch {
	case strings.Contains(rest, "move_to"):
		hint := ""
		if m := unknownStage.FindStringSubmatch(rest); m != nil {
			hint = stageHint(m[1], p.StageIDs())
		}
		return base + ".move_to", hint
	case strings.Contains(rest, "reason"):
		return base + ".reason", ""
	case strings.Contains(rest, "task") || strings.HasPrefix(rest, " due_in"):
		return base + ".task" + taskField(rest), ""
	case strings.Contains(rest, "duration"):
		return base + ".after", ""
	}
	return base, ""
}

// taskField finds the task key a checkTask message is about.
func taskField(rest string) string {
	switch {
	case strings.Contains(rest, "escalate after"), strings.Contains(rest, "escalate: after"):
		return ".escalate.after"
	case strings.Contains(rest, "escalate: task kind"):
		return ".escalate.kind"
	case strings.Contains(rest, "escalate"):
		return ".escalate"
	case strings.Contains(rest, "title"):
		return ".title"
	case strings.Contains(rest, "task kind"):
		return ".kind"
	case strings.Contains(rest, "due_in"):
		return ".due_in"
	}
	return ""
}

func stageHint(name string, stages []string) string {
	if near := closest(name, stages); near != "" {
		return fmt.Sprintf(" (did you mean %q?)", near)
	}
	return fmt.Sprintf(" (the stages are %s)", strings.Join(stages, ", "))
}

// stageIndexPath is the path of the nth stage with the given id; the first stage with it
// when there are fewer, the stages list when there is none.
func stageIndexPath(f fileCadence, id string, nth int) string {
	i, ok := stageIndex(f, id, nth)
	if !ok {
		return "$.stages"
	}
	return stagePath(i)
}

func stageIndex(f fileCadence, id string, nth int) (int, bool) {
	found := -1
	for i, s := range f.Stages {
		if s.ID == id {
			found = i
			if nth--; nth == 0 {
				break
			}
		}
	}
	return found, found >= 0
}

func isLadder(s fileStage) bool { return s.OnStale != nil && s.OnStale.Move == nil }

// rungIndex finds the rung of a ladder that the model holds for a share: the first one at
// it, as the loader leaves later ones out.
func rungIndex(s fileStage, at int) (int, bool) {
	for k, r := range s.OnStale.Ladder {
		if n, ok := parsePercent(r.At); ok && n == at {
			return k, true
		}
	}
	return 0, false
}

// stepIndexPath is the path of the nth step with the given id in the stage.
func stepIndexPath(f fileCadence, stage, step string, nth int) string {
	base := stageIndexPath(f, stage, 1)
	i, j, ok := stepIndex(f, stage, step, nth)
	if !ok {
		return base
	}
	return stepPath(i, j)
}

func fileStepAt(f fileCadence, stage, step string, nth int) (fileStep, bool) {
	i, j, ok := stepIndex(f, stage, step, nth)
	if !ok {
		return fileStep{}, false
	}
	return f.Stages[i].Steps[j], true
}

func stepIndex(f fileCadence, stage, step string, nth int) (i, j int, ok bool) {
	for i, s := range f.Stages {
		if s.ID != stage {
			continue
		}
		found := -1
		for j, fs := range s.Steps {
			if stepID(fs) == step {
				found = j
				if nth--; nth == 0 {
					break
				}
			}
		}
		return i, found, found >= 0
	}
	return 0, 0, false
}
