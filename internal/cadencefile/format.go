package cadencefile

import (
	"github.com/invopop/jsonschema"
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
	TimeLimit   durationText       `json:"time_limit,omitempty" jsonschema_description:"Business time of the owner's calendar from stage entry after which on_stale applies, e.g. \"10 business days\"."`
	Steps       []fileStep         `json:"steps,omitempty" jsonschema_description:"What happens in the stage, in order. Each step's after counts from the previous step (or stage entry)."`
	OnStale     *fileStaleRule     `json:"on_stale,omitempty" jsonschema_description:"What happens when time_limit passes."`
	OnExhausted *fileExhaustedRule `json:"on_exhausted,omitempty" jsonschema_description:"What happens after the last step ran."`
}

// fileStep maps onto cadence.Step: exactly one of Email and Task says what the step does.
type fileStep struct {
	ID    string       `json:"id,omitempty" jsonschema:"pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"The step's id, unique in its stage and kept across versions. Default for email steps: the template name. Required for task steps."`
	Email string       `json:"email,omitempty" jsonschema:"oneof_required=email step,pattern=^[a-z][a-z0-9_-]*$,maxLength=63" jsonschema_description:"Send the email whose files are templates/<name>.subject, templates/<name>.txt and optionally templates/<name>.html beside the cadence file."`
	Task  *fileTask    `json:"task,omitempty" jsonschema:"oneof_required=task step" jsonschema_description:"Give the deal's owner a task."`
	After durationText `json:"after,omitempty" jsonschema_description:"Wait after the previous step (or stage entry), e.g. \"2 business days\". Email delays count in the contact's calendar, task delays in the owner's. Default: 0."`
	Times *int         `json:"times,omitempty" jsonschema:"minimum=1" jsonschema_description:"Run the step this many times, each occurrence after the previous one (nurture tracks). Default: 1."`
}

// JSONSchemaExtend adds what struct tags cannot say: a task step needs an id, because a
// title is prose and ids must stay stable for migrating deals between versions.
func (fileStep) JSONSchemaExtend(s *jsonschema.Schema) {
	s.DependentRequired = map[string][]string{"task": {"id"}}
}

// fileTask maps onto cadence.TaskSpec.
type fileTask struct {
	Kind  string       `json:"kind" jsonschema:"required,enum=call,enum=email,enum=linkedin,enum=todo" jsonschema_description:"What the owner does: call, email, linkedin or todo."`
	Title string       `json:"title" jsonschema:"required,minLength=1" jsonschema_description:"The task's title, a text/template like \"Call {{.Contact.FirstName}}\"."`
	DueIn durationText `json:"due_in,omitempty" jsonschema_description:"When the task is due, counted in the owner's calendar from its creation. Default: right away."`
}

// fileStaleRule maps onto cadence.Move for on_stale: it fires at the time limit, so it has
// no wait of its own.
type fileStaleRule struct {
	MoveTo string    `json:"move_to" jsonschema:"required" jsonschema_description:"The stage the deal moves to."`
	Reason string    `json:"reason" jsonschema:"required,minLength=1" jsonschema_description:"Why, recorded with the move."`
	Task   *fileTask `json:"task,omitempty" jsonschema_description:"A task for the owner in the new stage."`
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
