package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

func (d *deal) beforeWatermark(ev Event) bool {
	return ev.SourceTime.Before(d.state.Watermark.Time)
}

// exitStepPrefix starts the step id of an exit rule's task ("exit-reply"): a task about the
// prospect, which a stage move leaves open.
const exitStepPrefix = "exit-"

// exitStop is what an engagement does to the visit's emails under the exit rules.
var exitStop = map[cadence.Engagement]struct {
	why        string
	responded  bool // on_exhausted ("unresponsive") no longer applies
	suppressed bool // every later visit starts with its emails stopped too
}{
	cadence.EngagedReply:         {why: "the prospect replied", responded: true},
	cadence.EngagedMeetingBooked: {why: "the prospect booked a meeting", responded: true},
	cadence.EngagedBounce:        {why: "the address bounced", suppressed: true},
	cadence.EngagedUnsubscribe:   {why: "the contact unsubscribed", suppressed: true},
}

// engaged applies an engagement: the stage's on_engaged rule when it lists it, otherwise the
// pipeline's exit rules (cadence.Exits).
func (d *deal) engaged(ctx workflow.Context, ev Event) error {
	stage, _ := d.pipeline.Stage(d.state.Visit.Stage)
	switch {
	case ev.Version != EventVersion:
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("event envelope version %d is not supported", ev.Version))
	case !ev.Engagement.Valid():
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("unknown engagement %q", ev.Engagement))
	case d.beforeWatermark(ev):
		// It belongs to an earlier stage visit: it must not stop this one's emails.
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("happened before the deal entered %s (%s)",
			stage.ID, d.state.Watermark.Time.UTC().Format(time.RFC3339)))
	}
	what := string(ev.Engagement)
	if r := stage.OnEngaged; r != nil && r.Triggers(ev.Engagement) {
		var due time.Time
		if r.Task != nil {
			due = d.dueIn(ctx, r.Task.DueIn)
		}
		return d.moveTo(ctx, r.MoveTo, ev, fmt.Sprintf("%s (%s)", r.Reason, what), r.Task, due)
	}
	switch ev.Engagement {
	case cadence.EngagedOutOfOffice:
		return d.outOfOffice(ctx, ev)
	case cadence.EngagedClick:
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("a click changes nothing in %s (no on_engaged rule lists clicks)", stage.ID))
	}
	rule := exitStop[ev.Engagement]
	v := &d.state.Visit
	if rule.suppressed && d.state.Suppressed == rule.why {
		// Told twice (the relay refused the address during a send, then a bounce report
		// came): the emails stopped and the owner got the exit task the first time.
		if v.EmailsStopped == "" {
			v.EmailsStopped = rule.why
			d.dirty = true
		}
		return d.recordOutcome(ctx, ev, store.EventApplied, rule.why+" already: the deal's emails were stopped then")
	}
	if v.EmailsStopped == "" {
		v.EmailsStopped = rule.why
	}
	v.Responded = v.Responded || rule.responded
	if rule.responded && d.state.Replied == "" {
		d.state.Replied = rule.why
	}
	if rule.suppressed && d.state.Suppressed == "" {
		d.state.Suppressed = rule.why
	}
	d.dirty = true
	outcome := fmt.Sprintf("%s: the emails of %s stopped", rule.why, stage.ID)
	if task := d.pipeline.ExitTask(ev.Engagement); task != nil {
		stepID := exitStepPrefix + what
		occurrence := 1
		for _, done := range v.Done {
			if done.StepID == stepID {
				occurrence++
			}
		}
		ref, err := d.createTask(ctx, stepID, occurrence, task, d.dueIn(ctx, task.DueIn))
		if err != nil {
			return err
		}
		d.state.OpenTasks = append(d.state.OpenTasks, ref)
		d.state.Visit.Done = append(d.state.Visit.Done, cadence.Done{StepID: stepID, Occurrence: occurrence,
			At: workflow.Now(ctx), Outcome: "created"})
		outcome += "; the owner has a task"
	}
	d.logger.Info("Engagement applied", "Engagement", what, "Stage", stage.ID)
	return d.recordOutcome(ctx, ev, store.EventApplied, outcome)
}

// outOfOffice defers the next pending email to the return date; it never stops or resends.
// Later steps count from that email's actual time, so they move too. The date is kept: a
// visit the deal enters before it defers its first email too.
func (d *deal) outOfOffice(ctx workflow.Context, ev Event) error {
	if ev.ReturnAt.IsZero() {
		return d.recordOutcome(ctx, ev, store.EventApplied, "out of office without a return date: nothing deferred")
	}
	if ev.ReturnAt.After(d.state.AwayUntil) {
		d.state.AwayUntil = ev.ReturnAt
	}
	outcome, err := d.deferNextEmail(ctx, ev.ReturnAt)
	if err != nil {
		return err
	}
	return d.recordOutcome(ctx, ev, store.EventApplied, outcome)
}

// deferNextEmail defers the visit's next pending email to until, and says what it did.
func (d *deal) deferNextEmail(ctx workflow.Context, until time.Time) (string, error) {
	if err := d.refresh(ctx); err != nil { // plan the visit as it stands now
		return "", err
	}
	for _, item := range d.plan.Items {
		if item.Kind != cadence.ItemEmail || (d.send != nil && item.ID == d.send.item.ID) {
			continue
		}
		if !until.After(item.At) {
			return fmt.Sprintf("the next email (%s) is already planned after the return date", item.ID), nil
		}
		why := "out of office until " + until.UTC().Format(time.RFC3339)
		d.state.Visit.Defer(cadence.Deferral{ItemID: item.ID, Until: until, Why: why})
		d.dirty = true
		return fmt.Sprintf("%s deferred: %s", item.ID, why), nil
	}
	return "out of office: no email pending in this stage visit", nil
}

// taskClosed records that the owner completed or skipped an open task of the visit; a
// blocking task then releases the steps after it, counted from now.
func (d *deal) taskClosed(ctx workflow.Context, ev Event) error {
	if ev.TaskOutcome != TaskDone && ev.TaskOutcome != TaskSkipped {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("task outcome %q (want %s or %s)", ev.TaskOutcome, TaskDone, TaskSkipped))
	}
	idx := d.openTask(ev.TaskID)
	if idx < 0 {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("task %d is not open in the deal's current stage visit", ev.TaskID))
	}
	ref := d.state.OpenTasks[idx]
	now := workflow.Now(ctx)
	err := workflow.ExecuteActivity(dbOptions(ctx), a.CloseTask, activities.CloseTaskInput{
		DealID: d.in.DealID, TaskID: ref.ID, State: ev.TaskOutcome, At: now, Reason: ev.Reason,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	d.state.OpenTasks = append(d.state.OpenTasks[:idx:idx], d.state.OpenTasks[idx+1:]...)
	for i, done := range d.state.Visit.Done {
		if done.StepID == ref.StepID && (ref.Occurrence == 0 || done.Occurrence == ref.Occurrence) && done.Outcome == cadence.OutcomeOpen {
			d.state.Visit.Done[i].Outcome, d.state.Visit.Done[i].At = ev.TaskOutcome, now
		}
	}
	d.dirty = true
	return d.recordOutcome(ctx, ev, store.EventApplied, fmt.Sprintf("task %d %s", ref.ID, ev.TaskOutcome))
}

// openTask is the index of an open task of the visit in the state, or -1.
func (d *deal) openTask(id int64) int {
	for i, t := range d.state.OpenTasks {
		if t.ID == id {
			return i
		}
	}
	return -1
}

// dueIn is now plus d in the owner's calendar.
func (d *deal) dueIn(ctx workflow.Context, in cadence.Duration) time.Time {
	return d.inOwnerCalendar(ctx, workflow.Now(ctx), in)
}

// inOwnerCalendar adds a duration in the owner's calendar, recorded in history like every
// planned instant.
func (d *deal) inOwnerCalendar(ctx workflow.Context, from time.Time, in cadence.Duration) time.Time {
	var at time.Time
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		cals, err := d.calSpecs.Calendars()
		if err != nil {
			cals = cadence.DefaultCalendars() // checked when the deal started; never fail a task over it
		}
		return cals.Owner.Add(from, in)
	}).Get(&at)
	if err != nil {
		return from
	}
	return at
}
