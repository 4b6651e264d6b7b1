package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// ownerChanged follows a handover (deals.owner_id now names another rep). The workflow
// reloads its calendars, which LoadCalendars reads from the deal's current owner, so every
// item planned from now on (tasks, escalations, the time limit's rungs) counts in the new
// owner's business hours, zone and holidays. An open task due in the future moves to the
// first business moment at or after its due date in the new owner's calendar (the rule a
// snooze follows) and its escalation is counted again from there; an overdue task stays
// overdue. Emails need nothing here: the send activity reads the deal's parties, and so the
// new owner's sender identity, at send time, and a threaded step stays in the deal's thread.
func (d *deal) ownerChanged(ctx workflow.Context, ev Event) error {
	if err := d.loadCalendars(ctx); err != nil {
		return err
	}
	if ev.OwnerID != "" {
		// The DealOwner search attribute follows at the next refresh; the next run starts
		// with the new owner.
		d.in.OwnerID = ev.OwnerID
	}
	d.dirty = true
	now := workflow.Now(ctx)
	moved := 0
	for i := range d.state.OpenTasks {
		t := &d.state.OpenTasks[i]
		if !t.DueAt.After(now) {
			continue
		}
		due := d.inOwnerCalendar(ctx, t.DueAt, cadence.Of(0, cadence.BusinessHours))
		if !due.Equal(t.DueAt) {
			err := workflow.ExecuteActivity(dbOptions(ctx), a.SnoozeTask, activities.SnoozeTaskInput{
				DealID: d.in.DealID, TaskID: t.ID, DueAt: due,
			}).Get(ctx, nil)
			if err != nil {
				return err
			}
			t.DueAt = due
			moved++
		}
		if t.Escalate != nil && !t.Escalated {
			t.EscalateAt = d.inOwnerCalendar(ctx, t.DueAt, t.Escalate.After)
			d.unfreeze(escalateItemID(t.ID))
		}
	}
	d.logger.Info("Owner changed: calendars reloaded", "OpenTasks", len(d.state.OpenTasks), "Moved", moved)
	reason := fmt.Sprintf("calendars reloaded for the new owner; %d of %d open tasks re-planned", moved, len(d.state.OpenTasks))
	if ev.Reason != "" {
		reason = ev.Reason + ": " + reason
	}
	return d.recordOutcome(ctx, ev, store.EventApplied, reason)
}
