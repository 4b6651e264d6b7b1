// Package activities holds every side effect of the deal workflow: PostgreSQL writes and
// SMTP sends. Each activity is idempotent, keyed by something stable across retries.
package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

// Timing of sends: Start-To-Close covers go-mail's worst case for one send (about twice its
// timeout) and the claim's lease outlives it, so a retry after a lost worker waits for the
// lease instead of overlapping a send that may still be running.
const (
	SendStartToClose = 2 * time.Minute
	ClaimLease       = 3 * time.Minute
	// leaseSlack is added to a busy lease's remainder before the retry, so the retry finds it
	// expired despite clock rounding.
	leaseSlack = time.Second
	// SendHoldRecheck is how long an email waits before asking again while ops hold sends.
	SendHoldRecheck = 15 * time.Minute
)

// Application error types the workflow's retry policies name.
const (
	ErrTypeBadInput      = "BadInput"      // never retried: the input cannot succeed
	ErrTypeSMTPTransient = "SMTPTransient" // 4xx, network: retried with backoff
	ErrTypeSMTPAmbiguous = "SMTPAmbiguous" // lost after the final dot: retried with the same Message-ID
	ErrTypeClaimBusy     = "ClaimBusy"     // another attempt holds the ledger lease: retried later
)

// Activities holds the dependencies of every activity.
type Activities struct {
	Store  *store.Store
	Sender *mail.Sender
	Mail   MailSettings

	cadences sync.Map // cadence version → *published, filled on first use
}

// MailSettings are the sender-wide settings of nurture emails.
type MailSettings struct {
	MessageIDSecret []byte        // HMAC key for Message-IDs; stable across restarts
	MessageIDDomain string        // right-hand side of Message-IDs
	DefaultFrom     string        // used when the owner has no sender identity
	PostalAddress   string        // CAN-SPAM footer, appended to every nurture email when set
	DailyCap        int           // emails per sending mailbox per rolling 24 hours; 0: none
	ContactSpacing  time.Duration // least time between two deals' emails to one contact; 0: none

	// Unsubscribe makes each email's signed one-click unsubscribe link (List-Unsubscribe
	// header and footer); nil (no PUBLIC_BASE_URL) sends emails without one.
	Unsubscribe *unsubscribe.Links
	// PublicBaseURL is where the reps' pages live (PUBLIC_BASE_URL), for the morning
	// digest's links.
	PublicBaseURL string
}

// CadenceInput names the cadence version a deal pins.
type CadenceInput struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
}

// LoadCadence returns the pinned cadence, refusing one whose hash changed under the deal.
//
// A version that cannot be loaded (not published, another hash, a model that does not
// decode, or one over cadence.MaxLoadBytes, which Temporal would refuse as a result) fails
// at once, never retried, and the deal's row says why, so that deal show and the API tell
// it instead of a blank stage.
func (a *Activities) LoadCadence(ctx context.Context, in CadenceInput) (cadence.Pipeline, error) {
	cv, err := a.cadence(ctx, in.Version)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUndecodable):
		return cadence.Pipeline{}, a.cannotLoad(ctx, in.Version, err.Error(), err)
	case err != nil:
		return cadence.Pipeline{}, err
	}
	if in.Hash != "" && cv.Hash != in.Hash {
		msg := fmt.Sprintf("cadence version %d has hash %s, the deal pinned %s", in.Version, cv.Hash, in.Hash)
		return cadence.Pipeline{}, a.cannotLoad(ctx, in.Version, msg, nil)
	}
	if cv.size > cadence.MaxLoadBytes {
		msg := fmt.Sprintf("cadence %s version %d cannot load: it is %s in its canonical form, over the %s a deal can load",
			cv.Pipeline.ID, in.Version, cadence.FormatBytes(cv.size), cadence.FormatBytes(cadence.MaxLoadBytes))
		return cadence.Pipeline{}, a.cannotLoad(ctx, in.Version, msg, nil)
	}
	return cv.Pipeline, nil
}

// cannotLoad records on the deal whose workflow asks (if any) why version cannot load into
// it, and returns the non-retryable error that fails the load; if the record fails, the
// error is that one, and the activity is retried until the reason is written.
func (a *Activities) cannotLoad(ctx context.Context, version int64, msg string, cause error) error {
	if dealID := dealOf(ctx); dealID != "" {
		if err := a.Store.SetStartError(ctx, dealID, version, msg); err != nil {
			return err
		}
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeBadInput, cause)
}

// dealWorkflowPrefix begins every deal workflow's id (workflows.WorkflowID, which this
// package cannot import; a test keeps the two equal).
const dealWorkflowPrefix = "deal/"

// dealOf is the deal whose workflow runs the activity of ctx, "" outside a deal workflow.
func dealOf(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	id, ok := strings.CutPrefix(activity.GetInfo(ctx).WorkflowExecution.ID, dealWorkflowPrefix)
	if !ok {
		return ""
	}
	return id
}

// RecordTransition stores a stage transition and marks its event applied.
func (a *Activities) RecordTransition(ctx context.Context, in TransitionInput) error {
	var sourceTime *time.Time
	if !in.SourceTime.IsZero() {
		sourceTime = &in.SourceTime
	}
	inserted, err := a.Store.RecordTransitionFirst(ctx, store.Transition{
		DealID: in.DealID, Visit: in.Visit, From: in.From, To: in.To, At: in.At, Source: in.Source,
		SourceEventID: in.SourceEventID, SourceTime: sourceTime, Reason: in.Reason, InboundEventID: in.InboundEventID,
	})
	if inserted {
		// Once per transition: a retried activity finds its row and counts nothing.
		opsmetrics.CountTransition(a.transitionCause(ctx, in)) // opsmetrics.go
	}
	return err
}

// CancelVisitTasks cancels the open tasks of a visit the deal left.
func (a *Activities) CancelVisitTasks(ctx context.Context, in CancelTasksInput) (int, error) {
	return a.Store.CancelVisitTasksExcept(ctx, in.DealID, in.Visit, in.At, in.Reason, in.Keep)
}

// CreateTask gives the deal's owner a task, its title rendered for the deal's contact.
func (a *Activities) CreateTask(ctx context.Context, in TaskInput) (TaskRef, error) {
	parties, err := a.Store.DealParties(ctx, in.DealID)
	if err != nil {
		return TaskRef{}, err
	}
	title, err := renderAs("task title", in.Title, render.Subject, renderData(parties))
	if err != nil {
		return TaskRef{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	t, err := a.Store.CreateTask(ctx, store.NewTask{
		DealID: in.DealID, Visit: in.Visit, StepID: in.StepID, Occurrence: in.Occurrence,
		Kind: in.Kind, Title: title, DueAt: in.DueAt, At: in.At, CadenceVersion: in.CadenceVersion,
	})
	if err != nil {
		return TaskRef{}, err
	}
	return TaskRef{ID: t.ID, StepID: t.StepID, Occurrence: t.Occurrence, Kind: t.Kind, DueAt: t.DueAt}, nil
}

// SnoozeTask moves an open task's due date; it reports whether the task was still open.
func (a *Activities) SnoozeTask(ctx context.Context, in SnoozeTaskInput) (bool, error) {
	return a.Store.SnoozeTask(ctx, in.DealID, in.TaskID, in.DueAt)
}

// CloseTask records that the owner completed or skipped a task; it reports whether the task
// was still open.
func (a *Activities) CloseTask(ctx context.Context, in CloseTaskInput) (bool, error) {
	return a.Store.CloseTask(ctx, in.DealID, in.TaskID, in.State, in.At, in.Reason)
}

// ProjectDeal writes the workflow's view of the deal for pages, guarded by revision.
func (a *Activities) ProjectDeal(ctx context.Context, in ProjectionInput) error {
	p := store.Projection{DealID: in.DealID, Revision: in.Revision, Stage: in.Stage, Visit: in.Visit, EnteredAt: in.EnteredAt}
	if !in.Deadline.IsZero() {
		p.Deadline = &in.Deadline
	}
	for _, it := range in.Next {
		pa := store.PlannedAction{ItemID: it.ID, Visit: in.Visit, Kind: string(it.Kind), StepID: it.StepID,
			Occurrence: it.Occurrence, At: it.At, Reason: it.Reason}
		if !it.DueAt.IsZero() {
			due := it.DueAt
			pa.DueAt = &due
		}
		p.Next = append(p.Next, pa)
	}
	wrote, err := a.Store.Project(ctx, p)
	if err == nil && !wrote {
		activity.GetLogger(ctx).Info("Projection skipped: a newer revision is stored", "DealID", in.DealID, "Revision", in.Revision)
	}
	return err
}

// RecordEventOutcome records why an inbound event was not applied.
func (a *Activities) RecordEventOutcome(ctx context.Context, in EventOutcomeInput) error {
	return a.Store.SetEventOutcome(ctx, in.InboundEventID, in.State, in.Reason)
}

// LoadCalendars resolves the deal's owner and contact calendars (zone, country holidays,
// business hours, email window) under the pipeline's calendar block; the answer is recorded
// in the workflow's history.
func (a *Activities) LoadCalendars(ctx context.Context, in CalendarsInput) (calendar.DealSpecs, error) {
	parties, err := a.Store.DealParties(ctx, in.DealID)
	if err != nil {
		return calendar.DealSpecs{}, err
	}
	specs := calendar.ForDeal(in.Pipeline,
		calendar.Party{Zone: parties.Owner.Zone, Country: parties.Owner.Country, BusinessHours: parties.Owner.BusinessHours},
		calendar.Party{Zone: parties.Contact.Zone, Country: parties.Contact.Country})
	if _, err := specs.Calendars(); err != nil {
		// An owner's or contact's override the calendar cannot use (a country without a
		// holiday table) must not stop the deal: plan in the pipeline's calendar instead.
		activity.GetLogger(ctx).Warn("Deal calendar override unusable; using the pipeline's", "DealID", in.DealID, "Error", err)
		specs = calendar.ForDeal(in.Pipeline, calendar.Party{}, calendar.Party{})
		if _, err := specs.Calendars(); err != nil {
			return calendar.DealSpecs{}, temporal.NewNonRetryableApplicationError("pipeline calendar: "+err.Error(), ErrTypeBadInput, err)
		}
	}
	return specs, nil
}

// RecordMigration records a deal's move to another cadence version.
func (a *Activities) RecordMigration(ctx context.Context, in MigrationInput) error {
	return a.Store.RecordMigration(ctx, in.DealID, in.From, in.To, in.InboundEventID, in.At)
}

// MarkClosed records the deal closed in PostgreSQL.
func (a *Activities) MarkClosed(ctx context.Context, in CloseInput) error {
	return a.Store.MarkClosed(ctx, in.DealID, in.Stage, in.Visit, in.At)
}

// renderData is what the deal's templates and task titles see, as store.DealParties
// derives it (the contact's full name, the owner's first name); every value is cleaned
// (invalid UTF-8, control characters) before it reaches a template.
func renderData(sc store.SendContext) render.Data {
	return render.Data{
		Contact: render.Contact{FirstName: sc.Contact.FirstName, LastName: sc.Contact.LastName, Name: sc.Contact.Name,
			Company: sc.Contact.Company, Email: sc.Contact.Email},
		Owner: render.Owner{FirstName: sc.Owner.FirstName, Name: sc.Owner.Name, Company: sc.Owner.Company, Email: sc.Owner.Email},
		Deal:  render.Deal{Title: sc.Title},
	}.Cleaned()
}

// renderAs renders one template for the deal, naming the template in errors.
func renderAs(name, src string, kind render.Kind, data render.Data) (string, error) {
	out, err := render.Execute(name, src, kind, data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
