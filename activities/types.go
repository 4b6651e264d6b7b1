package activities

import (
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// Activity inputs and outputs are structs so fields can be added without breaking running
// deals. They carry ids and instants only: names and addresses stay in PostgreSQL.

// TransitionInput records one stage transition of a deal.
type TransitionInput struct {
	DealID         string    `json:"deal_id"`
	Visit          int       `json:"visit"`
	From           string    `json:"from,omitempty"`
	To             string    `json:"to"`
	At             time.Time `json:"at"` // workflow.Now when the workflow applied it
	Source         string    `json:"source"`
	SourceEventID  string    `json:"source_event_id,omitempty"`
	SourceTime     time.Time `json:"source_time,omitzero"`
	InboundEventID int64     `json:"inbound_event_id,omitempty"`
	Reason         string    `json:"reason,omitempty"`
}

// CancelTasksInput cancels the open tasks of a stage visit the deal has left.
type CancelTasksInput struct {
	DealID string    `json:"deal_id"`
	Visit  int       `json:"visit"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Keep   []int64   `json:"keep,omitempty"` // tasks that stay open (the prospect's, not the stage's)
}

// TaskInput creates a task for the deal's owner; the key (deal, visit, step, occurrence)
// makes a retried creation return the existing row.
type TaskInput struct {
	DealID     string    `json:"deal_id"`
	Visit      int       `json:"visit"`
	StepID     string    `json:"step_id"`
	Occurrence int       `json:"occurrence"`
	Kind       string    `json:"kind"`
	Title      string    `json:"title"` // a text/template over the deal's contact and owner
	DueAt      time.Time `json:"due_at"`
	At         time.Time `json:"at"`
	// CadenceVersion: the version the deal runs, recorded on the task for the per-step
	// statistics; absent in activities scheduled before it was passed (the store then
	// records the deal's current version).
	CadenceVersion *int64 `json:"cadence_version,omitempty"`
}

// TaskRef is what the workflow keeps of a task it created: ids only, since a rendered
// title names the prospect and histories hold no personal data.
type TaskRef struct {
	ID         int64     `json:"id"`
	StepID     string    `json:"step_id"`
	Occurrence int       `json:"occurrence,omitempty"`
	Kind       string    `json:"kind"`
	DueAt      time.Time `json:"due_at"`
	// Escalation, when the cadence gives the task one: when it fires, and whether it did.
	Escalate   *cadence.Escalation `json:"escalate,omitempty"`
	Title      string              `json:"title_template,omitempty"` // the spec's template, for the escalation's default title
	EscalateAt time.Time           `json:"escalate_at,omitzero"`
	Escalated  bool                `json:"escalated,omitempty"`
}

// CloseTaskInput marks a task the owner completed or skipped.
type CloseTaskInput struct {
	DealID string    `json:"deal_id"`
	TaskID int64     `json:"task_id"`
	State  string    `json:"state"` // done, skipped
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// SnoozeTaskInput moves an open task's due date.
type SnoozeTaskInput struct {
	DealID string    `json:"deal_id"`
	TaskID int64     `json:"task_id"`
	DueAt  time.Time `json:"due_at"`
}

// SendInput asks for one email of a cadence step; the ledger key is (deal, visit, step,
// occurrence), never a run id or a cadence version.
type SendInput struct {
	DealID         string `json:"deal_id"`
	CadenceVersion int64  `json:"cadence_version"`
	Visit          int    `json:"visit"`
	StepID         string `json:"step_id"`
	Occurrence     int    `json:"occurrence"`
	Template       string `json:"template"`
	Thread         bool   `json:"thread,omitempty"` // reply in the thread of the deal's last sent email
	// Reason: why CancelEmail stops the key.
	Reason string `json:"reason,omitempty"`
}

// SendOutcome is the terminal outcome of one ledger key.
type SendOutcome string

const (
	SendSent       SendOutcome = "sent"       // accepted with 250 (possibly on an earlier attempt)
	SendSuppressed SendOutcome = "suppressed" // the contact or address opted out or bounced before: nothing sent
	SendBounced    SendOutcome = "bounced"    // 5.1.x: the address is now suppressed
	SendRejected   SendOutcome = "rejected"   // 5.7.x policy: ops alerted, the prospect is not blamed
	SendFailed     SendOutcome = "failed"     // other permanent failure (render error, 5xx)
	SendDeferred   SendOutcome = "deferred"   // held back by a send limit until DeferredUntil: re-plan, same key
)

// SendResult reports what happened to a ledger key.
type SendResult struct {
	Outcome   SendOutcome `json:"outcome"`
	MessageID string      `json:"message_id"`
	Attempts  int         `json:"attempts"`
	Ambiguous bool        `json:"ambiguous"` // an earlier attempt's outcome was unknown (RFC 1047)
	// SMTP reply codes, never the reply text: servers quote addresses, and this result
	// lands in the workflow's history. The ledger keeps the text.
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	// SendDeferred: when the limit lets the email go, and which limit (no addresses).
	DeferredUntil time.Time `json:"deferred_until,omitzero"`
	DeferReason   string    `json:"defer_reason,omitempty"`
}

// ProjectionInput is the workflow's view written to PostgreSQL, guarded by Revision so an
// older write retried late never overwrites a newer one.
type ProjectionInput struct {
	DealID    string         `json:"deal_id"`
	Revision  int64          `json:"revision"`
	Stage     string         `json:"stage"`
	Visit     int            `json:"visit"`
	EnteredAt time.Time      `json:"entered_at"`
	Deadline  time.Time      `json:"deadline,omitzero"`
	Next      []cadence.Item `json:"next"`
}

// EventOutcomeInput records what the workflow did with an inbound event it did not apply.
type EventOutcomeInput struct {
	InboundEventID int64            `json:"inbound_event_id"`
	State          store.EventState `json:"state"` // ignored, duplicate, refused
	Reason         string           `json:"reason"`
	At             time.Time        `json:"at"`
}

// CalendarsInput asks for a deal's calendars under a pipeline's calendar block.
type CalendarsInput struct {
	DealID   string                `json:"deal_id"`
	Pipeline *cadence.CalendarSpec `json:"pipeline,omitempty"`
}

// MigrationInput records that a deal moved to another cadence version.
type MigrationInput struct {
	DealID         string    `json:"deal_id"`
	From           int64     `json:"from"`
	To             int64     `json:"to"`
	InboundEventID int64     `json:"inbound_event_id,omitempty"`
	At             time.Time `json:"at"`
}

// CloseInput marks a deal closed: PostgreSQL is the authority on closed deals.
type CloseInput struct {
	DealID string    `json:"deal_id"`
	Stage  string    `json:"stage"`
	Visit  int       `json:"visit"`
	At     time.Time `json:"at"`
}
