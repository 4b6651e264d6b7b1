// Package cadence holds the pipeline model sales ops write (stages, steps, time limits,
// stale rules) and the pure planner that turns one stage visit into dated agenda items.
package cadence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"regexp"
	"strings"
)

// StepKind says what a step does.
type StepKind string

const (
	StepEmail StepKind = "email" // a nurture email to the prospect
	StepTask  StepKind = "task"  // a follow-up task for the deal's owner
	StepWait  StepKind = "wait"  // nothing happens; later steps count from its end
)

// TaskSpec describes a task given to the deal's owner.
type TaskSpec struct {
	Kind  string   `json:"kind"` // call, email, linkedin, todo
	Title string   `json:"title"`
	DueIn Duration `json:"due_in"` // counted in the owner's calendar from creation
	// Escalate: when the task is still open this long after its due date, the owner gets a
	// second, escalation task (once; a snooze moves both dates).
	Escalate *Escalation `json:"escalate,omitempty"`
}

// Escalation is what an overdue task turns into.
type Escalation struct {
	After Duration `json:"after"`           // past the due date, in the owner's calendar
	Title string   `json:"title,omitempty"` // default: "Overdue: " + the task's title
	Kind  string   `json:"kind,omitempty"`  // default: todo
}

// Task is the escalation task for a task of this spec.
func (e Escalation) Task(of TaskSpec) TaskSpec {
	t := TaskSpec{Kind: e.Kind, Title: e.Title}
	if t.Kind == "" {
		t.Kind = "todo"
	}
	if t.Title == "" {
		t.Title = "Overdue: " + of.Title
	}
	return t
}

// Step is one action of a stage visit. After counts from the actual time of the previous
// step of the same visit (or from stage entry for the first one). Times > 1 repeats the step,
// each occurrence After the previous one (nurture tracks).
type Step struct {
	ID       string    `json:"id"`
	Kind     StepKind  `json:"kind"`
	After    Duration  `json:"after"`
	Times    int       `json:"times,omitempty"`
	Template string    `json:"template,omitempty"` // email steps: a key of Pipeline.Templates
	Task     *TaskSpec `json:"task,omitempty"`     // task steps
	// Blocking (task steps): later steps wait until the owner completes or skips the task,
	// and count from that moment. Otherwise the cadence runs on beside the task.
	Blocking bool `json:"blocking,omitempty"`
	// Thread (email steps): send as a reply in the thread of the deal's last sent email
	// (In-Reply-To, References, "Re: " and that email's subject). The step's own subject is
	// used when the deal has sent nothing yet.
	Thread bool `json:"thread,omitempty"`
}

// Occurrences is how many times the step runs.
func (s Step) Occurrences() int {
	if s.Times < 1 {
		return 1
	}
	return s.Times
}

// Move moves a deal to another stage with a recorded reason, optionally giving the owner a
// task that belongs to the new stage visit.
type Move struct {
	MoveTo string    `json:"move_to"`
	Reason string    `json:"reason"`
	Task   *TaskSpec `json:"task,omitempty"`
	// After is used by OnExhausted only: the wait after the last step before the move.
	After Duration `json:"after"`
}

// StaleTask is a warning rung of a stage's on_stale ladder: at a share of the time limit
// (business minutes of the owner's calendar) the owner gets a task, before the move at 100%.
type StaleTask struct {
	At   int      `json:"at"` // percent of the time limit, 1–99
	Task TaskSpec `json:"task"`
}

// Engagement is something the prospect did, reported by a CRM, a mailbox or a rep.
type Engagement string

const (
	EngagedReply         Engagement = "reply"
	EngagedMeetingBooked Engagement = "meeting_booked"
	EngagedClick         Engagement = "click"
	EngagedBounce        Engagement = "bounce"
	EngagedUnsubscribe   Engagement = "unsubscribe"
	EngagedOutOfOffice   Engagement = "out_of_office"
)

// Engagements lists every engagement kind, in the order pages show them.
func Engagements() []Engagement {
	return []Engagement{EngagedReply, EngagedMeetingBooked, EngagedClick, EngagedBounce, EngagedUnsubscribe, EngagedOutOfOffice}
}

// Valid reports whether e is a known engagement kind.
func (e Engagement) Valid() bool {
	for _, k := range Engagements() {
		if e == k {
			return true
		}
	}
	return false
}

// DefaultEngagedOn are the engagements that re-engage a deal when on_engaged lists none.
var DefaultEngagedOn = []Engagement{EngagedReply, EngagedMeetingBooked, EngagedClick}

// OnEngaged moves a deal when the prospect engages during the stage (nurture re-engagement:
// back to a named stage). It takes precedence over the pipeline's exit rules for the
// engagements it lists.
type OnEngaged struct {
	On     []Engagement `json:"on,omitempty"` // empty: DefaultEngagedOn
	MoveTo string       `json:"move_to"`
	Reason string       `json:"reason"`
	Task   *TaskSpec    `json:"task,omitempty"` // belongs to the new stage visit
}

// Triggers reports whether e re-engages the deal under this rule.
func (o OnEngaged) Triggers(e Engagement) bool {
	on := o.On
	if len(on) == 0 {
		on = DefaultEngagedOn
	}
	for _, k := range on {
		if k == e {
			return true
		}
	}
	return false
}

// ExitRule is the configurable part of an exit: the task the owner gets. What the exit does
// to the cadence is fixed (see Exits).
type ExitRule struct {
	Task *TaskSpec `json:"task,omitempty"`
}

// Exits say what engagements do to the current stage visit, in every stage without an
// on_engaged rule for them:
//   - reply and meeting_booked stop the visit's remaining emails (tasks and the time limit go
//     on; on_exhausted no longer fires, since the prospect did respond) and give the owner a task;
//   - bounce and unsubscribe suppress the address or the contact (the front door records the
//     suppression before the deal hears of it) and stop the emails; bounce gives a task;
//   - out_of_office stops nothing: the next email waits until the return date, if one is given;
//   - click only counts where on_engaged lists it.
type Exits struct {
	Reply         *ExitRule `json:"reply,omitempty"`
	MeetingBooked *ExitRule `json:"meeting_booked,omitempty"`
	Bounce        *ExitRule `json:"bounce,omitempty"`
	Unsubscribe   *ExitRule `json:"unsubscribe,omitempty"`
}

// DefaultExitTasks are the owner's tasks when a pipeline's exits do not name one.
var DefaultExitTasks = map[Engagement]TaskSpec{
	EngagedReply:         {Kind: "email", Title: "{{.Contact.FirstName}} replied: answer personally", DueIn: Of(4, BusinessHours)},
	EngagedMeetingBooked: {Kind: "todo", Title: "Prepare the meeting {{.Contact.FirstName}} booked", DueIn: Of(1, BusinessDays)},
	EngagedBounce:        {Kind: "todo", Title: "Email to {{.Contact.Name}} bounced: find a working address", DueIn: Of(2, BusinessDays)},
}

// ExitTask is the task an engagement gives the owner under the pipeline's exit rules, nil
// for none.
func (p Pipeline) ExitTask(e Engagement) *TaskSpec {
	var rule *ExitRule
	if p.Exits != nil {
		switch e {
		case EngagedReply:
			rule = p.Exits.Reply
		case EngagedMeetingBooked:
			rule = p.Exits.MeetingBooked
		case EngagedBounce:
			rule = p.Exits.Bounce
		case EngagedUnsubscribe:
			rule = p.Exits.Unsubscribe
		}
	}
	if rule != nil && rule.Task != nil {
		t := *rule.Task
		return &t
	}
	if t, ok := DefaultExitTasks[e]; ok {
		return &t
	}
	return nil
}

// Stage is one stage of a pipeline.
type Stage struct {
	ID       string `json:"id"`
	Terminal bool   `json:"terminal,omitempty"` // won and lost: the deal closes once nothing is left to do
	// Probability is the chance, 0 to 100, that a deal in the stage is won: the weight of its
	// amount in the weighted pipeline. A terminal stage's is 100 (won) or 0 (lost). Unset
	// (nil): no weight, and a terminal stage is won when its id is "won".
	Probability *int `json:"probability,omitempty"`
	// TimeLimit counts business time of the owner's calendar from stage entry; zero means none.
	TimeLimit Duration `json:"time_limit"`
	Steps     []Step   `json:"steps,omitempty"`
	OnStale   *Move    `json:"on_stale,omitempty"` // what happens when TimeLimit passes (100%)
	// StaleTasks are the earlier rungs of the on_stale ladder, in ascending order of At.
	StaleTasks  []StaleTask `json:"stale_tasks,omitempty"`
	OnExhausted *Move       `json:"on_exhausted,omitempty"` // what happens after the last step ran
	OnEngaged   *OnEngaged  `json:"on_engaged,omitempty"`
}

// Won says whether a deal that closes in the stage is won: a terminal stage of probability
// 100, or, with no probability declared, the one whose id is "won".
func (s Stage) Won() bool {
	if !s.Terminal {
		return false
	}
	if s.Probability != nil {
		return *s.Probability == 100
	}
	return s.ID == "won"
}

// HoldingStages are the non-terminal stages the pipeline's own rules move deals to (on_stale,
// on_exhausted: nurturing): a deal there has left the funnel without being won or lost, so
// a move into one is never an advance.
func (p Pipeline) HoldingStages() map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Stages {
		var targets []string
		if s.OnStale != nil {
			targets = append(targets, s.OnStale.MoveTo)
		}
		if s.OnExhausted != nil {
			targets = append(targets, s.OnExhausted.MoveTo)
		}
		for _, t := range targets {
			if st, ok := p.Stage(t); ok && !st.Terminal {
				out[t] = true
			}
		}
	}
	return out
}

// Step finds one of the stage's steps by id.
func (s Stage) Step(id string) (Step, bool) {
	for _, st := range s.Steps {
		if st.ID == id {
			return st, true
		}
	}
	return Step{}, false
}

// Template is an email template: a text/template subject and text body, an html/template body.
type Template struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// CalendarSpec is a pipeline's default calendar; a deal's owner and contact override the
// zone and country. Empty fields mean "always open" (the version-0 behaviour).
type CalendarSpec struct {
	Zone          string   `json:"zone,omitempty"`           // IANA zone, e.g. Europe/Berlin
	Holidays      []string `json:"holidays,omitempty"`       // ISO country codes whose public holidays close business time
	BusinessHours string   `json:"business_hours,omitempty"` // e.g. "Mon-Fri 09:00-17:00"
	EmailWindow   string   `json:"email_window,omitempty"`   // e.g. "Tue-Thu 09:00-11:30", in the contact's zone
}

// Sender is who a pipeline's emails come from. From wins over the owner's sender identity
// (a team mailbox for a nurture pipeline, say); without ReplyTo, replies go to the owner.
type Sender struct {
	From    string `json:"from,omitempty"`     // "Acme Sales <sales@acme.example>"
	ReplyTo string `json:"reply_to,omitempty"` // "Acme Sales <sales@acme.example>"
}

// CheckAddress accepts one email address with an optional display name, on one line.
func CheckAddress(v string) error {
	if _, err := netmail.ParseAddress(v); err != nil || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%q is not an address: want one such as \"Acme Sales <sales@acme.example>\"", v)
	}
	return nil
}

// Pipeline is one cadence: ordered stages, their steps and rules, and the email templates.
type Pipeline struct {
	ID        string              `json:"id"`
	Sender    *Sender             `json:"sender,omitempty"`
	Calendar  *CalendarSpec       `json:"calendar,omitempty"`
	Initial   string              `json:"initial"`
	Stages    []Stage             `json:"stages"`
	Templates map[string]Template `json:"templates,omitempty"`
	Exits     *Exits              `json:"exits,omitempty"`
}

// Stage returns the stage with the given id.
func (p Pipeline) Stage(id string) (Stage, bool) {
	for _, s := range p.Stages {
		if s.ID == id {
			return s, true
		}
	}
	return Stage{}, false
}

// StageIDs lists the stage ids in pipeline order.
func (p Pipeline) StageIDs() []string {
	ids := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		ids[i] = s.ID
	}
	return ids
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Validate checks the model's internal consistency: ids, units, references between stages,
// templates. It returns every problem found, joined, so ops fix them in one pass.
func (p Pipeline) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !idPattern.MatchString(p.ID) {
		add("pipeline id %q: want lower-case letters, digits, - or _", p.ID)
	}
	if len(p.Stages) == 0 {
		add("pipeline %q has no stages", p.ID)
	}
	seen := map[string]bool{}
	for _, s := range p.Stages {
		if !idPattern.MatchString(s.ID) {
			add("stage id %q: want lower-case letters, digits, - or _", s.ID)
		}
		if seen[s.ID] {
			add("stage %q is defined twice", s.ID)
		}
		seen[s.ID] = true
		if pr := s.Probability; pr != nil {
			switch {
			case *pr < 0 || *pr > 100:
				add("stage %q probability: %d: want 0 to 100", s.ID, *pr)
			case s.Terminal && *pr != 0 && *pr != 100:
				add("stage %q probability: a terminal stage is won (100) or lost (0), not %d", s.ID, *pr)
			}
		}
	}
	if _, ok := p.Stage(p.Initial); !ok {
		add("initial stage %q is not a stage of the pipeline", p.Initial)
	}
	checkMove := func(stage, rule string, m *Move) {
		if m == nil {
			return
		}
		if _, ok := p.Stage(m.MoveTo); !ok {
			add("stage %q %s: move_to %q names no stage", stage, rule, m.MoveTo)
		} else if m.MoveTo == stage {
			add("stage %q %s: move_to names the stage itself", stage, rule)
		}
		if strings.TrimSpace(m.Reason) == "" {
			add("stage %q %s: a move needs a reason", stage, rule)
		}
		if err := m.After.Validate(); err != nil {
			add("stage %q %s: %v", stage, rule, err)
		}
		if m.Task != nil {
			checkTask(add, stage, rule, m.Task)
		}
	}
	for _, s := range p.Stages {
		if err := s.TimeLimit.Validate(); err != nil {
			add("stage %q time_limit: %v", s.ID, err)
		}
		if s.OnStale != nil && s.TimeLimit.IsZero() {
			add("stage %q has on_stale but no time_limit, so it can never fire", s.ID)
		}
		if !s.TimeLimit.IsZero() && s.OnStale == nil {
			add("stage %q has a time_limit but no on_stale rule saying what happens then", s.ID)
		}
		if s.OnExhausted != nil && len(s.Steps) == 0 {
			add("stage %q has on_exhausted but no steps", s.ID)
		}
		checkMove(s.ID, "on_stale", s.OnStale)
		checkMove(s.ID, "on_exhausted", s.OnExhausted)
		if len(s.StaleTasks) > 0 && s.TimeLimit.IsZero() {
			add("stage %q has on_stale rungs but no time_limit, so they can never fire", s.ID)
		}
		prevAt := 0
		for _, r := range s.StaleTasks {
			rule := fmt.Sprintf("on_stale at %d%%", r.At)
			if r.At < 1 || r.At > 99 {
				add("stage %q %s: a task rung is at 1%% to 99%% of the time limit (the move is at 100%%)", s.ID, rule)
			} else if r.At <= prevAt {
				add("stage %q %s: rungs go in ascending order, each at a different share", s.ID, rule)
			}
			prevAt = r.At
			checkTask(add, s.ID, rule, &r.Task)
		}
		if e := s.OnEngaged; e != nil {
			if _, ok := p.Stage(e.MoveTo); !ok {
				add("stage %q on_engaged: move_to %q names no stage", s.ID, e.MoveTo)
			} else if e.MoveTo == s.ID {
				add("stage %q on_engaged: move_to names the stage itself", s.ID)
			}
			if strings.TrimSpace(e.Reason) == "" {
				add("stage %q on_engaged: a move needs a reason", s.ID)
			}
			for _, k := range e.On {
				switch k {
				case EngagedReply, EngagedMeetingBooked, EngagedClick:
				default:
					add("stage %q on_engaged: %q cannot re-engage a deal (want reply, meeting_booked or click)", s.ID, k)
				}
			}
			if e.Task != nil {
				checkTask(add, s.ID, "on_engaged", e.Task)
			}
		}
		stepIDs := map[string]bool{}
		for _, st := range s.Steps {
			where := fmt.Sprintf("stage %q step %q", s.ID, st.ID)
			if !idPattern.MatchString(st.ID) {
				add("%s: step id: want lower-case letters, digits, - or _", where)
			}
			if stepIDs[st.ID] {
				add("%s: step id used twice in the stage", where)
			}
			stepIDs[st.ID] = true
			if err := st.After.Validate(); err != nil {
				add("%s after: %v", where, err)
			}
			if st.Times < 0 {
				add("%s: times must not be negative", where)
			}
			switch st.Kind {
			case StepEmail:
				if _, ok := p.Templates[st.Template]; !ok {
					add("%s: template %q is not defined", where, st.Template)
				}
				if st.Task != nil {
					add("%s: an email step has no task", where)
				}
			case StepTask:
				if st.Task == nil {
					add("%s: a task step needs a task", where)
				} else {
					checkTask(add, s.ID, "step "+st.ID, st.Task)
				}
			case StepWait:
				if st.After.IsZero() {
					add("%s: a wait step needs a duration", where)
				}
				if st.Times > 1 {
					add("%s: a wait step does not repeat", where)
				}
			default:
				add("%s: unknown kind %q (want email, task or wait)", where, st.Kind)
			}
			if st.Blocking && st.Kind != StepTask {
				add("%s: only task steps can block", where)
			}
			if st.Thread && st.Kind != StepEmail {
				add("%s: only email steps can thread", where)
			}
		}
	}
	if p.Sender != nil {
		for _, f := range []struct{ name, value string }{{"from", p.Sender.From}, {"reply_to", p.Sender.ReplyTo}} {
			if f.value == "" {
				continue
			}
			if err := CheckAddress(f.value); err != nil {
				add("sender %s: %v", f.name, err)
			}
		}
		if p.Sender.From == "" && p.Sender.ReplyTo == "" {
			add("sender: set from, reply_to or both")
		}
	}
	if p.Exits != nil {
		for _, e := range []struct {
			name string
			rule *ExitRule
		}{{"reply", p.Exits.Reply}, {"meeting_booked", p.Exits.MeetingBooked}, {"bounce", p.Exits.Bounce}, {"unsubscribe", p.Exits.Unsubscribe}} {
			if e.rule != nil && e.rule.Task != nil {
				checkTask(add, "", "exits."+e.name, e.rule.Task)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("pipeline %q is invalid:\n  - %s", p.ID, strings.Join(problems, "\n  - "))
	}
	return nil
}

func checkTask(add func(string, ...any), stage, where string, t *TaskSpec) {
	if stage != "" {
		where = fmt.Sprintf("stage %q %s", stage, where) // exits are pipeline-wide: no stage
	}
	if strings.TrimSpace(t.Title) == "" {
		add("%s: a task needs a title", where)
	}
	switch t.Kind {
	case "call", "email", "linkedin", "todo":
	default:
		add("%s: task kind %q (want call, email, linkedin or todo)", where, t.Kind)
	}
	if err := t.DueIn.Validate(); err != nil {
		add("%s due_in: %v", where, err)
	}
	if e := t.Escalate; e != nil {
		if e.After.IsZero() {
			add("%s escalate: after must be more than 0 (how long past the due date)", where)
		} else if err := e.After.Validate(); err != nil {
			add("%s escalate after: %v", where, err)
		}
		switch e.Kind {
		case "", "call", "email", "linkedin", "todo":
		default:
			add("%s escalate: task kind %q (want call, email, linkedin or todo)", where, e.Kind)
		}
	}
}

// CanonicalJSON is the stable encoding a version's hash covers: encoding/json writes struct
// fields in declaration order and map keys sorted, so equal models encode equally.
func (p Pipeline) CanonicalJSON() ([]byte, error) {
	return json.Marshal(p)
}

// Hash is the hex SHA-256 of the canonical JSON, templates included, so a template edit is a
// new version.
func (p Pipeline) Hash() (string, error) {
	b, err := p.CanonicalJSON()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
