// Package workflows holds the deal workflow: one durable execution per deal that waits on
// stage events, runs the stage's cadence and enforces its time limit.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// Temporal names, in one place for the worker, the starter and the tests.
const (
	// TaskQueue runs deal workflows and their PostgreSQL activities.
	TaskQueue = "followup-deals"
	// SendTaskQueue runs only email sends, so slow SMTP never starves the other activities.
	SendTaskQueue = "followup-email"
	// EventSignal carries every input to a deal as one Event envelope.
	EventSignal = "deal-event"
	// StateQuery answers the deal's current View.
	StateQuery = "deal-state"
)

// WorkflowID derives the deal workflow's id from the internal deal id.
func WorkflowID(dealID string) string { return "deal/" + dealID }

// Search attributes, registered wherever a server is started. They carry ids only.
var (
	DealStageKey      = temporal.NewSearchAttributeKeyKeyword("DealStage")
	DealOwnerKey      = temporal.NewSearchAttributeKeyKeyword("DealOwner")
	CadenceVersionKey = temporal.NewSearchAttributeKeyInt64("CadenceVersion")
	NextActionAtKey   = temporal.NewSearchAttributeKeyTime("NextActionAt")
)

// SearchAttributes lists the deal search attributes with zero values, the shape dev servers
// and test servers take for registration.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		DealStageKey.ValueSet(""),
		DealOwnerKey.ValueSet(""),
		CadenceVersionKey.ValueSet(0),
		NextActionAtKey.ValueSet(time.Time{}),
	)
}

// EventVersion is the current version of the Event envelope.
const EventVersion = 1

// EventKind names an input to a deal: the kind its inbound event records (store.EventKind,
// defined once there), so a kind is the same value in PostgreSQL and in history.
type EventKind = store.EventKind

const (
	EventCreated      = store.KindCreated      // a create for a deal that already runs: converges
	EventStageChanged = store.KindStageChanged // move the deal to Event.Stage
	EventMigrate      = store.KindMigrate      // move the deal to the cadence version in Event.Cadence
	EventEngaged      = store.KindEngaged      // the prospect did something: Event.Engagement
	EventTaskClosed   = store.KindTaskClosed   // the owner completed or skipped Event.TaskID
	EventTaskSnoozed  = store.KindTaskSnoozed  // the owner moved Event.TaskID's due date to Event.Until
	EventPaused       = store.KindPaused       // hold the cadence (Event.Scope; Event.Until resumes by itself)
	EventResumed      = store.KindResumed      // lift the pause of Event.Scope
	// EventOwnerChanged: the deal was handed to another owner (deals.owner_id): reload the
	// calendars and re-plan open tasks in the new owner's.
	EventOwnerChanged = store.KindOwnerChanged
)

// Pause scopes: who paused the deal. The deal runs again once no scope holds it.
const (
	ScopeDeal     = "deal"
	ScopeOwner    = "owner"
	ScopePipeline = "pipeline"
)

// Task outcomes an EventTaskClosed carries.
const (
	TaskDone    = "done"
	TaskSkipped = "skipped"
)

// SourceEngine is the source of moves the workflow makes itself (time limits).
const SourceEngine = "engine"

// ChangeReplyThroughMoves is the workflow.GetVersion change id of the rules that a reply
// keeps a deal's emails stopped through engine moves, exit tasks stay open across moves and
// an out-of-office's return date holds the next visit's first email (version 1).
const ChangeReplyThroughMoves = "reply-through-moves"

// Event is the one versioned envelope for every input to a deal workflow.
type Event struct {
	Version        int         `json:"version"`
	Kind           EventKind   `json:"kind"`
	Source         string      `json:"source"`          // api, cli, hubspot, …
	SourceEventID  string      `json:"source_event_id"` // the sender's id: the same id twice is a duplicate
	SourceTime     time.Time   `json:"source_time"`     // when the source says it happened: the ordering key
	Sequence       int64       `json:"sequence,omitempty"`
	InboundEventID int64       `json:"inbound_event_id,omitempty"` // the row in inbound_events
	Stage          string      `json:"stage,omitempty"`
	Reason         string      `json:"reason,omitempty"`
	Cadence        *CadenceRef `json:"cadence,omitempty"`      // EventMigrate: the version to move to
	MigrateFrom    int64       `json:"migrate_from,omitempty"` // EventMigrate: the version it moves from
	// EventEngaged: what the prospect did, and for out_of_office the return date if known.
	Engagement cadence.Engagement `json:"engagement,omitempty"`
	ReturnAt   time.Time          `json:"return_at,omitzero"`
	// EventTaskClosed: the task (a row of tasks) and TaskDone or TaskSkipped.
	TaskID      int64  `json:"task_id,omitempty"`
	TaskOutcome string `json:"task_outcome,omitempty"`
	// EventPaused, EventResumed: which pause, and (paused) when it lifts by itself.
	// EventTaskSnoozed: Until is the new due date (moved into the owner's business hours).
	Scope string    `json:"scope,omitempty"`
	Until time.Time `json:"until,omitzero"`
	// EventOwnerChanged: the deal's new owner (deals.owner_id), for its search attribute and
	// the next run's input.
	OwnerID string `json:"owner_id,omitempty"`
}

// Pause is one scope holding a deal's cadence.
type Pause struct {
	Scope string    `json:"scope"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"` // resumes by itself then; zero: until resumed
}

// Frozen is what a pause keeps of a stage visit: the business time each pending item still
// had to wait when the visit was frozen, re-planned from the moment the deal resumes.
type Frozen struct {
	Visit    int            `json:"visit"`
	At       time.Time      `json:"at"`
	Items    []FrozenItem   `json:"items,omitempty"`
	Deadline *time.Duration `json:"deadline,omitempty"` // remaining before the time limit
}

// FrozenItem is one pending item's remaining business time, in the calendar it counts in.
type FrozenItem struct {
	ID        string        `json:"id"`
	Remaining time.Duration `json:"remaining"`
	Contact   bool          `json:"contact,omitempty"` // an email: the contact's calendar
}

// CadenceRef pins the cadence version a deal runs.
type CadenceRef struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
}

// InputVersion is the current version of DealInput.
const InputVersion = 1

// DealInput starts a deal workflow. A new run (create or reopen) enters Start.Stage; a run
// continued as new carries Resume instead.
type DealInput struct {
	Version int        `json:"version"`
	DealID  string     `json:"deal_id"`
	OwnerID string     `json:"owner_id"`
	Cadence CadenceRef `json:"cadence"`
	// Start is the event that opens this run: the create, or the reopen. Its PrevVisit is the
	// stage-visit counter taken from PostgreSQL (0 for a new deal), so ledger keys never collide.
	Start     Event  `json:"start"`
	PrevStage string `json:"prev_stage,omitempty"`
	PrevVisit int    `json:"prev_visit,omitempty"`
	// PrevRevision is the projection revision stored in PostgreSQL, so a reopened deal's
	// projection writes are not mistaken for stale ones.
	PrevRevision int64    `json:"prev_revision,omitempty"`
	Resume       *Carried `json:"resume,omitempty"`
	// Pauses already holding the deal when it starts (its owner or pipeline is paused).
	Pauses []Pause `json:"pauses,omitempty"`
	// Import enters Start.Stage as an existing deal would be: its first email step counts as
	// already done (sent by the old system), so the prospect does not get it twice.
	Import bool `json:"import,omitempty"`
	// IterationCap continues the run as new after this many agenda-loop turns even when the
	// server does not suggest it yet, bounding replay cost; 0 means DefaultIterationCap.
	IterationCap int `json:"iteration_cap,omitempty"`
}

// DefaultIterationCap bounds one run's agenda-loop turns.
const DefaultIterationCap = 500

// Watermark is the last applied transition: events older than it are ignored, and the same
// event id again is a duplicate.
type Watermark struct {
	Time     time.Time `json:"time"`
	Sequence int64     `json:"sequence"`
	Source   string    `json:"source"`
	EventID  string    `json:"event_id"`
}

// Carried is the state a run hands to the next one on continue-as-new: absolute instants and
// watermarks, not growing dedupe sets.
type Carried struct {
	Visit     cadence.Visit        `json:"visit"`
	Watermark Watermark            `json:"watermark"`
	OpenTasks []activities.TaskRef `json:"open_tasks,omitempty"`
	Revision  int64                `json:"revision"`
	// Suppressed says why the deal's contact gets no more email (a bounce, an opt-out);
	// every later stage visit starts with its emails stopped.
	Suppressed string `json:"suppressed,omitempty"`
	// Replied says the prospect replied (or booked a meeting) and no person has moved the
	// deal since: a visit the engine moves it to (stale, exhausted) starts with its emails
	// stopped, for the owner answers a person who wrote, not a cadence.
	Replied string `json:"replied,omitempty"`
	// AwayUntil is the latest return date an out-of-office gave: an email planned before it,
	// in this visit or a later one, waits for it.
	AwayUntil time.Time `json:"away_until,omitzero"`
	// Pauses hold the cadence while any is present; Frozen is the visit's remaining time.
	Pauses []Pause `json:"pauses,omitempty"`
	Frozen *Frozen `json:"frozen,omitempty"`
	// Handled are the inbound event ids this deal handled most recently (at most
	// handledWindow): a signal delivered twice (a client retry racing the sweeper, a crash
	// between the signal and its record) is handled once.
	Handled []int64 `json:"handled,omitempty"`
	// Pending are events delivered to the previous run after it decided to continue as new;
	// the next run handles them first, in order, so none is lost and histories stay short.
	Pending []Event `json:"pending,omitempty"`
}

// View answers StateQuery: what the deal is doing, what happens next and why.
type View struct {
	DealID         string               `json:"deal_id"`
	Stage          string               `json:"stage"`
	Visit          int                  `json:"visit"`
	EnteredAt      time.Time            `json:"entered_at"`
	Deadline       time.Time            `json:"deadline,omitzero"`
	Next           []cadence.Item       `json:"next"`
	OpenTasks      []activities.TaskRef `json:"open_tasks"`
	CadenceVersion int64                `json:"cadence_version"`
	Paused         bool                 `json:"paused"`
	Closed         bool                 `json:"closed"`
	// EmailsStopped says why the stage's emails stopped (a reply, an opt-out…).
	EmailsStopped string `json:"emails_stopped,omitempty"`
	// WaitingFor names the blocking task the cadence waits for.
	WaitingFor string `json:"waiting_for,omitempty"`
	// Pauses lists who holds the deal, when paused.
	Pauses []Pause `json:"pauses,omitempty"`
}

// Result is what a deal workflow returns when the deal closes.
type Result struct {
	Stage string `json:"stage"`
	Visit int    `json:"visit"`
}
