package cadencefile

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/invopop/jsonschema"

	"github.com/followup-engine/followup/internal/cadence"
)

// The types below are the file format: what sales ops write, decoded by goccy/go-yaml (which
// reads the json tags) and reflected into the JSON Schema by invopop/jsonschema (which reads
// the json and jsonschema tags). They stay close to the YAML people read; the loader turns
// them into the cadence model and reports every problem with its position.

// fileCadence is one cadence file.
type fileCadence struct {
	Pipeline string        `json:"pipeline" jsonschema:"required,pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"The pipeline's id: lower-case letters, digits, - or _. Deals name it to use this cadence."`
	Calendar *fileCalendar `json:"calendar,omitempty" jsonschema_description:"The pipeline's default calendar. A deal's owner and contact may override the zone and the holiday country. Without it every hour is open."`
	Initial  string        `json:"initial,omitempty" jsonschema_description:"The stage new deals enter. Default: the first stage."`
	Sender   *fileSender   `json:"sender,omitempty" jsonschema_description:"Who the pipeline's emails come from. Without it: the owner's sender identity, else MAIL_FROM. Replies go to reply_to, else to the owner."`
	Exits    *fileExits    `json:"exits,omitempty" jsonschema_description:"The owner's task when the prospect replies, books a meeting, bounces or unsubscribes, in every stage without an on_engaged rule for it. What an exit does to the cadence is fixed: replies and meetings stop the stage's emails, bounces and unsubscribes suppress the address or contact."`
	Stages   []fileStage   `json:"stages" jsonschema:"required,minItems=1" jsonschema_description:"The pipeline's stages, in order."`
}

// fileCalendar maps onto cadence.CalendarSpec.
type fileCalendar struct {
	Zone          string     `json:"zone,omitempty" jsonschema:"example=Europe/Berlin" jsonschema_description:"IANA time zone, e.g. Europe/Berlin."`
	Holidays      []string   `json:"holidays,omitempty" jsonschema:"uniqueItems=true" jsonschema_description:"Countries whose public holidays close business time: ISO 3166 codes (de, fr, us) or regions (de-by, au-nsw)."`
	BusinessHours weeklyText `json:"business_hours,omitempty" jsonschema_description:"When business time runs. Default: \"Mon-Fri 09:00-17:00\". Time limits and delays in business units count these hours."`
	EmailWindow   weeklyText `json:"email_window,omitempty" jsonschema_description:"When emails may go out, in the contact's time zone, e.g. \"Tue-Thu 09:00-11:30\". Must overlap business_hours."`
}

// fileStage maps onto cadence.Stage.
type fileStage struct {
	ID          string             `json:"id" jsonschema:"required,pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"The stage's id: lower-case letters, digits, - or _."`
	Terminal    bool               `json:"terminal,omitempty" jsonschema_description:"Won and lost: the deal closes once nothing is left to do in the stage."`
	Probability *int               `json:"probability,omitempty" jsonschema:"minimum=0,maximum=100" jsonschema_description:"The chance, 0 to 100, that a deal in this stage is won: its amount's weight in the weighted pipeline and the forecast. A terminal stage is won (100) or lost (0); without it, the terminal stage whose id is won is the won one."`
	TimeLimit   durationText       `json:"time_limit,omitempty" jsonschema_description:"Business time of the owner's calendar from stage entry after which on_stale applies, e.g. \"10 business days\"."`
	Steps       []fileStep         `json:"steps,omitempty" jsonschema_description:"What happens in the stage, in order. Each step's after counts from the previous step (or stage entry)."`
	OnStale     *fileStale         `json:"on_stale,omitempty" jsonschema_description:"What happens as time_limit passes: one move at the limit, or a ladder of warning tasks at shares of it ending with the move at 100%."`
	OnExhausted *fileExhaustedRule `json:"on_exhausted,omitempty" jsonschema_description:"What happens after the last step ran."`
	OnEngaged   *fileOnEngaged     `json:"on_engaged,omitempty" jsonschema_description:"Where the deal goes when the prospect engages during the stage (re-engagement out of nurturing), instead of what exits: says."`
}

// fileStep maps onto cadence.Step: exactly one of Email, Task and Wait says what the step does.
type fileStep struct {
	ID       string       `json:"id,omitempty" jsonschema:"pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"The step's id, unique in its stage and kept across versions. Default for email steps: the template name. Required for task and wait steps."`
	Email    string       `json:"email,omitempty" jsonschema:"oneof_required=email step,pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"Send the email whose files are templates/<name>.subject, templates/<name>.txt and optionally templates/<name>.html beside the cadence file."`
	Task     *fileTask    `json:"task,omitempty" jsonschema:"oneof_required=task step" jsonschema_description:"Give the deal's owner a task."`
	Wait     durationText `json:"wait,omitempty" jsonschema:"oneof_required=wait step" jsonschema_description:"Do nothing for this long after the previous step (or stage entry); later steps count from the end of the wait. Counted in the owner's calendar, e.g. \"5 business days\"."`
	After    durationText `json:"after,omitempty" jsonschema_description:"Wait after the previous step (or stage entry), e.g. \"2 business days\". Email delays count in the contact's calendar, task delays in the owner's. Default: 0. Not for wait steps."`
	Times    *int         `json:"times,omitempty" jsonschema:"minimum=1" jsonschema_description:"Run the step this many times, each occurrence after the previous one (nurture tracks). Default: 1. Not for wait steps."`
	Blocking bool         `json:"blocking,omitempty" jsonschema_description:"Task steps: the later steps wait until the owner completes or skips the task, and count from that moment. Default: false, the cadence runs on beside the task."`
	Thread   bool         `json:"thread,omitempty" jsonschema_description:"Email steps: send as a reply to the deal's last sent email (In-Reply-To, References, subject \"Re: \" and that email's subject), so the prospect sees one conversation. The template's own subject is used when the deal has sent nothing yet. Default: false, a new thread."`
}

// fileSender maps onto cadence.Sender.
type fileSender struct {
	From    string `json:"from,omitempty" jsonschema:"example=Acme Sales <sales@acme.example>" jsonschema_description:"The From address, with an optional display name. It wins over the owner's own sender identity; MAIL_FROM and per-mailbox SMTP settings apply to it as to any sender."`
	ReplyTo string `json:"reply_to,omitempty" jsonschema:"example=Acme Sales <sales@acme.example>" jsonschema_description:"Where replies go. Default: the owner's reply-to, else the owner's address, so a reply reaches a person."`
}

// JSONSchemaExtend adds what struct tags cannot say: task and wait steps need an id, because
// a title is prose and ids must stay stable for migrating deals between versions; a wait's
// duration is its wait, once; only task steps block; only email steps thread.
func (fileStep) JSONSchemaExtend(s *jsonschema.Schema) {
	s.DependentRequired = map[string][]string{"task": {"id"}, "wait": {"id"}}
	s.DependentSchemas = map[string]*jsonschema.Schema{"wait": withProperties(&jsonschema.Schema{},
		"after", jsonschema.FalseSchema,
		"times", jsonschema.FalseSchema,
	)}
	s.AllOf = []*jsonschema.Schema{
		{If: withProperties(&jsonschema.Schema{Required: []string{"blocking"}}, "blocking", &jsonschema.Schema{Const: true}),
			Then: &jsonschema.Schema{Required: []string{"task"}}},
		{If: withProperties(&jsonschema.Schema{Required: []string{"thread"}}, "thread", &jsonschema.Schema{Const: true}),
			Then: &jsonschema.Schema{Required: []string{"email"}}},
	}
}

// fileTask maps onto cadence.TaskSpec.
type fileTask struct {
	Kind     string          `json:"kind" jsonschema:"required,enum=call,enum=email,enum=linkedin,enum=todo" jsonschema_description:"What the owner does: call, email, linkedin or todo."`
	Title    string          `json:"title" jsonschema:"required,minLength=1" jsonschema_description:"The task's title, a text/template like \"Call {{.Contact.FirstName}}\"."`
	DueIn    durationText    `json:"due_in,omitempty" jsonschema_description:"When the task is due, counted in the owner's calendar from its creation. Default: right away."`
	Escalate *fileEscalation `json:"escalate,omitempty" jsonschema_description:"What happens when the task is still open some time after its due date: the owner gets an escalation task (once; a snooze moves it)."`
}

// fileEscalation maps onto cadence.Escalation.
type fileEscalation struct {
	After durationText `json:"after" jsonschema:"required" jsonschema_description:"How long past the due date, in the owner's calendar, e.g. \"1 business day\"."`
	Title string       `json:"title,omitempty" jsonschema_description:"The escalation task's title, a text/template. Default: \"Overdue: \" and the task's title."`
	Kind  string       `json:"kind,omitempty" jsonschema:"enum=call,enum=email,enum=linkedin,enum=todo" jsonschema_description:"The escalation task's kind. Default: todo."`
}

// fileStale is on_stale, written either as one mapping (the move at the time limit) or as a
// ladder: a list of rungs at shares of the time limit, warning tasks below 100% and the move
// at 100%. Exactly one of Move and Ladder is set.
type fileStale struct {
	Move   *fileStaleRule  `json:"-"`
	Ladder []fileStaleRung `json:"-"`
}

// UnmarshalYAML tells the two shapes apart and decodes the one written with the same decoder,
// so unknown keys, types and positions are reported as everywhere else.
func (s *fileStale) UnmarshalYAML(unmarshal func(any) error) error {
	var shape any
	if err := unmarshal(&shape); err != nil {
		return err
	}
	switch shape.(type) {
	case []any:
		s.Ladder = []fileStaleRung{}
		return unmarshal(&s.Ladder)
	case map[string]any:
		s.Move = &fileStaleRule{}
		return unmarshal(s.Move)
	}
	// A scalar: let the decoder say where, then say what is wanted.
	err := unmarshal(&fileStaleRule{})
	var yerr yaml.Error
	if errors.As(err, &yerr) && yerr.GetToken() != nil {
		return &shapeError{token: yerr.GetToken(), message: fmt.Sprintf(
			"on_stale: want a mapping (move_to, reason, task) or a list of rungs (- at: 80%%, task: ...), got %s", describeValue(nil, yerr.GetToken()))}
	}
	return err
}

// JSONSchema says on_stale is one of the two shapes; schemaOnce defines the two it names.
func (fileStale) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		OneOf: []*jsonschema.Schema{
			{Ref: "#/$defs/StaleRule"},
			{Type: "array", MinItems: new(uint64(1)), Items: &jsonschema.Schema{Ref: "#/$defs/StaleRung"},
				Description: "A ladder: warning tasks at shares of the time limit in ascending order, then the move at 100%."},
		},
	}
}

// fileStaleRule maps onto cadence.Move for on_stale written as one mapping: it fires at the
// time limit, so it has no wait of its own.
type fileStaleRule struct {
	MoveTo string    `json:"move_to" jsonschema:"required" jsonschema_description:"The stage the deal moves to."`
	Reason string    `json:"reason" jsonschema:"required,minLength=1" jsonschema_description:"Why, recorded with the move."`
	Task   *fileTask `json:"task,omitempty" jsonschema_description:"A task for the owner in the new stage."`
}

// fileStaleRung is one rung of an on_stale ladder: below 100% it maps onto a
// cadence.StaleTask (a warning task), at 100% onto the stage's cadence.Move.
type fileStaleRung struct {
	At     percentText `json:"at" jsonschema:"required" jsonschema_description:"When, as a share of time_limit in business time of the owner's calendar: 1% to 99% for a warning task, 100% for the move."`
	MoveTo string      `json:"move_to,omitempty" jsonschema_description:"At 100%: the stage the deal moves to."`
	Reason string      `json:"reason,omitempty" jsonschema:"minLength=1" jsonschema_description:"At 100%: why, recorded with the move."`
	Task   *fileTask   `json:"task,omitempty" jsonschema_description:"Below 100%: the owner's warning task (required). At 100%: a task for the owner in the new stage (optional)."`
}

// JSONSchemaExtend says which keys a rung takes: the rung at 100% moves the deal, the
// others give the owner a task.
func (fileStaleRung) JSONSchemaExtend(s *jsonschema.Schema) {
	s.If = withProperties(&jsonschema.Schema{}, "at", &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
		{Const: 100}, {Type: "string", Pattern: `^ *100 *%? *$`},
	}})
	s.Then = &jsonschema.Schema{Required: []string{"move_to", "reason"}}
	s.Else = withProperties(&jsonschema.Schema{Required: []string{"task"}},
		"move_to", jsonschema.FalseSchema,
		"reason", jsonschema.FalseSchema,
	)
}

// fileOnEngaged maps onto cadence.OnEngaged.
type fileOnEngaged struct {
	On     []engagementText `json:"on,omitempty" jsonschema:"uniqueItems=true" jsonschema_description:"The engagements that move the deal: reply, meeting_booked, click. Default: all three."`
	MoveTo string           `json:"move_to" jsonschema:"required" jsonschema_description:"The stage the deal moves to."`
	Reason string           `json:"reason" jsonschema:"required,minLength=1" jsonschema_description:"Why, recorded with the move."`
	Task   *fileTask        `json:"task,omitempty" jsonschema_description:"A task for the owner in the new stage."`
}

// engagementText is an engagement that can re-engage a deal.
type engagementText string

// JSONSchema lists the engagements on_engaged takes.
func (engagementText) JSONSchema() *jsonschema.Schema {
	enum := make([]any, len(reEngagers))
	for i, e := range reEngagers {
		enum[i] = e
	}
	return &jsonschema.Schema{Type: "string", Enum: enum,
		Description: wantEngagers + ". Bounces and unsubscribes never re-engage a deal."}
}

// fileExits maps onto cadence.Exits.
type fileExits struct {
	Reply         *fileExitRule `json:"reply,omitempty" jsonschema_description:"A reply stops the stage's remaining emails; its tasks and time limit go on."`
	MeetingBooked *fileExitRule `json:"meeting_booked,omitempty" jsonschema_description:"A booked meeting stops the stage's remaining emails; its tasks and time limit go on."`
	Bounce        *fileExitRule `json:"bounce,omitempty" jsonschema_description:"A bounce suppresses the address and stops the emails."`
	Unsubscribe   *fileExitRule `json:"unsubscribe,omitempty" jsonschema_description:"An unsubscribe suppresses the contact and stops the emails."`
}

// JSONSchemaExtend names each exit's default task, from the model, so editors show what
// leaving a rule out means.
func (fileExits) JSONSchemaExtend(s *jsonschema.Schema) {
	for name, e := range map[string]cadence.Engagement{"reply": cadence.EngagedReply, "meeting_booked": cadence.EngagedMeetingBooked,
		"bounce": cadence.EngagedBounce, "unsubscribe": cadence.EngagedUnsubscribe} {
		prop, ok := s.Properties.Get(name)
		if !ok {
			continue
		}
		if t, ok := cadence.DefaultExitTasks[e]; ok {
			prop.Description += fmt.Sprintf(" Default task: %s %q, due in %s.", t.Kind, t.Title, t.DueIn)
		} else {
			prop.Description += " Default: no task."
		}
	}
}

// fileExitRule maps onto cadence.ExitRule.
type fileExitRule struct {
	Task *fileTask `json:"task" jsonschema:"required" jsonschema_description:"The owner's task when this happens."`
}

// fileExhaustedRule maps onto cadence.Move for on_exhausted.
type fileExhaustedRule struct {
	After  durationText `json:"after,omitempty" jsonschema_description:"Wait after the last step before moving, in the owner's calendar. Default: 0."`
	MoveTo string       `json:"move_to" jsonschema:"required" jsonschema_description:"The stage the deal moves to."`
	Reason string       `json:"reason" jsonschema:"required,minLength=1" jsonschema_description:"Why, recorded with the move."`
	Task   *fileTask    `json:"task,omitempty" jsonschema_description:"A task for the owner in the new stage."`
}

// durationText is a duration as written, parsed by cadence.ParseDuration after decoding so
// that every bad duration is reported, not only the first. YAML reads `after: 0` as a number;
// the decoder turns it into the text "0".
type durationText string

const durationPattern = `^ *(0|[0-9]+ +(business +)?(seconds?|minutes?|hours?|days?)) *$`

// JSONSchema describes durations for editors.
func (durationText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: `An amount and a unit: seconds, minutes, hours, days (calendar days), business hours or business days, e.g. "2 business days"; or 0.`,
		AnyOf: []*jsonschema.Schema{
			{Type: "string", Pattern: durationPattern},
			{Type: "integer", Enum: []any{0}},
		},
	}
}

// percentText is a share of a time limit as written, "80%" or 80, checked after decoding.
type percentText string

// JSONSchema describes shares for editors.
func (percentText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: `A share of the time limit, "80%" (or 80): 1% to 99% for a warning task, 100% for the move.`,
		AnyOf: []*jsonschema.Schema{
			{Type: "string", Pattern: `^ *([1-9][0-9]?|100) *%? *$`},
			{Type: "integer", Minimum: "1", Maximum: "100"},
		},
	}
}

// withProperties sets s's properties from name, schema pairs, in order, and returns s.
func withProperties(s *jsonschema.Schema, pairs ...any) *jsonschema.Schema {
	s.Properties = jsonschema.NewProperties()
	for i := 0; i+1 < len(pairs); i += 2 {
		s.Properties.Set(pairs[i].(string), pairs[i+1].(*jsonschema.Schema))
	}
	return s
}

// weeklyText is a weekly schedule such as "Mon-Fri 09:00-17:00", checked after decoding by
// the calendar package, which owns its grammar.
type weeklyText string

// JSONSchema describes weekly schedules for editors. It has no pattern: the grammar (day
// groups, several spans, "always") is the calendar package's, and the loader checks it.
func (weeklyText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:      "string",
		MinLength: new(uint64(1)),
		Description: `Days and daily spans, e.g. "Mon-Fri 09:00-17:00", "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00" or "always". ` +
			`An end before the start runs past midnight.`,
		Examples: []any{"Mon-Fri 09:00-17:00", "Tue-Thu 09:00-11:30"},
	}
}
